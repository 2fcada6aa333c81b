"""WebUI fixtures: a browser-like client logged in through the login form."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import MakeUser

HTML = {"Accept": "text/html"}


class WebClient(TestClient):
    """A TestClient holding a session cookie, and the CSRF token of its pages."""

    csrf: str = ""


def csrf_of(html: str) -> str:
    """The CSRF token a page embeds for its scripts."""
    found = re.search(r'data-csrf="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


WebLogin = Callable[[str, str], WebClient]


@pytest.fixture
def web_login(app: FastAPI, make_user: MakeUser) -> Iterator[WebLogin]:
    """Log a new user with a role in through ``POST /login``; a client with the cookie."""
    clients: list[WebClient] = []

    def _login(name: str, role: str) -> WebClient:
        make_user(name, role)
        client = WebClient(app, raise_server_exceptions=False, follow_redirects=False)
        client.__enter__()
        clients.append(client)
        answer = client.post(
            "/login", data={"username": name, "password": f"{name}-pw-123", "next": "/vms"}
        )
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/vms"
        client.csrf = csrf_of(client.get("/vms", headers=HTML).text)
        return client

    yield _login
    for client in clients:
        client.__exit__(None, None, None)
