"""Steps register themselves; the schema declares each name and its options once."""

from __future__ import annotations

import dataclasses

import pytest

from hwai.recipe import catalog, registry
from hwai.recipe.context import RunState
from hwai.recipe.schema import IR_PRODUCERS, MODEL_STEPS, STEPS

pytestmark = pytest.mark.unit


def test_every_declared_step_is_registered_with_a_description() -> None:
    table = catalog.steps()
    assert list(table) == list(STEPS)
    for name, info in table.items():
        assert info.name == name and info.description and info.fields is STEPS[name]
    assert {n for n, i in table.items() if i.kind == "model"} == set(MODEL_STEPS)
    assert {n for n, i in table.items() if i.kind == "ir-producer"} == set(IR_PRODUCERS)
    assert table["prune"].description.startswith("Magnitude pruning")


def test_runner_finds_implementations_in_the_registry() -> None:
    from hwai.recipe import steps

    assert registry.get("emit") is steps.step_emit and registry.get("train") is steps.step_train


def test_unknown_or_duplicate_registration_is_an_error() -> None:
    with pytest.raises(ValueError, match="'tune' is not declared in hwai.recipe.schema.STEPS"):
        registry.step("tune")
    with pytest.raises(ValueError, match="'csim' is registered twice"):
        registry.step("csim")


def test_run_state_is_typed_not_a_string_keyed_dict() -> None:
    state = RunState()
    names = {f.name for f in dataclasses.fields(state)}
    assert {"estimate", "vectors", "emitted", "candidates", "confirm_with_synth", "budget_ignored"} <= names
    assert state.candidates == [] and state.emitted == {} and state.vectors is None
    with pytest.raises(AttributeError):
        state.vector  # a misspelt key fails loudly instead of reading None
    assert RunState().candidates is not state.candidates   # no shared mutable default
