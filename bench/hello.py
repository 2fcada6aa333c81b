"""The raw ceiling: a FastAPI hello-world served by uvicorn as ``vrm serve`` serves VRM.

.venv/bin/python -m bench.hello --port 8799
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI

from vrm.cli import KEEP_ALIVE_S

app = FastAPI()


@app.get("/hello")
def hello() -> dict[str, str]:
    """A sync endpoint, as VRM's are: one thread hop per request."""
    return {"hello": "world"}


def main() -> None:
    """Serve the app on 127.0.0.1."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8799)
    args = parser.parse_args()
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, log_level="warning", timeout_keep_alive=KEEP_ALIVE_S
    )


if __name__ == "__main__":
    main()
