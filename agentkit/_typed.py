"""Typed output: `Agent(output_type=SomeModel)` turns the answer into a validated value.

Both tiers decode under the type's JSON schema (`agentkit._output_schema`): the agent's
sampling settings carry it, so the fast tier's engine constrains every token
(llguidance) and the deep tier gets ``response_format`` with it. With tools,
tool rounds run first and the answer is decoded under the schema.

While a typed turn runs, model text is held back, not streamed: a JSON value
is only usable whole, and a tier that fails half-way is retried from the start
rather than continued. `settle` then validates the answer, with one corrective
retry inside the budget, redacts PII in its string fields, and releases the
JSON text through the output guard. Refusals and holding replies stay
outcomes (``TurnResult.output`` is None), never strings inside the JSON.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ValidationError

from agentkit._messages import Message
from agentkit._model import Model
from agentkit._result import Outcome, Tier
from agentkit._sessions import redact_pii
from agentkit._turn import TurnState, call_tier

__all__ = ["CORRECTION", "settle"]

CORRECTION = (
    "Your last reply does not fit the required JSON format ({problem}). "
    "Reply again with only the JSON value, exactly as the schema requires."
)
# Below this much time left, a corrective retry could not finish: the turn ends instead.
_MIN_RETRY_MS = 50.0


def _validate(output_type: type[BaseModel], raw: str) -> tuple[BaseModel | None, str]:
    try:
        return output_type.model_validate_json(raw), ""
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "the value"
        return None, f"{where}: {first['msg']}"


async def _redacted(st: TurnState, value: BaseModel) -> BaseModel | None:
    """``value`` with PII in its string fields replaced by ``[KIND]`` (None if that breaks it)."""
    agent = st.agent
    whole = await agent.safety.check(value.model_dump_json(), stage="output")
    if not whole.pii:
        return value
    data = value.model_dump(mode="json")

    async def walk(node: Any) -> Any:
        if isinstance(node, str):
            verdict = await agent.safety.check(node, stage="output")
            if verdict.pii and (agent.redact_pii or verdict.action == "redact"):
                return verdict.redacted_text or redact_pii(node, verdict.pii)
            return node
        if isinstance(node, dict):
            return {k: await walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [await walk(v) for v in node]
        return node

    try:
        return type(value).model_validate(await walk(data))
    except ValidationError:
        return None


async def _retry(st: TurnState, tier: Tier, model: Model, raw: str, problem: str) -> str | None:
    """One corrective call on the tier that answered; its raw answer, or None."""
    end = st.deadline.before_end(st.agent.policy.finish_reserve_ms)
    if (end - time.monotonic()) * 1000.0 < _MIN_RETRY_MS:
        return None
    st.reasons.append(f"output did not validate ({problem}): one corrective retry")
    st.messages += [Message.assistant(raw), Message.system(CORRECTION.format(problem=problem))]
    run = await call_tier(st, tier, model, end, reason="corrective retry: output did not validate")
    return "".join(st.round_text) if run.status == "done" else None


async def settle(st: TurnState, outcome: Outcome, tier: Tier | None) -> tuple[Outcome, Tier | None]:
    """Validate a typed turn's answer; on success ``st.output`` holds it and its text is released.

    Args:
        st: The turn (its agent has an ``output_type``).
        outcome: The model stage's outcome.
        tier: The tier that answered (None: the holding reply was sent).

    Returns:
        The outcome and answering tier: unchanged when the answer validates;
        ``degraded`` with the holding reply when it does not, even after the
        retry (``reasons`` says why).
    """
    output_type = st.agent.output_type
    if output_type is None or outcome not in ("ok", "degraded") or tier is None:
        return outcome, tier
    model = st.agent.fast if tier == "fast" else st.agent.deep
    raw = "".join(st.round_text)
    value, problem = _validate(output_type, raw)
    if value is None and isinstance(model, Model):
        retried = await _retry(st, tier, model, raw, problem)
        if retried is not None:
            raw = retried
            value, problem = _validate(output_type, raw)
    if value is not None:
        st.output = await _redacted(st, value)
        if st.output is None:
            problem = "redacting PII in a string field broke the type"
    if st.output is None:
        st.reasons.append(f"output did not validate: {problem}")
        st.say(st.agent.holding_reply)
        return "degraded", None
    st.release(raw, tier)
    return outcome, tier
