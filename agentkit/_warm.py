"""Warm start: no model, index or classifier loads inside a turn's budget.

Two seams, both optional (duck-typed, so wrappers and third-party parts opt in):

- `Preloading.ready()`: a part that started loading when it was built
  (`EngineModel`). Before a turn's budget starts, the runner waits for it
  (`wait_loading`); the wait is reported apart, as `TurnResult.warmup_ms`.
- `Warmable.warm(messages, tools=, settings=)`: a model that can load and
  prime itself with the agent's own prompt (`EngineModel`; example wrappers
  forward it to the model they wrap).

`warm_agent` (behind `Runner.start`) warms every part of an agent: its
models; the router and the safety filter (one call each on sample text,
which loads their models, or their own ``warm()`` when they have one); the
agent's tool sources (MCP servers: connected, their tools listed, before the
models are primed with the tool list); the router's embedding layer when it
may be asked; each tool's ``warm`` hook
(`tools.KnowledgeBase` indexes); and the session store (one read).
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import anyio
import anyio.to_thread
import structlog
from pydantic import BaseModel, ConfigDict, Field

from agentkit._agent import Agent
from agentkit._messages import Message, ToolSchema
from agentkit._model import Model, SamplingSettings
from agentkit._tool_sources import gather_tools
from router import RouteContext

__all__ = ["Preloading", "Warmable", "Warmup", "wait_loading", "warm_agent"]

_log = structlog.get_logger("agentkit")
# What the router and the safety filter see while warming: a routine question and
# a quantitative one, so both branches of a cascade run once.
_SAMPLES = ("What are your opening hours?", "What is 15% of 240 EUR, step by step?")
_PRIMER_USER = "Hello"
_SOURCES_S = 30.0  # connecting and listing an MCP server's tools (a subprocess may start)


@runtime_checkable
class Preloading(Protocol):
    """A part that starts loading when it is built; turns wait for it outside their budget."""

    async def ready(self) -> None:
        """Return once the load started at construction is over (never raises)."""
        ...


@runtime_checkable
class Warmable(Protocol):
    """A model that loads and primes itself ahead of the first turn (`Runner.start`)."""

    async def warm(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
    ) -> None:
        """Load, then run one tiny generation over a prompt shaped like a turn's."""
        ...


class Warmup(BaseModel):
    """What `Runner.start` warmed, and how long each part took.

    Attributes:
        parts_ms: Milliseconds per part (``fast``, ``deep``, ``router``,
            ``safety``, ``embeddings``, ``tool:<name>``, ``store``), in order.
        total_ms: Wall time of the whole warm-up (parts run one after another).
    """

    model_config = ConfigDict(frozen=True)

    parts_ms: dict[str, float] = Field(default_factory=dict)
    total_ms: float = 0.0


async def wait_loading(agent: Agent) -> float:
    """Wait for every part of ``agent`` still loading in the background; milliseconds waited."""
    start = time.perf_counter()
    for part in (agent.fast, _deep(agent), agent.router, agent.safety):
        if isinstance(part, Preloading):
            await part.ready()
    return (time.perf_counter() - start) * 1000.0


def _deep(agent: Agent) -> Model | None:
    """The deep tier's model (a list of them is one `Model` once the agent is built)."""
    return agent.deep if isinstance(agent.deep, Model) else None


def _primer(agent: Agent) -> list[Message]:
    system = [Message.system(agent.instructions)] if agent.instructions else []
    return [*system, Message.user(_PRIMER_USER)]


async def _call(fn: Callable[[], Any]) -> None:
    """Call ``fn``: awaited when it is async, else in a worker thread (it may block)."""
    if inspect.iscoroutinefunction(fn):
        await fn()
        return
    value = await anyio.to_thread.run_sync(fn)
    if inspect.isawaitable(value):
        await value


async def _warm_router(agent: Agent) -> None:
    own = getattr(agent.router, "warm", None)
    if callable(own):
        await _call(own)
        return
    for text in _SAMPLES:
        context = RouteContext(message=text)
        await anyio.to_thread.run_sync(agent.router.route, context)


async def _warm_safety(agent: Agent) -> None:
    own = getattr(agent.safety, "warm", None)
    if callable(own):
        await _call(own)
        return
    for text in _SAMPLES:
        await agent.safety.check(text, stage="input")
    await agent.safety.check(_SAMPLES[0], stage="tool_result")
    guard = agent.safety.stream_guard()
    guard.feed("We are open from 9 to 5.")
    guard.finish()


def _may_embed(part: object) -> bool:
    """Whether ``part`` (a router or safety filter) may ask the embedding layer."""
    policy = getattr(part, "policy", None)
    if not getattr(policy, "use_embeddings", False):
        return False
    path = getattr(policy, "model_path", None) or getattr(part, "model_path", None)
    try:  # only a cascade model with an embedding head ever asks the layer
        from router._cascade import load_model

        model = load_model(path)
        return model is not None and getattr(model, "embed_w", None) is not None
    except Exception:  # the router's internals moved: warm rather than risk a cold turn
        return True


def _load_embeddings() -> None:
    from router._embed import EmbeddingLayer

    if not EmbeddingLayer.available():
        return
    layer = EmbeddingLayer.shared()  # loads once per process; None when it cannot run
    if layer is not None:
        layer.embed(list(_SAMPLES))  # the forward pass's first call


async def _warm_model(agent: Agent, model: object) -> None:
    if not isinstance(model, Warmable):
        return
    settings = agent.settings
    tools = agent.registry.schemas()
    await model.warm(_primer(agent), tools=tools, settings=settings)


async def warm_agent(agent: Agent) -> Warmup:
    """Warm every part of ``agent`` (see the module docstring); see `Runner.start`.

    Raises:
        BackendError: A model could not load or run its primer.
    """
    parts: list[tuple[str, Callable[[], Awaitable[None]]]] = []
    if agent.mcp_servers:  # first: their tools join the registry the primers show
        parts.append(("tool_sources", lambda: _gather(agent)))
    parts += [
        ("fast", lambda: _warm_model(agent, agent.fast)),
        ("deep", lambda: _warm_model(agent, _deep(agent))),
        ("router", lambda: _warm_router(agent)),
        ("safety", lambda: _warm_safety(agent)),
    ]
    if _may_embed(agent.router) or _may_embed(agent.safety):
        parts.append(("embeddings", lambda: anyio.to_thread.run_sync(_load_embeddings)))
    for tool in agent.registry:
        hook = getattr(tool, "warm", None)
        if callable(hook):
            parts.append((f"tool:{tool.name}", functools.partial(_call, hook)))
    grounding_warm = getattr(getattr(agent.answer_check, "grounding", None), "warm", None)
    if callable(grounding_warm):  # the answer check's grounding: its index and embeddings
        parts.append(("answer_check", functools.partial(_call, grounding_warm)))
    parts.append(("store", lambda: _warm_store(agent)))
    start = time.perf_counter()
    timings: dict[str, float] = {}
    for name, work in parts:
        began = time.perf_counter()
        await work()
        timings[name] = round((time.perf_counter() - began) * 1000.0, 2)
    # Not logged: structlog's default configuration prints every level, and the
    # caller has the report.
    total = round((time.perf_counter() - start) * 1000.0, 2)
    return Warmup(parts_ms=timings, total_ms=total)


async def _gather(agent: Agent) -> None:
    """Connect the agent's tool sources (MCP servers) and list their tools, once."""
    until = time.monotonic() + _SOURCES_S
    for note in await gather_tools(agent.registry, agent.mcp_servers, until):
        _log.warning("tool_source_warmup_failed", note=note)


async def _warm_store(agent: Agent) -> None:
    """One read: opens the store's connection for this event loop."""
    try:
        await agent.store.load("agentkit-warmup", max_chars=1)
    except Exception as exc:  # a store that is down now may be up for the first turn
        _log.warning("store_warmup_failed", error=type(exc).__name__)
