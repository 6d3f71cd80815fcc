"""One round of tool calls: the approval gate, concurrent execution, safety on results.

`held_for_approval` picks the calls a person must decide first (a tool's
``needs_approval``); `run_tools` runs the others concurrently, each within the
round's time, and every result passes the safety check before the model reads
it (a refused one is replaced by `WITHHELD`).
"""

from __future__ import annotations

import time

import anyio

from agentkit._genai import tool_attributes
from agentkit._messages import Message, ToolCall
from agentkit._sessions import redact_pii
from agentkit._turn_events import (
    ToolEndEvent,
    ToolStartEvent,
)
from agentkit._turn_state import TurnState
from tools import ToolRegistry, ToolResult

__all__ = ["WITHHELD", "held_for_approval", "run_tools"]

WITHHELD = "[tool result withheld by the safety policy]"


def held_for_approval(registry: ToolRegistry, calls: list[ToolCall]) -> list[ToolCall]:
    """The calls whose tool needs approval for these arguments (`tools.Tool.needs_approval`).

    A call whose arguments do not validate is not held: it does not run either,
    and the registry answers it with a typed error the model can correct.
    """
    held = []
    for call in calls:
        tool = registry.get(call.function.name)
        if tool is None or tool.needs_approval is False:
            continue
        try:
            args = tool.validate_json(call.function.arguments)
        except Exception:
            continue
        if tool.requires_approval(args):
            held.append(call)
    return held


async def run_tools(st: TurnState, calls: list[ToolCall], until: float) -> list[Message]:
    """Run one round of tool calls concurrently; each result passes the safety check.

    No approval check here: the caller holds back what `held_for_approval` picks
    (and `Runner.resume` passes only calls a person approved).
    """
    limit_s = min(st.agent.policy.tool_ms / 1000.0, until - time.monotonic())
    limit_s = max(limit_s, 0.001)
    results: list[ToolResult | None] = [None] * len(calls)

    async def one(index: int, call: ToolCall) -> None:
        fn = call.function
        with st.trace.span("tool", tool_attributes(call), parent=round_span) as span:
            result = await st.agent.registry.execute(call.id, fn.name, fn.arguments, limit_s)
            span.attributes["agentkit.outcome"] = result.error or "ok"
        results[index] = result

    start = time.perf_counter()
    with st.trace.span("tools", {"agentkit.tool.calls": len(calls)}) as round_span:
        async with anyio.create_task_group() as group:
            for index, call in enumerate(calls):
                st.emit(ToolStartEvent(call.id, call.function.name, call.function.arguments))
                group.start_soon(one, index, call)
    st.timings.tools += (time.perf_counter() - start) * 1000.0
    messages = []
    for result in results:
        if result is None:  # pragma: no cover - the task group always fills every slot
            continue
        if result.error == "timeout":
            st.warn("tools", f"tool {result.name!r} timed out")
        st.emit(ToolEndEvent(result))
        messages.append(Message.tool(result.call_id, await _checked_content(st, result.content)))
    return messages


async def _checked_content(st: TurnState, content: str) -> str:
    verdict = await st.check(content, "tool_result")
    if verdict.action == "refuse":
        return WITHHELD
    if verdict.action == "redact" or (verdict.pii and st.agent.redact_pii):
        return verdict.redacted_text or redact_pii(content, verdict.pii)
    return content
