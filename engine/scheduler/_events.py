"""The events a scheduled request streams: text deltas, periodic stats, the result."""

from __future__ import annotations

from engine._types import (
    GenerationResult,
    SpeculativeStats,
    StatsEvent,
    StreamEvent,
    TextDelta,
)
from engine.scheduler._request import Request

__all__ = ["empty_result", "finish_events", "progress_events", "speculative_stats"]


def speculative_stats(req: Request) -> SpeculativeStats:
    """The request's speculative statistics so far (plain decoding: mode "off")."""
    if req.spec is not None:
        return req.spec.stats()
    return SpeculativeStats.plain(req.steps)


def _delta(req: Request, final: bool = False) -> TextDelta | None:
    """The text and tokens since the last delta; None while there is no text yet.

    With ``top_logprobs`` the delta carries its tokens' `TokenLogprob` (a final
    stop id has none, so the slice is shorter by it), and the ``final`` one
    goes out even without text: tokens whose text a stop string cut.
    """
    seq = req.seq
    assert seq is not None
    text = seq.pending_text()
    logprobs = seq.token_logprobs[req.sent :] if seq.params.top_logprobs is not None else None
    if not text and not (final and logprobs):
        return None
    ids = seq.output[req.sent :]
    req.sent = len(seq.output)
    return TextDelta(text, ids, logprobs)


def _snapshot(req: Request, now: float) -> StatsEvent:
    seq = req.seq
    assert seq is not None
    n = len(seq.logprobs)
    dt = now - (req.first_at or now)
    return StatsEvent(
        completion_tokens=len(seq.output),
        mean_logprob=sum(seq.logprobs) / n if n else 0.0,
        tokens_per_s=(len(seq.output) - 1) / dt if dt > 0 else 0.0,
        speculative=speculative_stats(req),
    )


def progress_events(req: Request, stats_every: int, now: float) -> list[StreamEvent]:
    """After a step: new text, and a `StatsEvent` every ``stats_every`` decode steps."""
    out: list[StreamEvent] = []
    if (delta := _delta(req)) is not None:
        out.append(delta)
    if stats_every and req.steps >= req.stats_at + stats_every:
        req.stats_at = req.steps
        out.append(_snapshot(req, now))
    return out


def finish_events(req: Request, now: float) -> list[StreamEvent]:
    """The last text delta (if any) and the `GenerationResult` of a finished request."""
    seq = req.seq
    assert seq is not None and seq.finish_reason is not None
    out: list[StreamEvent] = []
    if (delta := _delta(req, final=True)) is not None:
        out.append(delta)
    first = req.first_at if seq.output else None
    prefill_s = (first or now) - req.admitted_at
    out.append(
        GenerationResult(
            text=seq.text,
            token_ids=list(seq.output),
            finish_reason=seq.finish_reason,
            prompt_tokens=len(seq.prompt),
            completion_tokens=len(seq.output),
            logprobs=list(seq.logprobs) if seq.params.logprobs else None,
            ttft_ms=((first - req.arrival) * 1e3) if first is not None else 0.0,
            prefill_ms=prefill_s * 1e3,
            decode_ms=(now - first) * 1e3 if first is not None else 0.0,
            speculative=speculative_stats(req),
            token_logprobs=None if seq.params.top_logprobs is None else list(seq.token_logprobs),
        )
    )
    return out


def empty_result(req: Request, reason: str) -> GenerationResult:
    """The result of a request stopped before it started (no tokens)."""
    return GenerationResult(
        text="",
        token_ids=[],
        finish_reason=reason,  # type: ignore[arg-type]
        prompt_tokens=len(req.ids),
        completion_tokens=0,
        logprobs=[] if req.params.logprobs else None,
        ttft_ms=0.0,
        prefill_ms=0.0,
        decode_ms=0.0,
        speculative=speculative_stats(req),
        token_logprobs=[] if req.params.top_logprobs is not None else None,
    )
