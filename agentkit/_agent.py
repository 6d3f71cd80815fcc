"""`Agent`: plain data describing an agent. `Runner` runs turns with it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import BaseModel

from agentkit._answer_check import AnswerCheck
from agentkit._budget import BudgetPolicy
from agentkit._errors import ConfigError
from agentkit._fallback import FallbackModel
from agentkit._model import Model, SamplingSettings
from agentkit._output_schema import output_schema
from agentkit._result import Tier
from agentkit._safety_types import AllowAll, SafetyFilter
from agentkit._sessions import InMemoryStore, SessionStore
from agentkit._tool_sources import ToolSource
from agentkit._tracing import TraceHook
from router import Router, RuleRouter
from tools import Tool, ToolRegistry

__all__ = ["Agent", "Price"]


@dataclass(frozen=True)
class Price:
    """What one tier costs, in US dollars per million tokens.

    Attributes:
        prompt_per_m: Price of a million prompt tokens.
        completion_per_m: Price of a million completion tokens.
    """

    prompt_per_m: float = 0.0
    completion_per_m: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """The cost of a call with these token counts."""
        return (prompt_tokens * self.prompt_per_m + completion_tokens * self.completion_per_m) / 1e6


def _registry(tools: ToolRegistry | Sequence[Tool | Any] | None) -> ToolRegistry:
    if isinstance(tools, ToolRegistry):
        return tools
    return ToolRegistry(tools or ())


def _fallbacks(models: object) -> FallbackModel:
    if isinstance(models, str | bytes) or not isinstance(models, Sequence):
        raise ConfigError(
            "deep", f"expected a Model or a list of them, got {type(models).__name__}"
        )
    return FallbackModel(models)


def _typed_settings(agent: Agent) -> SamplingSettings:
    """The agent's settings with its output type's schema (checked for the engine)."""
    schema = output_schema(agent.output_type)
    if agent.settings is not None and agent.settings.json_schema is not None:
        raise ConfigError("settings", "json_schema and output_type are both set; keep one")
    return (agent.settings or SamplingSettings()).model_copy(update={"json_schema": schema})


@dataclass(frozen=True)
class Agent:
    """An agent: what it is told, what it can call, where it runs, and its limits.

    Plain data: build one, share it between tasks, run turns with `Runner`.
    Validated at construction (a `ConfigError` names the bad field).

    Example:
        >>> from agentkit import ScriptedModel
        >>> from agentkit._runner import Runner
        >>> agent = Agent(instructions="Be brief.", fast=ScriptedModel(["Hi!"]))
        >>> Runner.run_sync(agent, "hello").text
        'Hi!'
    """

    instructions: str = ""
    """The system prompt, sent first on every call."""

    tools: ToolRegistry | Sequence[Tool | Any] | None = None
    """A `tools.ToolRegistry`, or tools / typed functions to register in a new one."""

    fast: Model | None = None
    """The fast tier: the in-process engine (`EngineModel`) or any `Model`."""

    deep: Model | Sequence[Model] | None = None
    """The deep tier (usually `OpenAIModel`); None keeps every turn on the fast tier.
    A list is tried in order (a `FallbackModel`; each keeps its own retries and
    breaker, all within the turn's deadline); it is stored as that `FallbackModel`."""

    router: Router = field(default_factory=RuleRouter)
    """Picks the tier per turn and decides mid-stream escalation."""

    safety: SafetyFilter = field(default_factory=AllowAll)
    """Checks the input, every tool result and the streamed output."""

    budget_ms: float = 1500.0
    """The latency budget of one whole turn, from input to result."""

    policy: BudgetPolicy = field(default_factory=BudgetPolicy)
    """How the budget is sliced per stage and what happens when a slice runs out."""

    max_tool_rounds: int = 4
    """Rounds of tool calls per tier call. The call after the last round is made
    with ``tool_choice="none"`` (the model must answer from the results it has),
    as is the call after a repeated tool call; a model that calls tools anyway
    ends the turn as ``degraded``."""

    settings: SamplingSettings | None = None
    """Sampling settings for every model call (None: the model's defaults). With an
    ``output_type``, they carry its schema (``json_schema``; derived, not an argument)."""

    output_type: type[BaseModel] | None = None
    """Decode the answer as this pydantic model: both tiers decode under its JSON
    schema, the answer is validated (one corrective retry) and ``TurnResult.output``
    holds the value. A type the engine cannot enforce is a `ConfigError` here."""

    approval_ttl_s: float = 3600.0
    """How long a turn waiting for approvals (a tool's ``needs_approval``) may wait;
    `Runner.resume` after that raises `ApprovalExpiredError`."""

    holding_reply: str = "Sorry, I need a little longer for that one. Please ask again in a moment."
    """Sent, as ``degraded``, when no tier produced anything usable in time."""

    refusal_reply: str = "Sorry, I can't help with that."
    """Sent, as ``refused``, when the safety policy refuses the input or output."""

    max_input_chars: int = 32_000
    """Longer user messages are refused before any model runs."""

    history_chars: int = 8_000
    """Characters of session history sent with each turn (newest first)."""

    redact_pii: bool = True
    """Replace PII found by the input check before text reaches the model, store or logs."""

    prices: Mapping[Tier, Price] = field(default_factory=dict)
    """Prices per tier, for `TurnResult.usage` costs."""

    store: SessionStore = field(default_factory=InMemoryStore)
    """Where session history lives (used only when a turn has a ``session_id``)."""

    trace_hook: TraceHook | None = None
    """Called with each turn's `Trace` (an exporter); exceptions in it are logged."""

    mcp_servers: Sequence[ToolSource] = ()
    """MCP servers (`agentkit.mcp`) whose tools join ``tools``: connected on first need,
    listed once (cached), then run like local tools."""

    answer_check: AnswerCheck | None = None
    """Check the fast tier's answers against their grounding before release: an answer
    with an unsupported number, name or negation escalates, is replaced by a quote of
    the grounding, or gives way to the holding reply (`TurnResult.check` says which)."""

    registry: ToolRegistry = field(init=False, repr=False)
    """The tool registry built from ``tools`` (derived; not an argument)."""

    def __post_init__(self) -> None:
        if self.fast is None and self.deep is None:
            raise ConfigError("fast", "an agent needs a fast or a deep model")
        if not self.budget_ms > 0:
            raise ConfigError("budget_ms", "must be > 0")
        if not 0 < self.approval_ttl_s < math.inf:
            raise ConfigError("approval_ttl_s", "must be > 0 and finite")
        if self.output_type is not None:
            object.__setattr__(self, "settings", _typed_settings(self))
        if self.max_tool_rounds < 0:
            raise ConfigError("max_tool_rounds", "must be >= 0")
        if self.max_input_chars < 1 or self.history_chars < 0:
            raise ConfigError("max_input_chars", "limits must be positive")
        servers = tuple(self.mcp_servers)
        if not all(isinstance(server, ToolSource) for server in servers):
            raise ConfigError("mcp_servers", "each must be a server from agentkit.mcp")
        object.__setattr__(self, "mcp_servers", servers)
        object.__setattr__(self, "registry", _registry(self.tools))
        if self.deep is not None and not isinstance(self.deep, Model):
            object.__setattr__(self, "deep", _fallbacks(self.deep))

    def tier_model(self, tier: Tier) -> Model | None:
        """The model of ``tier`` (``deep`` is a `Model` here, its list wrapped already)."""
        return cast(Model | None, self.fast if tier == "fast" else self.deep)
