"""The agent's HTTP API (``/v1``), called only by VRM."""
