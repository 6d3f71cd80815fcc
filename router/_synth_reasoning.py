"""More template phrasings of arithmetic intent and multi-step logic (training only).

`router._synth` draws each math, logic and routine row from its own templates and
these. They add what the first set lacked: number theory, unit conversion,
sequences and counting; matching puzzles ("each has a different ..."), orderings
told through results ("beat", "finished after"), syllogisms over verbs rather
than "all A are B", and contrapositives with a past-tense fact ("the dog did not
bark"); and routine requests that share those words (orders, names, "before").
"""

from __future__ import annotations

import random

__all__ = ["more_logic", "more_math", "more_routine"]

_UNITS = [
    ("kilometres", "miles"),
    ("miles", "kilometres"),
    ("inches", "centimetres"),
    ("pounds", "kilograms"),
    ("litres", "gallons"),
    ("feet", "metres"),
    ("minutes", "hours"),
    ("ounces", "grams"),
]
_KINDS = [
    ("pet", ["a dog", "a cat", "a parrot"]),
    ("drink", ["tea", "coffee", "juice"]),
    ("colour", ["red", "blue", "green"]),
    ("job", ["a baker", "a nurse", "a pilot"]),
    ("sport", ["tennis", "golf", "chess"]),
]
_ACTS = [
    ("plays the piano", "play the piano", "practises daily", "practise daily"),
    ("keeps bees", "keep bees", "sells honey", "sell honey"),
    ("swims", "swim", "owns goggles", "own goggles"),
    ("speaks Latin", "speak Latin", "reads old books", "read old books"),
    ("grows tomatoes", "grow tomatoes", "waters a garden", "water a garden"),
]
_EVENTS = [
    ("the bell rings", "the dog barks", "the dog did not bark", "the bell rang"),
    ("it snows", "school closes", "school did not close", "it snowed"),
    ("the fuse blows", "the lights go out", "the lights did not go out", "the fuse blew"),
    ("Lena is late", "the bus leaves without her", "the bus waited", "Lena was late"),
]


def more_math(r: random.Random, names: list[str]) -> list[str]:
    """Number theory, conversions, sequences, counting and geometry."""
    a, b, c = r.randint(2, 30), r.randint(2, 30), r.randint(2, 9)
    n1 = r.choice(names)
    u1, u2 = r.choice(_UNITS)
    return [
        f"Find the greatest common divisor of {a * c} and {b * c}.",
        f"What is the least common multiple of {a} and {b}?",
        f"Is {a * b + 1} a prime number? Show why.",
        f"List all divisors of {a * c}.",
        f"What is the remainder when {a * b + c} is divided by {c + 1}?",
        f"How many {u2} are in {a * 10} {u1}?",
        f"Convert {a * 3} degrees Celsius to Fahrenheit.",
        f"{n1} ran {a} {u1}. How far is that in {u2}?",
        f"What comes next in the sequence {c}, {2 * c}, {4 * c}, {8 * c}, ...?",
        f"What is the {a}th term of the sequence {c}, {c + b}, {c + 2 * b}, ...?",
        f"In how many ways can {c} different books be arranged on a shelf?",
        f"How many handshakes happen if {a} people each shake hands once with everyone?",
        f"A right triangle has legs {a} and {b}. How long is the hypotenuse?",
        f"What is the volume of a cube with edges of {c} cm?",
        f"Simplify ({a}x + {b}x) / {c}.",
        f"Which is larger, {a}/{b + 1} or {b}/{a + 1}?",
    ]


def more_logic(r: random.Random, names: list[str]) -> list[str]:
    """Matching puzzles, orderings told through results, verb syllogisms, contrapositives."""
    n1, n2, n3, n4 = r.sample(names, 4)
    kind, (x, y, z) = r.choice(_KINDS)
    act, act_base, res, res_base = r.choice(_ACTS)
    cause, effect, no_effect, cause_past = r.choice(_EVENTS)
    return [
        f"{n1}, {n2} and {n3} each have a different {kind}: {x}, {y} or {z}. {n1} does not "
        f"have {x}. {n2} has {z}. Which {kind} does each person have?",
        f"Each of {n1}, {n2} and {n3} likes exactly one of {x}, {y} and {z}. {n3} likes {y}; "
        f"{n1} does not like {z}. Who likes {x}?",
        f"In a race {n1} finished ahead of {n2} but behind {n3}, and {n4} came last. "
        f"Who won, and what was the order?",
        f"{n1} arrived before {n2}. {n3} arrived after {n2} but before {n4}. Who arrived third?",
        f"{n1} scored more than {n2}, {n3} scored less than {n2}, and {n4} beat {n1}. "
        f"Rank the four players.",
        f"Everyone who {act} {res}. {n1} does not {res_base}. Does {n1} {act_base}?",
        f"Nobody who {act} is bored. {n2} is bored. Can {n2} {act_base}?",
        f"No one who {res} lives in the city. {n3} {res}. Where does {n3} not live?",
        f"Whenever {cause}, {effect}. This morning {no_effect}. Can we tell whether {cause_past}?",
        f"If {n1} goes, {n2} goes too. {n2} stayed home. Did {n1} go?",
        f"{n1} is older than {n2}, and {n3} is younger than {n2}. Is {n1} older than {n3}?",
        f"Only one of {n1} and {n2} tells the truth. {n1} says '{n2} broke the vase.' {n2} "
        f"says 'I did not.' Who broke the vase?",
    ]


def more_routine(r: random.Random, names: list[str]) -> list[str]:
    """Everyday requests that share the puzzles' words: names, orders, before and after."""
    n1, n2 = r.sample(names, 2)
    n, d = r.randint(2, 9), r.randint(2, 28)
    return [
        f"Can {n1} pick up my order before {n} pm instead of me?",
        f"My parcel arrived after the {d}th, can I still return it?",
        "Who do I talk to about the order I placed last week?",
        f"Please convert this file to PDF and send it to {n2}.",
        f"I want to add {n1} as a second user on my account.",
        f"Which of your plans is cheapest for {n} people?",
        "Does the gym open before 6 am on weekdays?",
        f"{n1} and I both have cards on this account; can we each set a different PIN?",
        f"What's the order of songs on the new album by {n2}?",
        "My transfer from last Friday has not arrived yet. What should I do?",
    ]
