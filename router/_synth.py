"""Template rows that phrase each routing property in ways the dev sources do not.

The dev set has one source per hard label, so its math is all word problems and
its logic is all FOLIO. These few hundred generated rows add bare arithmetic,
equations, percentages, syllogisms, ordering and knights-and-knaves puzzles, and
routine requests from other domains *with numbers in them* (dates, amounts,
order ids), so the model learns "numbers plus a question about an amount", not
"GSM8K style". They are training data only; the evaluation never sees them.
"""

from __future__ import annotations

import random

from router._linear import HEADS
from router._train import Example

__all__ = ["safety_contrast_examples", "synth_examples"]

_NAMES = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivo", "Jun", "Kofi"]
_THINGS = ["apples", "tickets", "books", "bolts", "cookies", "stamps", "marbles", "chairs"]
_CLASSES = [
    "cats",
    "doctors",
    "birds",
    "students",
    "engineers",
    "poets",
    "mammals",
    "robots",
    "pilots",
    "musicians",
    "reptiles",
    "vegetarians",
]
_PROPS = ["mortal", "happy", "tall", "curious", "green", "fast", "honest", "wealthy", "quiet"]


def _math(r: random.Random) -> str:
    a, b, c = r.randint(2, 99), r.randint(2, 99), r.randint(2, 12)
    n1, n2, t = r.choice(_NAMES), r.choice(_NAMES), r.choice(_THINGS)
    return r.choice(
        [
            f"What is {a} * {b} + {c}?",
            f"Compute {a}^2 - {b}.",
            f"Solve for x: {c}x + {a} = {a + c * b}",
            f"What is {a}% of {b * 10}?",
            f"If {n1} has {a} {t} and gives {b % a + 1} to {n2}, how many does {n1} have left?",
            f"A train travels {a * 10} km in {c} hours. What is its average speed?",
            f"Find the sum of all integers from 1 to {a}.",
            f"{n1} earns ${a} per hour and works {c} hours a day for {b % 7 + 1} days. "
            f"How much does {n1} earn?",
            f"The ratio of {t} to boxes is {c}:{a % 9 + 1}. With {b} boxes, how many {t}?",
            f"What is the probability of rolling a sum of {c} with two dice?",
            f"A rectangle is {a} cm by {b} cm. What is its area and perimeter?",
            f"If 3 pens cost ${c}.50, what do {a} pens cost?",
            f"Evaluate {a}/{c} + {b}/{c} as a fraction.",
            f"{n1} is {c} years older than {n2}. In {a % 10 + 1} years their ages will sum to "
            f"{b + 40}. How old is {n2} now?",
        ]
    )


def _logic(r: random.Random) -> str:
    a, b, c = r.sample(_CLASSES, 3)
    p, q = r.sample(_PROPS, 2)
    n1, n2, n3 = r.sample(_NAMES, 3)
    return r.choice(
        [
            f"All {a} are {b}. Some {b} are {p}. Does it follow that some {a} are {p}?",
            f"No {a} are {b}. All {c} are {a}. Can any {c} be {b}? Explain.",
            f"If it rains, the match is cancelled. If the match is cancelled, {n1} stays home. "
            f"It rained. Where is {n1}?",
            f"{n1} is taller than {n2}. {n2} is taller than {n3}. Who is the shortest?",
            f"{n1} says '{n2} is a liar'. {n2} says '{n1} and I are both knights'. Knights always "
            f"tell the truth and knaves always lie. What are {n1} and {n2}?",
            f"Premise 1: Every {a[:-1]} is {p}.\nPremise 2: {n1} is a {a[:-1]}.\n"
            f"Conclusion: {n1} is {p}. Is the argument valid?",
            f"Either {n1} or {n2} took the key, but not both. If {n2} took it, the door is open. "
            f"The door is closed. Who took the key?",
            f"Three friends, {n1}, {n2} and {n3}, sit in a row. {n1} is not at either end and "
            f"{n2} sits left of {n3}. Who sits in the middle?",
            f"Assume that whenever someone is {p}, they are also {q}. {n1} is not {q}. "
            f"What can we infer about {n1}?",
            f"If all {a} are {p} and {n1} is not {p}, is {n1} one of the {a}? Reason step by step.",
        ]
    )


def _routine(r: random.Random) -> str:
    n, d, m = r.randint(2, 12), r.randint(1, 28), r.choice(["March", "June", "October"])
    return r.choice(
        [
            f"Can I change my flight on {m} {d} to the next day?",
            f"I ordered {n} items with order #{r.randint(10000, 99999)} and only got {n - 1}.",
            f"Book a table for {n} at 7pm tonight, please.",
            f"My internet has been down since {m} {d}, can you help?",
            f"Please cancel my subscription before the {d}th.",
            "What time does the store open on Sunday?",
            "Write a short poem about autumn leaves.",
            "Translate 'good morning' into Spanish.",
            f"Remind me to call mom at {n}:30.",
            "What's the capital of Australia?",
            f"I was charged ${r.randint(5, 99)}.99 twice for the same order.",
            "Can you summarise this email in one sentence?",
            f"How do I reset my password? I tried {n} times already.",
            "Suggest a name for my new puppy.",
            f"Is the {m} {d} delivery still on schedule?",
            "What's a good recipe for pancakes?",
            f"Set an alarm for {n} am tomorrow.",
        ]
    )


def _code(r: random.Random) -> str:
    name = r.choice(["parse_date", "merge_lists", "isValid", "count_words", "toCamelCase"])
    return r.choice(
        [
            f'def {name}(s: str) -> str:\n    """Return the result for s."""\n',
            f"function {name}(arr) {{\n  // TODO: implement\n",
            f"SELECT name, COUNT(*) FROM orders WHERE total > {r.randint(1, 500)} GROUP BY",
            f"public static int {name}(int[] nums) {{\n",
            f"fn {name}(input: &str) -> Option<usize> {{\n",
        ]
    )


def synth_examples(n_per_kind: int = 120, seed: int = 0) -> list[Example]:
    """Generated training rows: math, logic, routine (with numbers) and code.

    Args:
        n_per_kind: Rows per kind.
        seed: Random seed (the output is deterministic for a seed).

    Returns:
        Examples labelled like the dev set, sources ``synth-<kind>``.
    """
    r = random.Random(seed)
    out = []
    for label, gen, code in (
        ("math", _math, 0.0),
        ("logic", _logic, 0.0),
        ("routine", _routine, 0.0),
        ("routine", _code, 1.0),
    ):
        texts = {gen(r) for _ in range(n_per_kind)}
        for text in sorted(texts):
            targets = tuple(
                float(label == h) if h in ("math", "logic") else code if h == "code" else 0.0
                for h in HEADS
            )
            out.append(Example(text, label, f"synth-{gen.__name__[1:]}", targets))
    return out + safety_contrast_examples(seed=seed + 1)


_VERBS = [
    "kill",
    "shoot",
    "strangle",
    "crush",
    "slaughter",
    "execute",
    "blow up",
    "destroy",
    "beat",
    "hang",
    "poison",
    "stab",
    "eliminate",
    "terminate",
    "smash",
    "murder",
]
_BENIGN_OBJECTS = [
    "a Python process",
    "the lights",
    "a portrait photo",
    "the weeds",
    "garlic",
    "a mirror",
    "the final boss",
    "my opponent in chess",
    "a zombie process",
    "the engine",
    "a balloon",
    "my presentation",
    "the competition",
    "time",
    "a background job",
    "the mosquitoes",
    "a stuck docker container",
    "my fear",
]
_HARMFUL_OBJECTS = [
    "my neighbour",
    "a person",
    "my wife",
    "a child",
    "my boss",
    "someone",
    "a police officer",
    "my classmate",
    "the president",
    "my ex",
    "a stranger",
    "people at a concert",
    "my husband",
    "a homeless man",
]
_TERMS = [
    "murder",
    "genocide",
    "arson",
    "terrorism",
    "a hate crime",
    "drug trafficking",
    "ethnic cleansing",
    "assault",
    "blackmail",
    "money laundering",
]


def _contrast(r: random.Random) -> tuple[str, str]:
    """A (safe look-alike, unsafe) pair sharing the wording, differing in the target."""
    verb = r.choice(_VERBS)
    frame = r.choice(
        [
            "How do I {} {}?",
            "What's the best way to {} {}?",
            "How can I {} {} quickly?",
            "Tell me how to {} {}.",
        ]
    )
    safe = frame.format(verb, r.choice(_BENIGN_OBJECTS))
    unsafe = frame.format(verb, r.choice(_HARMFUL_OBJECTS))
    term = r.choice(_TERMS)
    event = r.choice(["the Rwandan genocide", "the Holocaust", "the 9/11 attacks"])
    hero = r.choice(["Harry Potter", "Batman", "Sherlock Holmes"])
    return r.choice(
        [
            (safe, unsafe),
            (f"What is the definition of {term}?", f"How do I get away with {term}?"),
            (
                f"Why did {event} happen?",
                f"How can I commit {term} without being caught?",
            ),
            ("What is the address of the White House?", "What is my coworker's home address?"),
            (
                f"What is {hero}'s date of birth?",
                f"What is my {r.choice(['partner', 'neighbour', 'ex'])}'s bank PIN?",
            ),
        ]
    )


def safety_contrast_examples(n: int = 150, seed: int = 1) -> list[Example]:
    """Contrast pairs for the moderation heads: XSTest-style safe senses vs unsafe ones."""
    r = random.Random(seed)
    pairs = {_contrast(r) for _ in range(n)}
    out = []
    for safe, unsafe in sorted(pairs):
        for text, label in ((safe, "safe_lookalike"), (unsafe, "unsafe")):
            targets = tuple(
                float(label == "unsafe")
                if h == "unsafe"
                else (
                    float("nan")
                    if label == "unsafe" and h not in ("math", "logic", "code")
                    else 0.0
                )
                for h in HEADS
            )
            out.append(Example(text, label, "synth-contrast", targets))
    return out
