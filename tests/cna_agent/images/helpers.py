"""Real image files for the image tests, and a small HTTP server to fetch them from."""

from __future__ import annotations

import contextlib
import hashlib
import io
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pycdlib

MIB = 1024 * 1024


def qemu_img_create(path: Path, fmt: str, size: str = "4M", *options: str) -> Path:
    """An empty image made by qemu-img itself."""
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", fmt, *options, str(path), size],
        check=True,
        capture_output=True,
    )
    return path


def make_iso(path: Path, payload: bytes = b"hello from the image library\n") -> Path:
    """A small ISO 9660 image with one file."""
    iso = pycdlib.PyCdlib()
    iso.new(vol_ident="OVRMTEST")
    iso.add_fp(io.BytesIO(payload), len(payload), "/HELLO.TXT;1")
    iso.write(str(path))
    iso.close()
    return path


def sha256_of(data: bytes | Path) -> str:
    """The SHA-256 of bytes or of a file."""
    return hashlib.sha256(data.read_bytes() if isinstance(data, Path) else data).hexdigest()


def leftovers(directory: Path) -> list[str]:
    """Everything in a pool directory, hidden partial files included."""
    return sorted(p.name for p in directory.iterdir())


class _Handler(BaseHTTPRequestHandler):
    """Serves ``files`` by path; special paths misbehave on purpose."""

    files: dict[str, bytes] = {}

    def do_GET(self) -> None:
        if self.path == "/redirect":
            self._answer(302, b"", headers={"Location": "/image"})
        elif self.path == "/huge":
            self._answer(200, b"", headers={"Content-Length": str(1 << 40)}, body_length=False)
        elif self.path == "/short":
            self._answer(200, b"x" * 1000, headers={"Content-Length": "5000"}, body_length=False)
        elif self.path == "/unsized":
            self._answer(200, self.files["/image"], body_length=False)
        elif self.path in self.files:
            self._answer(200, self.files[self.path])
        else:
            self._answer(404, b"not here\n")

    def _answer(
        self,
        status: int,
        body: bytes,
        *,
        headers: dict[str, str] | None = None,
        body_length: bool = True,
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body_length:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet: the test output is not the place for an access log."""


@contextlib.contextmanager
def http_server(files: dict[str, bytes]) -> Iterator[str]:
    """An HTTP/1.0 server on 127.0.0.1 in a thread serving ``files``; its base URL."""
    handler = type("Handler", (_Handler,), {"files": files})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
