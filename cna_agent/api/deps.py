"""Request dependencies: the node and the check of VRM's credential."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cna_agent.errors import Unauthenticated
from cna_agent.node import Node
from cna_agent.state import Identity

IdentitySource = Callable[[], Identity | None]

_bearer = HTTPBearer(auto_error=False)


def get_node(request: Request) -> Node:
    """The node this agent drives."""
    node: Node = request.app.state.node
    return node


NodeDep = Annotated[Node, Depends(get_node)]


def require_vrm(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Let through only calls that carry VRM's credential for this host."""
    identity_source: IdentitySource = request.app.state.identity
    identity = identity_source()
    if identity is None:
        raise Unauthenticated("this agent is not enrolled yet", code="not_enrolled")
    if credentials is None or not identity.accepts(credentials.credentials):
        raise Unauthenticated("missing or wrong VRM credential")
