"""The flow registry: every task type has exactly one flow, given explicitly."""

from __future__ import annotations

import pytest

from vrm.flows import all_flows
from vrm.tasks.flow import Flow, FlowRegistry
from vrm.tasks.types import VM_TASKS, TaskType, vm_task
from vrm.vms.states import Operation


def test_every_task_type_has_its_flow() -> None:
    flows = all_flows()
    assert set(flows) == set(TaskType)
    for task_type, flow in flows.items():
        assert flow.type == task_type
        assert flow.steps, f"{flow.__name__} has no steps"
        for step in flow.steps:
            assert callable(getattr(flow, step)), f"{flow.__name__}.{step} is not a method"


def test_a_registry_refuses_a_missing_or_doubled_flow() -> None:
    [first, *_] = all_flows().values()
    with pytest.raises(ValueError, match="no flow for task types"):
        FlowRegistry([first])
    with pytest.raises(ValueError, match="two flows"):
        FlowRegistry([first, first], complete=False)


def test_vm_operations_map_to_their_task_types() -> None:
    assert vm_task(Operation.START) is TaskType.VM_START
    assert vm_task(Operation.CONVERT_TO_TEMPLATE) is TaskType.VM_CONVERT_TO_TEMPLATE
    # An image export runs as the image's import task.
    assert Operation.EXPORT_IMAGE not in VM_TASKS
    assert all(isinstance(flow, type) and issubclass(flow, Flow) for flow in all_flows().values())
