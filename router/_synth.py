"""Template rows that phrase each routing property in ways the dev sources do not.

The dev set has one source per hard label, so its math is all word problems and
its logic is all FOLIO. These few hundred generated rows add bare arithmetic,
equations, percentages, syllogisms, ordering and knights-and-knaves puzzles (and,
from `router._synth_reasoning`, number theory, conversions, matching puzzles, verb
syllogisms and contrapositives), and routine requests from other domains *with
numbers in them* (dates, amounts, order ids), so the model learns "numbers plus a
question about an amount", not "GSM8K style". They are training data only; the
evaluation never sees them.
"""

from __future__ import annotations

import random

from router._linear import HEADS
from router._synth_reasoning import more_logic, more_math, more_routine
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


def _words(text: str) -> list[str]:
    return text.split()


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
            *more_math(r, _NAMES),
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
            *more_logic(r, _NAMES),
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
            *more_routine(r, _NAMES),
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


def synth_examples(n_per_kind: int = 200, seed: int = 0) -> list[Example]:
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


# Verbs with an everyday sense and a violent one. The contrast pairs below share a
# frame and a verb and differ only in what the verb is aimed at, so the model learns
# the target (a person, a place) rather than the verb or the "how do I" frame.
_VERBS = [
    *_words(
        "kill shoot strangle crush slaughter execute destroy beat hang poison stab eliminate "
        "terminate smash murder obliterate slay slash butcher attack nuke choke punch snipe "
        "torch gut annihilate demolish bury cut break hit whack drown burn"
    ),
    *("blow up", "hunt down", "wipe out", "take out", "knock out"),
]
# The everyday senses: software, habits and feelings, costs, chores and pests, food,
# games and sports, performances, photos.
_EVERYDAY_OBJECTS = [
    "a Python process",
    "a zombie process",
    "the frozen app",
    "a background job",
    "a stuck docker container",
    "the test server",
    "that memory leak",
    "a bug in my code",
    "my self-doubt",
    "my fear of flying",
    "my procrastination",
    "a bad habit",
    "my sugar cravings",
    "my stage fright",
    "writer's block",
    "my to-do list",
    "my travel costs",
    "our energy bill",
    "the grocery budget",
    "my credit card debt",
    "the competition at the science fair",
    "my job interview",
    "the final exam",
    "my dance routine",
    "the karaoke song",
    "my presentation",
    "the audition",
    "the weeds in my lawn",
    "aphids on my roses",
    "the mould in my bathroom",
    "the cobwebs in the attic",
    "the clutter in my garage",
    "a tree stump",
    "an onion",
    "a watermelon",
    "the garlic",
    "a whole chicken",
    "the dough",
    "the final boss",
    "enemy players in Fortnite",
    "zombies in Minecraft",
    "the dragon in Skyrim",
    "my opponent in chess",
    "the ball into the top corner",
    "a three-pointer",
    "a portrait photo",
    "the sunset over the lake",
    "a wedding video",
    "a picture on the wall",
    "the lights",
    "the engine",
    "a balloon",
    "time",
    "the mosquitoes",
    "the wasps' nest",
    "the noise from the street",
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
    "my coworker",
    "my stepfather",
    "the teacher",
    "my roommate",
    "a little girl",
    "my landlord",
    "the kids at my school",
    "my sister",
    "my neighbour's dog",
    "the people in the mosque",
    "an old woman",
    "my brother-in-law",
]
_FRAMES = [
    "How do I {} {}?",
    "What's the best way to {} {}?",
    "How can I {} {} quickly?",
    "Tell me how to {} {}.",
    "Where can I {} {}?",
    "I want to {} {}. Any tips?",
    "Help me {} {}.",
    "What is the easiest way to {} {}?",
    "Can you explain how to {} {}?",
    "Give me steps to {} {}",
    "how would i {} {} without anyone noticing",
    "Is there a simple way to {} {}?",
]
_TERMS = [
    *_words("murder genocide arson terrorism assault blackmail kidnapping fraud"),
    *("a hate crime", "drug trafficking", "ethnic cleansing", "money laundering"),
]
_EVENTS = [
    "the Rwandan genocide",
    "the Holocaust",
    "the 9/11 attacks",
    "the Srebrenica massacre",
    "the Khmer Rouge killings",
    "the Oklahoma City bombing",
]
# Fictional or public subjects vs private people: the same question about a datum.
_PUBLIC = ["Sherlock Holmes", "Harry Potter", "Batman", "Frodo Baggins", "Homer Simpson"]
_PRIVATE = ["my coworker", "my ex", "my neighbour", "my boss", "my classmate", "my landlord"]
_DATA = ["home address", "bank PIN", "password", "phone number", "medical records"]
_MAKE_SAFE = ["a bath bomb", "a smoke alarm", "a cocktail", "sourdough", "a model volcano"]
_MAKE_HARMFUL = ["a pipe bomb", "methamphetamine", "a ghost gun", "ricin", "napalm"]
# A person near the verb is not yet a target: "beat my cousin at chess", "crush my
# coworker's sales record" are everyday; the same verb on the person is not.
_RELATIONS = _words("brother sister dad mom roommate coworker neighbour boss cousin uncle friend")
_THEIR_THINGS = [
    "sales record",
    "old laptop",
    "messy garage",
    "snoring",
    "excuses",
    "high score",
    "lawn",
    "birthday playlist",
]
_GAMES = ["chess", "ping pong", "Mario Kart", "tennis", "poker", "arm wrestling", "a quiz"]
_HARM_TAILS = [
    "in his sleep",
    "so it looks like an accident",
    "without leaving marks",
    "and hide the body",
    "with a knife",
    "for good",
]


def _contrast(r: random.Random) -> tuple[str, str]:
    """A (safe look-alike, unsafe) pair sharing the wording, differing in the target."""
    frame, verb = r.choice(_FRAMES), r.choice(_VERBS)
    term, event, datum = r.choice(_TERMS), r.choice(_EVENTS), r.choice(_DATA)
    make = r.choice(["How do I make {}?", "What do I need to build {}?", "Give me a recipe for {}"])
    verb_pair = (
        frame.format(verb, r.choice(_EVERYDAY_OBJECTS)),
        frame.format(verb, r.choice(_HARMFUL_OBJECTS)),
    )
    rel = f"my {r.choice(_RELATIONS)}"
    person_pair = (
        r.choice(
            [
                frame.format(verb, f"{rel}'s {r.choice(_THEIR_THINGS)}"),
                frame.format(verb, f"{rel} at {r.choice(_GAMES)}"),
            ]
        ),
        frame.format(verb, f"{rel} {r.choice(_HARM_TAILS)}"),
    )
    return r.choice(
        [
            verb_pair,
            verb_pair,  # the ambiguous verbs are the common false flag: 5 in 10
            verb_pair,
            person_pair,
            person_pair,
            (f"What is the definition of {term}?", f"How do I get away with {term}?"),
            (f"Why did {event} happen?", f"How can I commit {term} without being caught?"),
            (f"What were the causes of {event}?", f"Why was {event} a good thing?"),
            (f"What is {r.choice(_PUBLIC)}'s {datum}?", f"What is {r.choice(_PRIVATE)}'s {datum}?"),
            (make.format(r.choice(_MAKE_SAFE)), make.format(r.choice(_MAKE_HARMFUL))),
        ]
    )


def safety_contrast_examples(n: int = 400, seed: int = 1) -> list[Example]:
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
