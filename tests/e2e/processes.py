"""Real VRM and CNA agent processes for whole-system tests, always cleaned up."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

BIN = Path(sys.executable).parent
T = TypeVar("T")
SECRET = "e2e-secret-key-0123456789abcdefghijklmnop"
ADMIN_PASSWORD = "e2e-admin-password"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(check: Callable[[], T | None], *, timeout_s: float, what: str) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(httpx.TransportError):
            result = check()
            if result:
                return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.2)


@dataclass
class Process:
    """A started process with its log file."""

    popen: subprocess.Popen[bytes]
    log: Path
    url: str
    env: dict[str, str] = field(default_factory=dict)

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to say goodbye."""
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        """What the process printed so far."""
        return self.log.read_text(errors="replace")


def _spawn(args: list[str], env: dict[str, str], log: Path, url: str) -> Process:
    handle = log.open("ab")
    popen = subprocess.Popen(
        args, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT
    )
    handle.close()
    return Process(popen, log, url, env)


def start_vrm(
    workdir: Path, port: int | None = None, *, bind: str = "127.0.0.1", **settings: str
) -> Process:
    """``vrm serve --migrate`` on the SQLite database of ``workdir``, on a free port of
    ``bind`` (the lab's bridge address when agents in other namespaces must reach it)."""
    port = port or free_port()
    env = {
        "VRM_DATABASE_URL": f"sqlite:///{workdir / 'vrm.db'}",
        "VRM_SECRET_KEY": SECRET,
        "VRM_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "VRM_LOG_LEVEL": "warning",
        **settings,
    }
    args = [str(BIN / "vrm"), "serve", "--migrate", "--host", bind, "--port", str(port)]
    proc = _spawn(args, env, workdir / "vrm.log", f"http://{bind}:{port}")
    wait_until(lambda: _up(proc, "/healthz"), timeout_s=30, what="VRM to answer")
    return proc


def start_agent(workdir: Path, vrm_url: str, token: str | None, **settings: str) -> Process:
    """``cna-agent run`` against ``vrm_url`` on a free port (enrolling when given a token)."""
    port = settings.pop("port", None) or str(free_port())
    env = {"CNA_LOG_LEVEL": "warning", "CNA_STATE_DIR": str(workdir / "agent"), **settings}
    args = [str(BIN / "cna-agent"), "run", "--vrm-url", vrm_url, "--listen", f"127.0.0.1:{port}"]
    if token:
        args += ["--enroll-token", token]
    proc = _spawn(args, env, workdir / "agent.log", f"http://127.0.0.1:{port}")
    wait_until(lambda: _up(proc, "/healthz"), timeout_s=60, what="the agent to answer")
    return proc


def _up(proc: Process, path: str) -> bool:
    if proc.popen.poll() is not None:
        raise AssertionError(f"process exited ({proc.popen.returncode}):\n{proc.output()}")
    return httpx.get(proc.url + path, timeout=2).status_code == 200


@contextlib.contextmanager
def running(*procs: Process) -> Iterator[None]:
    """Stop the processes whatever happens."""
    try:
        yield
    finally:
        for proc in procs:
            proc.stop()
