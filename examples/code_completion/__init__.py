"""A code-completion plugin: a completion server and a client that replays an editing session.

The server is agentkit's OpenAI-compatible app (``/v1/completions`` with
``suffix``: the server's FIM instruction template, since SmolLM2 has no FIM
tokens) on a free loopback port. The client asks for a completion on every
keystroke with a 150 ms ``deadline_ms`` (the server returns what is ready at the
deadline), cancels the request still in flight when a newer keystroke arrives
(the server sees the disconnect and frees the slot), and reports acceptance and
latency percentiles. With ``n`` > 1 it asks for ``n`` sampled candidates and
their log-probabilities, and shows the one with the best mean log-probability
per token (`rank_candidates`).

    python -m examples.code_completion replay [--session FILE]
"""

from examples.code_completion._client import Completer, Completion
from examples.code_completion._rank import Candidate, rank_candidates
from examples.code_completion._replay import (
    SESSION,
    KeyEvent,
    ReplayReport,
    future_text,
    load_session,
    replay,
    report,
)
from examples.code_completion._server import completion_app, start_server

__all__ = [
    "SESSION",
    "Candidate",
    "Completer",
    "Completion",
    "KeyEvent",
    "ReplayReport",
    "completion_app",
    "future_text",
    "load_session",
    "rank_candidates",
    "replay",
    "report",
    "start_server",
]
