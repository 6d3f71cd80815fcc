"""Where a PII match may start in a long text, found in NumPy instead of by regex.

On a megabyte, each PII pattern's shape gate is a regex pass of 30-70 ms (every
digit or letter starts an attempt). These candidates are found on the bytes in a
few milliseconds, and every match of a kind starts inside one of its regions, so
searching only there finds the same spans (`tests/agentkit/test_safety_pii.py`
compares both on long texts):

* ``digits`` (cards, SSNs, phones): runs of nine digits or more, digits joined by
  at most two of `` ./()+-`` (``(415) 555-0134``). Every such match has nine digits
  in one run and starts at most one character (``+`` or ``(``) before it.
* ``email``: the 64 characters before each ``@`` (the longest local part).
* ``iban``: each word that opens with two letters and two digits.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = ["Regions", "candidate_regions"]

Regions = dict[str, list[tuple[int, int]]]
_LINK = np.zeros(256, dtype=bool)  # what may stand between two digits of one value
_LINK[np.frombuffer(b" ./()+-", dtype=np.uint8)] = True
_OTHER_DIGIT = re.compile(r"[^\D0-9]")  # a decimal digit that is not ASCII
_LOCAL_PART = 64


def candidate_regions(text: str, start: int) -> Regions | None:
    """Regions ``[first, last]`` of match starts per gate; None to search everywhere.

    None when the text holds non-ASCII decimal digits (``\\d`` matches them too).
    """
    if not text.isascii() and _OTHER_DIGIT.search(text, start):
        return None
    data = np.frombuffer(text.encode("ascii", "replace"), dtype=np.uint8)  # one byte a char
    digit = (data >= ord("0")) & (data <= ord("9"))
    return {
        "digits": _digit_runs(data, digit, start),
        "email": [
            (max(start, int(at) - _LOCAL_PART), int(at) - 1)
            for at in np.flatnonzero(data[start:] == ord("@")) + start
            if at > start
        ],
        "iban": _iban_starts(data, digit, start),
    }


def _digit_runs(data: np.ndarray, digit: np.ndarray, start: int) -> list[tuple[int, int]]:
    digits = np.flatnonzero(digit[start:]) + start
    if digits.size < 9:
        return []
    gap = digits[1:] - digits[:-1] - 1  # characters between neighbouring digits
    padded = np.concatenate([data, np.zeros(2, np.uint8)])
    one = _LINK[padded[digits[:-1] + 1]]
    two = one & _LINK[padded[digits[:-1] + 2]]
    linked = (gap == 0) | ((gap == 1) & one) | ((gap == 2) & two)
    cuts = np.flatnonzero(~linked)  # a run ends at each of these digits
    firsts = np.concatenate([[0], cuts + 1])
    lasts = np.concatenate([cuts, [digits.size - 1]])
    long = lasts - firsts + 1 >= 9
    return [
        (max(start, int(digits[a]) - 2), int(digits[b]))
        for a, b in zip(firsts[long], lasts[long], strict=True)
    ]


def _iban_starts(data: np.ndarray, digit: np.ndarray, start: int) -> list[tuple[int, int]]:
    upper = data & 0xDF  # ASCII letters to upper case
    letter = (upper >= ord("A")) & (upper <= ord("Z"))
    n = data.size - 3
    if n <= start:
        return []
    opens = letter[:n] & letter[1 : n + 1] & digit[2 : n + 2] & digit[3 : n + 3]
    word = letter | digit | (data == ord("_"))
    opens[1:] &= ~word[: n - 1]  # \b before it: the character before is no word character
    at = np.flatnonzero(opens[start:]) + start
    return [(int(a), int(a)) for a in at]
