"""Span attributes after OpenTelemetry's GenAI semantic conventions, plus agentkit's own.

One place for the attribute names, so that the in-house `Trace` (what a
`TraceHook` sees) and the OpenTelemetry export (`agentkit.otel`) say the same:
``gen_ai.operation.name`` (``invoke_agent`` for the turn, ``chat`` for a model
call, ``execute_tool`` for a tool call), ``gen_ai.request.model``,
``gen_ai.response.model``, ``gen_ai.provider.name`` (and the older
``gen_ai.system``), ``gen_ai.usage.input_tokens``/``output_tokens``,
``gen_ai.tool.name``/``gen_ai.tool.call.id``, ``error.type``; ours are
``agentkit.tier``, ``agentkit.outcome`` and ``agentkit.escalation.reason``.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentkit._messages import ToolCall, Usage
from agentkit._result import Attempt, Hop
from agentkit._tracing import AttrValue

__all__ = ["answered_by", "hop_attributes", "model_attributes", "tool_attributes"]

_MAX_NAME = 128  # model-written names (tools) are cut: a trace holds no long text


def model_attributes(model: object, name: str) -> dict[str, AttrValue]:
    """The attributes of a chat call to ``model`` (named ``name``).

    The provider is the model's ``provider`` attribute where it has one (``openai``
    for `OpenAIModel`: the protocol it speaks), else ``agentkit`` (the in-process
    engine and the doubles). ``gen_ai.system`` repeats it for older backends.
    """
    provider = getattr(model, "provider", None)
    provider = provider if isinstance(provider, str) and provider else "agentkit"
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": name,
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,
    }


def tool_attributes(call: ToolCall) -> dict[str, AttrValue]:
    """The attributes of one tool call (its name and id; never its arguments)."""
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": call.function.name[:_MAX_NAME],
        "gen_ai.tool.call.id": call.id[:_MAX_NAME],
    }


def answered_by(name: str, attempts: Sequence[Attempt]) -> str:
    """The model that answered a tier call: the fallback that did, else the tier's model."""
    done = [a.model for a in attempts if a.outcome == "done"]
    return done[-1] if done else name


def hop_attributes(hop: Hop, before: Usage, after: Usage) -> dict[str, AttrValue]:
    """What a tier call's span learns once it ends: outcome, answering model, tokens."""
    facts: dict[str, AttrValue] = {
        "agentkit.tier": hop.tier,
        "agentkit.outcome": hop.outcome,
        "gen_ai.usage.input_tokens": after.prompt_tokens - before.prompt_tokens,
        "gen_ai.usage.output_tokens": after.completion_tokens - before.completion_tokens,
    }
    if hop.outcome == "done":
        facts["gen_ai.response.model"] = hop.model
    if hop.tier == "deep":
        facts["agentkit.escalation.reason"] = hop.reason[:200]
    return facts
