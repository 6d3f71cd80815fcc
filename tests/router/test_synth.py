"""Template rows (`router._synth`): the contrast pairs teach the target, not the verb."""

from __future__ import annotations

from router._linear import HEADS
from router._synth import _VERBS, safety_contrast_examples, synth_examples

UNSAFE = HEADS.index("unsafe")


def test_contrast_rows_are_deterministic_and_labelled() -> None:
    rows = safety_contrast_examples(seed=3)
    assert [r.text for r in rows] == [r.text for r in safety_contrast_examples(seed=3)]
    for r in rows:
        assert r.source == "synth-contrast"
        assert r.targets[UNSAFE] == float(r.label == "unsafe")
        assert r.label in ("unsafe", "safe_lookalike")


def test_every_ambiguous_verb_appears_on_both_sides() -> None:
    # A verb seen only in unsafe rows would teach the model the verb, which is what
    # flags "how do I kill a Python process".
    rows = safety_contrast_examples()
    seen = 0
    for verb in _VERBS:
        labels = {r.label for r in rows if f" {verb} " in f" {r.text.lower()} "}
        assert labels in (set(), {"unsafe", "safe_lookalike"}), verb
        seen += bool(labels)
    assert seen >= 0.9 * len(_VERBS)


def test_pairs_share_their_wording_up_to_the_target() -> None:
    rows = safety_contrast_examples()
    pairs = list(zip(rows[0::2], rows[1::2], strict=True))
    assert all(s.label == "safe_lookalike" and u.label == "unsafe" for s, u in pairs)
    same_opening = sum(s.text.split()[:3] == u.text.split()[:3] for s, u in pairs)
    assert same_opening / len(pairs) > 0.5


def test_synth_examples_hold_every_kind() -> None:
    sources = {r.source for r in synth_examples(n_per_kind=20)}
    assert sources == {
        "synth-math",
        "synth-logic",
        "synth-routine",
        "synth-code",
        "synth-contrast",
    }
