"""Hostile requests to the engine: long stops, out-of-range seeds, failed starts, bad templates."""

from __future__ import annotations

import dataclasses

import anyio
import pytest

from engine import (
    ChatTemplateError,
    ContextOverflowError,
    EngineClosedError,
    EngineError,
    GenerationResult,
    InvalidRequestError,
    InvalidSamplingError,
    SamplingParams,
)
from engine._types import MAX_STOP_CHARS
from engine.loader._chat import ChatTemplate
from engine.model import Transformer
from engine.scheduler import SchedulerClosedError
from tests.engine._sched_helpers import scheduler, tiny_engine, tiny_model

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Transformer:
    return tiny_model(tmp_path_factory.mktemp("m") / "m")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"stop": ("x" * (MAX_STOP_CHARS + 1),)}, "stop"),
        ({"stop": ("ok", "y" * 1_000_000)}, "stop"),
        ({"seed": 2**64}, "seed"),
        ({"seed": 2**63}, "seed"),
        ({"seed": -1}, "seed"),
    ],
)
def test_over_long_stops_and_out_of_range_seeds_are_typed_errors(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidSamplingError) as info:
        SamplingParams(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert len(str(info.value)) < 300  # a megabyte stop is not echoed back


def test_the_limits_themselves_are_accepted() -> None:
    p = SamplingParams(stop=("x" * MAX_STOP_CHARS,), seed=2**63 - 1)
    assert p.seed == 2**63 - 1 and p.stop == ("x" * MAX_STOP_CHARS,)
    assert SamplingParams(seed=0).seed == 0


def _unchecked(params: SamplingParams, **changes: object) -> SamplingParams:
    """``params`` with fields set past validation (a caller that bypasses the dataclass)."""
    out = dataclasses.replace(params)
    for name, value in changes.items():
        object.__setattr__(out, name, value)
    return out


def test_a_request_that_fails_to_start_frees_its_slot(tiny: Transformer) -> None:
    """`_start` took a slot, then the generator refused the seed: the slot was never freed."""
    engine = tiny_engine(tiny, slots=2)
    sched = scheduler(engine)
    bad = _unchecked(SamplingParams(max_tokens=3), seed=2**64)

    async def main() -> None:
        for _ in range(4):  # twice the slot count: each one used to leak a slot for good
            with pytest.raises((RuntimeError, ValueError)):  # torch refuses the seed
                async for _ in sched.submit([1, 2, 3], bad):
                    pass
        assert engine.cache.free_slots == 2
        events = [ev async for ev in sched.submit([1, 2, 3], SamplingParams(max_tokens=3))]
        assert isinstance(events[-1], GenerationResult)
        assert events[-1].completion_tokens == 3

    anyio.run(main)
    sched.close()
    assert engine.cache.free_slots == 2


def test_new_sequence_that_fails_leaks_no_slot(tiny: Transformer) -> None:
    engine = tiny_engine(tiny, slots=1)
    bad = _unchecked(SamplingParams(max_tokens=3), seed=2**64)
    for _ in range(3):
        with pytest.raises((RuntimeError, ValueError)):  # torch refuses the seed
            engine.new_sequence([1, 2, 3], bad)
    assert engine.cache.free_slots == 1
    engine.release(engine.new_sequence([1, 2, 3], SamplingParams(max_tokens=3)))


def test_error_tree_says_who_can_fix_it() -> None:
    for caller in (ContextOverflowError, InvalidSamplingError, ChatTemplateError):
        assert issubclass(caller, InvalidRequestError) and issubclass(caller, ValueError)
    assert issubclass(SchedulerClosedError, EngineClosedError)
    assert issubclass(EngineClosedError, EngineError)
    assert not issubclass(EngineClosedError, InvalidRequestError)


def test_a_template_that_cannot_render_the_conversation_is_a_chat_template_error() -> None:
    chatml = ChatTemplate(None)
    with pytest.raises(ChatTemplateError):  # '...' + None inside the template: TypeError before
        chatml.render([{"role": "user", "content": None}])
    strict = ChatTemplate(
        "{% if messages[0]['role'] == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}"
        "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    )
    with pytest.raises(ChatTemplateError, match="System role not supported"):
        strict.render([{"role": "system", "content": "x"}, {"role": "user", "content": "y"}])
    assert strict.render([{"role": "user", "content": "y"}]) == "y"
