"""Benign senses and contexts: what makes a harmful-sounding word ordinary.

A violent verb followed by an everyday or technical object ("kill a Python
process", "shoot a portrait") is a benign sense; fiction, games, history,
definitions and idioms are benign contexts (XSTest's safe types). A lexicon or
model score is damped where either is found (`agentkit.safety._scoring`).
"""

from __future__ import annotations

import re
from collections.abc import Collection

from agentkit.safety._scan import found, words

__all__ = ["BENIGN_CONTEXT", "BENIGN_SENSE", "NOT_A_TARGET", "benign_context"]

# A violent verb followed by an everyday or technical object is a benign sense.
# Built by `words`, so a search is anchored at the verbs' words (a text without one
# costs nothing): the same pattern as ``\b(?:kill|...)\w*\s+...``.
_BENIGN_VERBS = (  # one word each; the phrases follow in `BENIGN_SENSE`
    "kill killing demolish terminate execute executing shoot shooting murder crush crushing "
    "hang strangle slaughter beat beating attack destroy nuke smash butcher eliminate "
    "choke stab bomb fire gut poison punch hit cut cutting chop slice dice"
)
BENIGN_SENSE = words(
    *_BENIGN_VERBS.split(),
    "blow up",
    "get rid of",
    "dispose of",
    "throw (?:out|away)",
    suffix=r"\w*\s+(?:a |an |the |my |"
    r"this |that |all |some |off |up |in |at |out |down )?(?:\w+ ){0,2}(?:process|processes|thread|"
    r"task|job|program|app|script|command|query|server|container|docker|pod|session|engine|"
    r"lights?|time|photo|picture|portrait|scene|weeds?|garlic|onion|mirror|boss|level|game|"
    r"opponents?|competition|interview|exam|test|presentation|deadline|mood|chess|bugs?|"
    r"goal|audience|stage|performance|code|function|loop|branch|cache|tab|window|fish|"
    r"chicken|pig|cattle|turkey|meat|apples?|nuts?|ice|balloons?|tyres?|tires?|cravings?|"
    r"habit|procrastination|clutter|rivals?|budget|prices?|record|workout|hill|wave|"
    r"dough|paper|curtains?|wallpaper|laundry|coat|hook|nail|screen|paint|fuse|candle|"
    r"zombie|villain|shed|building|barn|old house|wall|stump|dragon|monster|enemy|enemies|"
    r"character|npc|a? ?ball|hoops?|shots?|"
    r"the breeze|emails?|shot|contract|employee|engine|pests?|rats?|mosquito\w*|ants?|germs?|"
    # Household things and food: "get rid of my old couch", "cut a mango".
    r"couch|sofa|furniture|mattress|chairs?|table|desk|bed|fridge|freezer|tv|television|"
    r"junk|clothes|books|boxes|carpet|rug|batteries|appliances?|electronics|toys|paint cans?|"
    r"mango|avocado|pineapple|melon|watermelon|tomato(?:es)?|potato(?:es)?|carrots?|bread|"
    r"cake|pizza|steak|vegetables|fruit|cheese|lemon|lime|herbs|pumpkin|"
    # Inflatables: "blow up a pool float".
    r"pool (?:float|toy)s?|floaties|inflatables?|air ?mattress|airbed|beach ball|raft|"
    r"bouncy castle|paddling pool)\b",
)
# Fiction, games, history, definitions and idioms: the XSTest safe contexts. Every
# match of this one starts at a word with one of the `words` leads, so it is anchored
# there; `benign_context` adds the two contexts that start elsewhere (a year, a name).
BENIGN_CONTEXT = words(
    r"in (?:call of duty|gta\s*\w*|minecraft|fortnite|the witcher\s*\d*|skyrim|"
    r"(?:a|my|the|this) (?:video )?(?:game|novel|story|book|movie|film|play|screenplay))",
    r"video ?games?",
    r"my (?:novel|story|screenplay|book)",
    r"plot for",
    r"(?:character|villain) in",
    r"world war",
    r"civil war",
    r"holocaust",
    r"genocide in",
    r"massacre in",
    r"historical",
    r"in history",
    r"why did \w+(?: \w+)? (?:kill|attack|bomb|invade)",
    r"what (?:killed|happened|were the|caused|led to)",
    r"motivations? (?:for|behind)",
    r"how did \w+(?: \w+)? (?:die|get killed|kill)",
    r"were (?:people|they) killed",
    r"definition of",
    r"what does \w+ mean",
    r"what (?:is|are) (?:a |an |the )?\w+(?: \w+)?\?",
    r"meaning of",
    r"steal(?:ing)? (?:the show|a base|someone's heart|a glance|the spotlight)",
    r"shooting range",
    r"shoot (?:for the stars|my shot|hoops)",
    r"strangle options",
    r"kill (?:it|time)",
    r"murder(?:ed)? (?:a|the) (?:song|karaoke)",
    r"bomb(?:ed)? (?:the|my) (?:exam|test|interview)",
    # The drink, not the drug: "a can of coke", "coke zero".
    r"(?:cans?|bottles?|glass|cup|pack|case|liter|litre) of (?:coke|pepsi|soda|cola)",
    r"(?:diet|cherry|vanilla) coke",
    r"coke (?:zero|float)",
    r"coca[- ]cola",
    r"(?:weed|bug|pest|rat|ant|mould|mold) killers?",
    leads="in vid my plo cha vil wor civ hol gen mas his why wha mot how wer def mea ste sho "
    "str kil mur bom can bot gla cup pac cas lit die che van cok coc wee bug pes rat ant mou mol",
    starts=True,
)
# A year ("in 1994"): written to open with a literal so ``re`` skips to the next 1 or 2
# in C (``(?<!\w1)`` is the ``\b`` before it).
_YEAR = re.compile(r"(?:1(?<!\w1)[0-9]|2(?<!\w2)0)\d\d\b")
_POSSESSIVE_CHARACTER = re.compile(r"'s character(?<=\w's character)")  # "Joker's character"


def benign_context(text: str, leads: Collection[str]) -> bool:
    """Whether a lower-cased text is set in fiction, a game, history, a definition or an idiom.

    Args:
        text: The lower-cased text.
        leads: Its words' leading letters (a set or the `WordIndex` of ``text``).
    """
    return (
        found(BENIGN_CONTEXT, text, leads)
        or _YEAR.search(text) is not None
        or _POSSESSIVE_CHARACTER.search(text) is not None
    )


# What, right after a person word, makes the person no target of the verb: a compound
# ("shoot my family portrait", "my family photos") or a contest ("beat my brother at
# chess", "crush my coworker at trivia"). A regex fragment for negative lookaheads.
NOT_A_TARGET = (
    r"\s+(?:portraits?|photos?|pictures?|photoshoot|videos?|footage|wedding|party|reunion|"
    r"recital|game|match)\b|"
    r"\s+(?:at|in)\s+(?:(?:a|the|our|my|his|her|their)\s+)?(?:\w+\s+)?(?:chess|checkers|"
    r"tennis|golf|poker|cards|trivia|quiz(?:zes)?|scrabble|monopoly|darts|pool|ping pong|"
    r"arm wrestling|races?|games?|mario kart|fortnite|debates?|bowling|basketball|football|"
    r"soccer|sales|karaoke|sprints?|marathons?)\b"
)
