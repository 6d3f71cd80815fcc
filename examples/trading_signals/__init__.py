"""Trading signals from a news-headline stream: typed, schema-constrained, deadline-bound.

python -m examples.trading_signals [--headlines FILE] [--deadline-ms MS] [--threads N]
"""

from examples.trading_signals._evaluate import EVAL_DATA, evaluate_example
from examples.trading_signals._signals import (
    HEADLINES,
    INSTRUCTIONS,
    Headline,
    HeadlineRouter,
    HeadlineSource,
    RecordedSource,
    Signal,
    SignalAgent,
    SignalResult,
    numeric_facts,
    pinned_signal,
    signal_schema,
    text_histogram,
)

__all__ = [
    "EVAL_DATA",
    "HEADLINES",
    "INSTRUCTIONS",
    "Headline",
    "HeadlineRouter",
    "HeadlineSource",
    "RecordedSource",
    "Signal",
    "SignalAgent",
    "SignalResult",
    "evaluate_example",
    "numeric_facts",
    "pinned_signal",
    "signal_schema",
    "text_histogram",
]
