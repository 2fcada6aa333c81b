"""The WebUI with 10,000 VMs: server time of the VM list, time to interactive in
Chromium, and how soon an open page shows a VM's new state.

Starts a real ``vrm serve`` on a fresh database, enrolls ``--hosts`` simulated agents
(``bench.fleet``), writes ``--vms`` VMs for them straight into the database
(``bench.vmseed``), then:

1. server time: ``GET /vms`` (the first page, 50 VMs, with the inventory tree) and a
   deep, filtered, sorted page, ``--runs`` times each from a client holding the session
   cookie, on loopback (wall time at the client: an upper bound of the server's time);
2. interactive in Chromium (Debian's, driven by Playwright): a fresh navigation to
   ``/vms``, from navigation start until the page's shared script has run
   (``window.vrmReadyAt``), ``--runs`` times;
3. live updates: with ``/vms`` open, a VM's state is changed in the database as a task's
   last transaction does (``state``, ``task_state`` and ``updated_at`` in one commit) and
   the page records when its badge shows the new state (a MutationObserver); the figure
   is that moment minus the commit's, ``--runs`` times.

    .venv/bin/python -m bench.ui                   # SQLite
    .venv/bin/python -m bench.ui --db postgresql   # a throwaway PostgreSQL server
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import Engine, select, update

from bench.databases import database
from bench.fleet import Clients, FleetConfig, Mode, beat, enroll_hosts
from bench.placement import analyze
from bench.vmseed import seed_vms
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.processes import ADMIN_PASSWORD, Process, start_vrm
from vrm.db import make_engine
from vrm.models import Vm
from vrm.models.base import utcnow
from vrm.models.enums import VmState

# Records, in the page, when the watched VM's badge first shows the awaited state.
WATCH = """([id, state]) => new Promise((resolve) => {
  const node = document.querySelector(`[data-live="vm:${id}:state"]`);
  const badge = document.querySelector(`[data-live-state="vm:${id}"]`);
  const seen = () => badge.classList.contains("state-" + state);
  new MutationObserver((_, observer) => {
    if (seen()) { observer.disconnect(); window.vrmSeenAt = Date.now(); }
  }).observe(badge, { attributes: true, childList: true, subtree: true });
  resolve(node !== null);
})"""


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p95 and max of ``values`` (ms), rounded."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(p95, 1),
        "max": round(ordered[-1], 1),
        "n": len(ordered),
    }


async def seed(vrm: Process, url: str, hosts: int, vms: int) -> None:
    """Enroll the simulated hosts, write their VMs, and let every host report once."""
    config = FleetConfig(
        url=vrm.url, password=ADMIN_PASSWORD, hosts=hosts, cluster="bench", timeout_s=10.0
    )
    async with Clients(config) as clients:
        fleet = await enroll_hosts(clients, config)
        engine = make_engine(url)
        seed_vms(engine, fleet, vms // hosts)
        analyze(engine)
        engine.dispose()
        warm = replace(config, mode=Mode.RATE, rate=200.0, duration_s=hosts / 200 + 3)
        await beat(clients, fleet, warm)


def server_times(vrm: Process, runs: int) -> dict[str, Any]:
    """Wall times of the first VM page and of a deep filtered page, with the cookie."""
    with httpx.Client(base_url=vrm.url, timeout=30, headers={"Accept": "text/html"}) as client:
        logged = client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD})
        assert logged.status_code == 303, logged.text
        figures: dict[str, Any] = {}
        paths = {
            "first_page": "/vms",
            "deep_page": "/vms?state=running&sort=-created_at&page=150&per_page=50",
            "search": "/vms?q=vm07",
        }
        for name, path in paths.items():
            assert client.get(path).status_code == 200  # warm
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                answer = client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, answer.text[:300]
            figures[name] = percentiles(times)
        return figures


def wait_for(page: Page, expression: str, timeout_s: float = 10.0) -> None:
    """Poll ``expression`` in the page until it is true (the pages' CSP forbids the
    string evaluation Playwright's ``wait_for_function`` uses)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{expression} stayed false for {timeout_s} s")
        time.sleep(0.005)


def log_in(page: Page) -> None:
    """Log in through the form."""
    page.goto("/login")
    page.fill("#username", "admin")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-user]")


def interactive(page: Page, runs: int) -> dict[str, Any]:
    """Navigation start to the page's script having run, for fresh loads of /vms."""
    times = []
    for _ in range(runs):
        page.goto("/vms")
        wait_for(page, "window.vrmReadyAt !== undefined")
        times.append(float(page.evaluate("window.vrmReadyAt")))
    return percentiles(times)


def live_updates(page: Page, engine: Engine, runs: int) -> dict[str, Any]:
    """Commit-to-screen time of VM state changes on an open /vms page."""
    page.goto("/vms?sort=name")
    wait_for(page, "window.vrmReadyAt !== undefined")
    ids = [
        uuid.UUID(i)
        for i in page.eval_on_selector_all(
            "[data-vm-id]", "rows => rows.map((row) => row.dataset.vmId)"
        )
    ][:runs]
    page.wait_for_timeout(1500)  # the event stream is open
    delays = []
    for vm_id in ids:
        with engine.begin() as connection:
            state = connection.scalar(select(Vm.state).where(Vm.id == vm_id))
        new = VmState.STOPPED if state == VmState.RUNNING else VmState.RUNNING
        assert page.evaluate(WATCH, [str(vm_id), new.value])
        with engine.begin() as connection:
            connection.execute(update(Vm).where(Vm.id == vm_id).values(state=new, task_state=None))
        committed = utcnow().timestamp() * 1000
        wait_for(page, "window.vrmSeenAt !== undefined")
        delays.append(float(page.evaluate("window.vrmSeenAt")) - committed)
        page.evaluate("delete window.vrmSeenAt")
    return percentiles(delays)


def browser_figures(vrm: Process, url: str, runs: int) -> dict[str, Any]:
    """Time to interactive and live-update delay in Chromium."""
    engine = make_engine(url)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=vrm.url, viewport={"width": 1366, "height": 768})
        page = context.new_page()
        log_in(page)
        figures = {
            "interactive_ms": interactive(page, runs),
            "state_change_visible_ms": live_updates(page, engine, runs),
        }
        browser.close()
    engine.dispose()
    return figures


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run, print the figures as JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--url", help="a PostgreSQL server URL (default: a throwaway server)")
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--vms", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    with (
        database(args.db, args.url) as url,
        tempfile.TemporaryDirectory(prefix="vrm-bench-ui-") as work,
    ):
        vrm = start_vrm(Path(work), VRM_DATABASE_URL=url, VRM_HOST_FAULT_AFTER="3600")
        try:
            asyncio.run(seed(vrm, url, args.hosts, args.vms))
            figures: dict[str, Any] = {"backend": args.db, "hosts": args.hosts, "vms": args.vms}
            figures["server_ms"] = server_times(vrm, args.runs)
            figures.update(browser_figures(vrm, url, args.runs))
        finally:
            vrm.stop()
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
