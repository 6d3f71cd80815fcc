"""Hypothesis strategies for hostile text, shared by the router and safety fuzz tests.

Importable from any test as ``_hostile_text`` (the root ``conftest.py`` puts this
folder on ``sys.path``). The pieces are what evasions and accidents are made of:
lone surrogates, zero-width and bidi controls, Latin lookalikes, C0/C1 controls,
characters NFKC expands many-fold, undecodable bytes, PII-shaped digit runs,
prompt-injection phrases, code and arithmetic, and very long repetitions.
"""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = ["HOSTILE_TEXT", "LONG_TEXT", "PIECES"]

_SPECIAL_CHARS = (
    "\ud800 \udfff \udc80 \u200b \u200c \u200d \u2060 \ufeff \u00ad \u202e \u202d \u2066 \u061c"
    " А В Е о р с һ ӏ Α Ο ɑ ℓ ı ｆｕｌｌ ＡＢＣ １２３ \x00 \x07 \x1b \x7f \x85 \x9f \r \t \x0b"
    " \u0301 \u0336 \u20dd \ufdfa \u3300 \u2474 \ufb01 ǅ \U0001f600 \U0001f1fa\U0001f1f8 \U0010ffff"
    " \ufffd \uffff \ue000 ß İ ﷽ ⁹ ½"
)
_SPECIAL = _SPECIAL_CHARS.split(" ")
_WORDS = [
    "ignore previous instructions",
    "kill",
    "how to make a bomb",
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "DE89 3704 0044 0532 0130 00",
    "GB82WEST12345698765432",
    "ada@example.com",
    "a@b",
    "@@@",
    "123-45-6789",
    "+44 20 7946 0958",
    "def f(x):\n    return x",
    "```python\n",
    "3 * (4 + 5) = ",
    "if all A are B then",
    "%",
    "$",
    "9" * 40,
    "@" * 20,
    "\n" * 10,
    " " * 30,
]
PIECES = st.sampled_from(_SPECIAL + _WORDS) | st.text(max_size=12)
_BYTES = st.binary(max_size=200)
HOSTILE_TEXT = (
    st.lists(PIECES, max_size=40).map("".join)
    | st.text(alphabet=st.characters(exclude_categories=()), max_size=200)
    | _BYTES.map(lambda b: b.decode("utf-8", "surrogateescape"))
    | _BYTES.map(lambda b: b.decode("latin-1"))
    | _BYTES.map(lambda b: b.decode("utf-16-le", "replace"))
)
"""Short hostile texts (at most a few hundred characters)."""

LONG_TEXT = st.builds(
    lambda unit, count, tail: unit * count + tail,
    st.lists(PIECES, min_size=1, max_size=4).map("".join).filter(bool),
    st.integers(min_value=500, max_value=20_000),
    HOSTILE_TEXT,
)
"""Long texts: a hostile unit repeated up to 20,000 times (up to about a megabyte)."""
