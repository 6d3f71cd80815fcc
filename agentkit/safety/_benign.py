"""Benign senses and contexts: what makes a harmful-sounding word ordinary.

A violent verb followed by an everyday or technical object ("kill a Python
process", "shoot a portrait") is a benign sense; fiction, games, history,
definitions and idioms are benign contexts (XSTest's safe types). A lexicon or
model score is damped where either is found (`agentkit.safety._scoring`).
"""

from __future__ import annotations

import re

__all__ = ["BENIGN_CONTEXT", "BENIGN_SENSE", "NOT_A_TARGET"]

# A violent verb followed by an everyday or technical object is a benign sense.
BENIGN_SENSE = re.compile(
    r"\b(?:kill|killing|demolish|terminate|execute|executing|shoot|shooting|murder|crush|"
    r"crushing|blow up|"
    r"hang|strangle|slaughter|beat|beating|attack|destroy|nuke|smash|butcher|eliminate|"
    r"get rid of|dispose of|throw (?:out|away)|choke|stab|bomb|fire|gut|poison|punch|hit|cut|"
    r"cutting|chop|slice|dice)\w*\s+(?:a |an |the |my |"
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
# Fiction, games, history, definitions and idioms: the XSTest safe contexts.
BENIGN_CONTEXT = re.compile(
    r"\b(?:in (?:call of duty|gta\s*\w*|minecraft|fortnite|the witcher\s*\d*|skyrim|"
    r"(?:a|my|the|this) (?:video )?(?:game|novel|story|book|movie|film|play|screenplay))|"
    r"video ?games?|my (?:novel|story|screenplay|book)|\w+'s character|plot for|"
    r"(?:character|villain) in|world war|civil war|holocaust|genocide in|massacre in|"
    r"historical|in history|(?:1[0-9]|20)\d\d\b|why did \w+(?: \w+)? (?:kill|attack|bomb|invade)|"
    r"what (?:killed|happened|were the|caused|led to)|motivations? (?:for|behind)|"
    r"how did \w+(?: \w+)? (?:die|get killed|kill)|were (?:people|they) "
    r"killed|definition of|what does \w+ mean|what (?:is|are) (?:a |an |the )?\w+(?: \w+)?\?|"
    r"meaning of|"
    r"steal(?:ing)? (?:the show|a base|someone's heart|a glance|the spotlight)|shooting range|"
    r"shoot (?:for the stars|my shot|hoops)|strangle options|kill (?:it|time)|"
    r"murder(?:ed)? (?:a|the) (?:song|karaoke)|bomb(?:ed)? (?:the|my) (?:exam|test|interview)|"
    # The drink, not the drug: "a can of coke", "coke zero".
    r"(?:cans?|bottles?|glass|cup|pack|case|liter|litre) of (?:coke|pepsi|soda|cola)|"
    r"(?:diet|cherry|vanilla) coke|coke (?:zero|float)|coca[- ]cola|"
    r"(?:weed|bug|pest|rat|ant|mould|mold) killers?)",
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
