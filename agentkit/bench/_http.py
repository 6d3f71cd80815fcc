"""HTTP end to end: ``agentkit serve`` against llama.cpp's servers, the very same prompts.

Servers: ours with speculation off (``agentkit``: the comparison the engine
issue asks for) and on (``agentkit+spec``), llama.cpp's C++ ``llama-server``
and llama-cpp-python's server (`agentkit.bench._peers`: each configured as
its users run it; a missing peer is skipped with a line saying why). All run
on loopback ports with the same threads and are driven by the official
``openai`` client, streaming ``/v1/completions``, greedy (temperature 0; the
peers also get ``top_k=1`` and repeat penalty 1.0), ``max_tokens`` a request.

Every server gets the same prompt text: our chat template's rendering of the
task (`engine.bench.decode.rendered_rounds`), so no server's own chat
rendering enters the comparison, and the rows record each server's prompt
token count and whether its output has as many tokens and the same text as
ours. Each round's prompts carry a tag (``[round 2]``), the same for every
server, so that no prompt cache skips a prefill. The servers are started
together and alternate over ``rounds`` rounds (ours, ours with speculation,
llama-server, llama-cpp-python, then again), warmed up first; each number is
the median of its rounds with the range beside it, each ratio the median of
the per-round ratios. Per request: time to the first text chunk (TTFT), the
decode rate (tokens after the first over the time from the first chunk to
the last) and the end-to-end rate (tokens over the whole request).

Run ``agentkit bench http [--model GGUF] [--rounds 3]``.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from agentkit._local_server import LocalServer
from agentkit.bench._peers import PEER_SAMPLING, PEERS, peer_skip_reason, start_peer

__all__ = ["HttpBench", "HttpRow", "Sample", "run_http_bench", "spread_json", "summarise_rows"]

OURS = ("agentkit", "agentkit+spec")


@dataclass(frozen=True)
class Sample:
    """One request: tokens, prompt tokens, TTFT, decode time after the first token, total, text."""

    tokens: int
    prompt_tokens: int | None
    ttft_s: float
    decode_s: float
    total_s: float
    text: str


@dataclass(frozen=True)
class HttpRow:
    """One server on one task (medians over the rounds, ranges beside them).

    Attributes:
        server: ``agentkit``, ``agentkit+spec``, ``llama-server`` or ``llama-cpp-python``.
        task: the prompt's task name.
        completion_tokens: tokens generated (the median round; all stop at EOS).
        ttft_ms: time to the first text chunk.
        e2e_tokens_per_s: completion tokens / whole request time.
        decode_tokens_per_s: tokens after the first / time from the first chunk to the last.
        prompt_tokens: the server's own count of the prompt (None if it does not say).
        ttft_range_ms, decode_range: the lowest and highest round.
        rounds: rounds measured.
        same_count_as_ours, same_text_as_ours: in every round, as many tokens
            as (and the same text as) ``agentkit``'s; None on ``agentkit``'s rows.
    """

    server: str
    task: str
    completion_tokens: int
    ttft_ms: float
    e2e_tokens_per_s: float
    decode_tokens_per_s: float = 0.0
    prompt_tokens: int | None = None
    ttft_range_ms: tuple[float, float] = (0.0, 0.0)
    decode_range: tuple[float, float] = (0.0, 0.0)
    rounds: int = 1
    same_count_as_ours: bool | None = None
    same_text_as_ours: bool | None = None


@dataclass(frozen=True)
class HttpBench:
    """All rows, and our servers' speed over each peer's.

    Attributes:
        rows: one per server × task.
        ratio_e2e_vs_llamacpp, ratio_e2e_spec_vs_llamacpp: our end-to-end rate
            (plain, speculative) over llama-cpp-python's server (the median round).
        threads: threads every server used.
        ratios: ``"ours/peer"`` -> ``{"decode", "ttft", "e2e"}`` -> ``{"median",
            "low", "high", "n"}`` over rounds (decode and e2e: Σ tokens / Σ
            time over the tasks; TTFT: Σ TTFT, lower is better).
        rounds: alternated rounds.
        model: the GGUF file every server ran.
        peers: per peer, its `PeerInfo` as a dict, or ``{"skipped": why}``.
        machine: our side's CPU features and versions.
    """

    rows: list[HttpRow] = field(default_factory=list)
    ratio_e2e_vs_llamacpp: float | None = None
    ratio_e2e_spec_vs_llamacpp: float | None = None
    threads: int = 0
    ratios: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    rounds: int = 1
    model: str = ""
    peers: dict[str, dict[str, Any]] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Every attribute; rows as dicts."""
        out = asdict(self)
        out["rows"] = [asdict(r) for r in self.rows]
        return out


def _one(client: Any, model: str, prompt: str, max_tokens: int, extra: dict[str, Any]) -> Sample:
    """One streamed greedy ``/v1/completions`` request, timed."""
    t0 = time.perf_counter()
    first = last = None
    chunks, usage, prompt_tokens, parts = 0, None, None, []
    stream = client.completions.create(
        model=model, prompt=prompt, max_tokens=max_tokens, temperature=0.0, stream=True,
        stream_options={"include_usage": True}, extra_body=extra or None,
    )  # fmt: skip
    for chunk in stream:
        if getattr(chunk, "usage", None) is not None:
            usage, prompt_tokens = chunk.usage.completion_tokens, chunk.usage.prompt_tokens
        if chunk.choices and chunk.choices[0].text:
            chunks += 1
            parts.append(chunk.choices[0].text)
            last = time.perf_counter()
            first = first or last
    total = time.perf_counter() - t0
    first, last = first or t0 + total, last or t0 + total
    return Sample(usage or chunks, prompt_tokens, first - t0, last - first, total, "".join(parts))


def spread_json(xs: list[float]) -> dict[str, float]:
    """`engine.bench._rounds.spread` of ``xs`` as a JSON-ready dict (median, low, high, n)."""
    from engine.bench._rounds import spread

    return asdict(spread(xs))


def summarise_rows(samples: dict[str, dict[str, list[Sample]]]) -> list[HttpRow]:
    """One `HttpRow` per server × task from ``server -> task -> one Sample per round``."""
    ours = samples.get("agentkit", {})
    rows = []
    for server, tasks in samples.items():
        for task, runs in tasks.items():
            mine = ours.get(task, [])
            peer = server != "agentkit" and len(mine) == len(runs)
            ttft = spread_json([s.ttft_s * 1e3 for s in runs])
            rate = spread_json([(s.tokens - 1) / s.decode_s if s.decode_s else 0.0 for s in runs])
            e2e = spread_json([s.tokens / s.total_s if s.total_s else 0.0 for s in runs])
            pairs = list(zip(runs, mine, strict=False))
            rows.append(HttpRow(
                server, task, int(spread_json([float(s.tokens) for s in runs])["median"]),
                ttft["median"], e2e["median"], rate["median"], runs[0].prompt_tokens,
                (ttft["low"], ttft["high"]), (rate["low"], rate["high"]), len(runs),
                all(a.tokens == b.tokens for a, b in pairs) if peer else None,
                all(a.text == b.text for a, b in pairs) if peer else None,
            ))  # fmt: skip
    return rows


def round_ratios(
    samples: dict[str, dict[str, list[Sample]]], ours: str, peer: str
) -> dict[str, dict[str, float]]:
    """``{"decode", "ttft", "e2e"}`` of ``ours`` over ``peer``, round by round, summarised."""
    n = min(len(runs) for s in (ours, peer) for runs in samples[s].values())
    per: dict[str, list[float]] = {"decode": [], "ttft": [], "e2e": []}
    for r in range(n):
        a, b = ([runs[r] for runs in samples[s].values()] for s in (ours, peer))

        def rate(xs: list[Sample], secs: str) -> float:
            tokens = sum(x.tokens - (secs == "decode_s") for x in xs)
            return tokens / max(sum(float(getattr(x, secs)) for x in xs), 1e-9)

        per["decode"].append(rate(a, "decode_s") / max(rate(b, "decode_s"), 1e-9))
        per["e2e"].append(rate(a, "total_s") / max(rate(b, "total_s"), 1e-9))
        per["ttft"].append(sum(x.ttft_s for x in a) / max(sum(x.ttft_s for x in b), 1e-9))
    return {k: spread_json(v) for k, v in per.items()}


def _start(name: str, model: str, threads: int, stack: contextlib.ExitStack) -> tuple[str, Any]:
    if name in OURS:
        args = ["--model", model] + (["--speculation", "off"] if name == "agentkit" else [])
        server = stack.enter_context(LocalServer(threads=threads, extra_args=args))
        return server.base_url, None
    url, info = stack.enter_context(start_peer(name, model, threads))
    return url, info


def run_http_bench(
    *,
    threads: int = 2,
    new_tokens: int = 128,
    rounds: int = 3,
    with_llamacpp: bool = True,
    model: str = "default",
) -> HttpBench:
    """Time our servers and the available peers on the decode tasks (see the module doc).

    Raises:
        ModelUnavailableError, RuntimeError: a server did not start.
        ValueError: ``rounds`` < 1.
    """
    import openai

    from engine.bench._child import in_child
    from engine.bench._machine import machine_info
    from engine.bench._rounds import alternate
    from engine.loader import default_model_path

    path = str(default_model_path()) if model == "default" else model
    prompts = in_child("engine.bench.decode:rendered_rounds", model=path, rounds=rounds)
    skipped = {p: peer_skip_reason(p) if with_llamacpp else f"{p} peer skipped: --no-llamacpp"
               for p in PEERS}  # fmt: skip
    names = [*OURS, *(p for p in PEERS if skipped[p] is None)]
    samples: dict[str, dict[str, list[Sample]]] = {n: {t: [] for t in prompts} for n in names}
    peers = {p: {"skipped": why} for p, why in skipped.items() if why is not None}
    with contextlib.ExitStack() as stack:
        clients = {}
        for name in list(names):
            try:
                url, info = _start(name, path, threads, stack)
            except RuntimeError as exc:  # a peer that does not start is reported, not fatal
                if name in OURS:
                    raise
                peers[name] = {"skipped": f"{name} peer skipped: {exc}"}
                names.remove(name)
                del samples[name]
                continue
            if info is not None:
                peers[name] = asdict(info)
            client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=300)
            extra = {} if name in OURS else dict(PEER_SAMPLING)
            clients[name] = (client, client.models.list().data[0].id, extra)
        for client, mid, extra in clients.values():
            for runs in prompts.values():
                _one(client, mid, runs[0]["text"], 4, extra)  # warm-up
        for r, name in alternate(names, rounds):
            client, mid, extra = clients[name]
            for task, runs in prompts.items():
                samples[name][task].append(
                    _one(client, mid, runs[r + 1]["text"], new_tokens, extra)
                )
    ratios = {f"{o}/{p}": round_ratios(samples, o, p) for o in OURS for p in names if p not in OURS}
    e2e = {k: v["e2e"]["median"] for k, v in ratios.items()}
    return HttpBench(
        summarise_rows(samples), e2e.get("agentkit/llama-cpp-python"),
        e2e.get("agentkit+spec/llama-cpp-python"), threads, ratios, rounds, path, peers,
        machine_info(),
    )  # fmt: skip
