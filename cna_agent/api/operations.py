"""``/v1/operations``: the state of long operations."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from cna_agent.api.deps import NodeDep
from cna_agent.protocol import Operation

router = APIRouter(prefix="/operations", tags=["operations"])


@router.get("/{op_id}")
def get_operation(node: NodeDep, op_id: uuid.UUID) -> Operation:
    """One long operation; 404 once forgotten (VRM then re-sends its idempotent command)."""
    return node.operations.get(op_id)
