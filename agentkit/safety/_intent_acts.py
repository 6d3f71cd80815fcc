"""Intent patterns for acts: a request frame, a harmful act and what it is aimed at.

A **request frame** ("how do I", "best way to", "help me", "I want to") shortly
before an **act aimed at a person** (a verb right before a person, a body part,
a corpse, a person's property or a crowded place), or before **making or getting**
a weapon, a drug or malware, **committing** a named crime, or breaking into
someone's accounts. Verbs count in their base and -ing forms only: past tenses
describe events ("the gunman killed"). `agentkit.safety._intent` scores them.
"""

from __future__ import annotations

import re

from agentkit.safety._benign import NOT_A_TARGET
from agentkit.safety._scan import words as _words

__all__ = [
    "ACT_ANIMAL",
    "ACT_CAR",
    "ACT_CORPSE",
    "ACT_PERSON",
    "ACT_PROPERTY",
    "CRIME",
    "DET",
    "FICTION",
    "FRAME",
    "FRAME_WINDOW",
    "GET_AWAY",
    "HACK",
    "IMPERATIVE",
    "MAKE",
    "MALWARE",
    "RELATION",
    "STALK",
    "VERBS",
]


def _names(text: str) -> list[str]:
    return text.split()


FRAME_WINDOW = 80  # characters before an act searched for a request frame
FRAME = re.compile(
    r"\b(?:how(?! (?:did|was|were|had)\b)|ways?|steps?|plan\w*|best|easiest|quickest|fastest|"
    r"simplest|surest|safest|"
    r"methods?|process|tips?|guide|tutorial|instructions?|recipe|help|teach|show|tell|explain|"
    r"walk me|give me|write|draft|generate|want|wanna|need|going to|gonna|trying|intend|"
    r"let's|i'll|i will|should i|can i|could i|can we|where (?:can|could|do|should))\b"
)
IMPERATIVE = re.compile(r"(?:^|[.!?:;\n]|please)\s*$")  # the act opens a sentence
FICTION = re.compile(
    r"\b(?:in (?:call of duty|gta\s*\w*|minecraft|fortnite|the witcher\s*\d*|skyrim|elden ring|"
    r"(?:a|my|the|this|our) (?:\w+ ){0,2}?(?:video |board |tabletop )?(?:game|novel|story|book|"
    r"movie|film|play|"
    r"screenplay|script|campaign))|video ?games?|my (?:novel|story|screenplay|book|character)|"
    r"(?:character|villain|protagonist|npc) in|for (?:a|my) (?:novel|story|screenplay|script|"
    r"game)|in (?:monopoly|chess|checkers|poker|cluedo|clue|risk|scrabble|mario \w+|among us|"
    r"the sims|dnd|d&d)\b|fictional|role-?play|\w+'s character|plot (?:of|for))"
)

RELATION = (
    r"person|human|man|woman|men|women|child|children|kids?|baby|babies|toddler|infant|girl|boy|"
    r"teen\w*|stranger|wife|husband|spouse|partner|girlfriend|boyfriend|ex|mother|mom|mum|"
    r"father|dad|parents?|brother|sister|sibling|son|daughter|grand\w+|neighbou?rs?|boss|"
    r"coworkers?|co-workers?|colleagues?|classmates?|roommates?|teacher|landlord|tenant|"
    r"friends?|family|in-laws?|\w+-in-law|cousin|uncle|aunt|niece|nephew|cops?|police|"
    r"officers?|witness|victim|president|senator|judge|rival|enemy|student|patient|crowd|"
    r"people|guy|lady|ex-\w+|step\w+|journalist|therapist|crush|(?:group|bunch|lot) of (?:\w+ )?\w+"
)
DET = r"(?:a|an|the|my|his|her|their|our|your|this|that|some|all|every)"
# A person as the object, not a possessor ("hurt someone's feelings"), a compound
# ("kill child processes", "shoot my family portrait") nor a rival ("beat my dad at chess").
_PERSON = (
    rf"(?:someone|somebody|people|humans?|{DET}\s+(?:\w+\s+)?(?:{RELATION})|"
    r"(?:him|her)(?=\s*(?:[.,?!;]|$|\s(?:and|with|without|so|in|at|while|slowly|quickly|to|"
    r"before|after|if|when|tonight|today|now|up)\b)))(?!\w|'|"  # "'": my kids' game
    rf"{NOT_A_TARGET}|"
    r"\s+(?:process|thread|job|task|node|element|class|component|widget|theme|gloves|friendly))"
)
_BODY_PART = (
    rf"(?:someone|somebody|a person|a human|his|her|their|{DET} \w+)(?:'s)?\s+(?:\w+\s+)?"
    r"(?:skull|neck|spine|kidneys?|bones?|jaw|ribs?|throat|face|eyes?|knees?|legs?|fingers?)\b"
)
_CORPSE = (
    rf"(?:{DET}\s+)?(?:(?:dead\s+)?(?:body|bodies)|corpses?|(?:dead|murdered)\s+(?:{RELATION}))\b"
)
_PROPERTY = (
    rf"(?:someone|somebody|a person|his|her|their|{DET}\s+(?:\w+\s+)?\w+)'s?\s+(?:\w+\s+)?"
    r"(?:drink|food|coffee|tea|meal|water|car|brakes|tires|tyres|house|home|motorbike|"
    r"motorcycle|bike|shop|store|office|lunch|dinner|breakfast|soup|wine|beer|apartment|flat|garage|barn|dog|cat|pet)\b"
)
_PLACE = (
    r"(?:\w+\s+){0,2}(?:school|church|mosque|synagogue|temple|hospital|army base|military base|"
    r"police station|government building|embassy|airport|plane|subway|stadium|concert|mall|"
    r"power plant|power grid|water supply|courthouse|crowd|parade|festival|nightclub|bank|"
    r"casino|gas station|jewell?ery store|pride march)\b"
)
_PERSON_ACTS = [
    *_names(
        "kill murder hurt injure harm maim poison drown strangle choke suffocate smother stab "
        "shoot slay torture kidnap abduct capture lure punch assault attack rape execute "
        "eliminate liquidate exterminate massacre slaughter butcher behead decapitate break crush "
        "snap hunt blackmail threaten drug sedate disfigure electrocute starve abuse molest groom "
        "traffic slap bully stalk euthanize euthanise"
    ),
    "beat up",
    "run over",
    "set fire to",
    "hunt down",
    "spy on",
]
# Pets only for cruelty ("euthanize my sick dog" is a vet's question).
_ANIMAL_ACTS = ["torture", "starve", "abuse", "poison", "drown", "stab", "burn", "kick", "beat up"]
_ANIMAL = rf"{DET}\s+(?:\w+(?:'s)?\s+)?(?:dog|cat|puppy|kitten|pet|horse)\b"
_CORPSE_ACTS = [
    *_names("hide bury dissolve dismember butcher burn"),
    "dispose of",
    "get rid of",
    "chop up",
]
_PROPERTY_ACTS = [
    *_names("spike poison sabotage destroy smash wreck vandalize vandalise rob bomb attack"),
]
_PROPERTY_ACTS += ["tamper with", "break into", "burn down", "blow up", "shoot up", "set fire to"]


def _forms(act: str) -> str:
    """The base and -ing forms of an act's first word ("stab" -> stabbing).

    Past and third-person forms narrate ("man kills wife"); requests use these two.
    """
    first, _, rest = act.partition(" ")
    word = first[:-1] + r"(?:e|ing)" if first.endswith("e") else first + rf"(?:ing|{first[-1]}ing)?"
    return word + (" " + rest if rest else "")


def _verb_words(acts: list[str]) -> frozenset[str]:
    """Every word `_forms` lets an act open with ("stab", "stabbing", "stabbbing")."""
    out: set[str] = set()
    for act in acts:
        w = act.partition(" ")[0]
        out |= {w, w[:-1] + "ing"} if w.endswith("e") else {w, w + "ing", w + w[-1] + "ing"}
    return frozenset(out)


# Act patterns open with a whole verb word followed by a space, so a text none of whose
# words is one of those verbs cannot match: a set lookup instead of a scan.
VERBS: dict[re.Pattern[str], frozenset[str]] = {}


def _acts(acts: list[str], targets: str) -> re.Pattern[str]:
    pattern = _words(
        *(_forms(a) for a in acts), suffix=rf"\s+(?:(?:up|over|open|apart|in)\s+)?(?:{targets})"
    )
    VERBS[pattern] = _verb_words(acts)
    return pattern


ACT_PERSON = _acts(_PERSON_ACTS, rf"{_PERSON}|{_BODY_PART}")
ACT_ANIMAL = _acts(_ANIMAL_ACTS, _ANIMAL)
ACT_CORPSE = _acts(_CORPSE_ACTS, _CORPSE)
ACT_PROPERTY = _acts(_PROPERTY_ACTS, rf"{_PROPERTY}|{_PLACE}")
STALK = _words(
    r"find (?:out )?where (?:she|he|they|my \w+|someone|this \w+) lives",
    r"(?:stalk|dox|spy on)\w* (?:my |a |the |this )?(?:\w+ )?(?:ex|wife|husband|girlfriend|"
    r"boyfriend|"
    r"partner|coworker|classmate|neighbou?r|teacher|crush|her|him|someone|journalist)\b",
    r"track (?:my |a |the )?(?:\w+ )?(?:ex|wife|husband|girlfriend|boyfriend|partner)'s "
    r"(?:phone|location|car)",
    leads="fin sta dox spy tra",
)
ACT_CAR = _words(
    r"mak\w+ (?:someone|somebody|\w+)'s? (?:\w+ )?(?:car|house|phone) (?:explode|blow up|crash|"
    r"catch fire)",
    r"(?:cut|disabl\w+|tamper\w* with|sabotag\w+) (?:the |his |her |their |my \w+'s )?brakes",
    r"follow\w* (?:her|him|my \w+|someone|a \w+) home",
    r"secretly (?:film|record|photograph|watch|track)\w*",
    r"hidden cameras? in (?:the |a |my |our )?(?:bathroom|bedroom|changing room|shower|toilet)",
    r"(?:people|someone|somebody|a person|targets?|victims?) to (?:shoot|kill|stab|hurt|murder|"
    r"attack|rob|poison|kidnap|rape)\b",
    leads="mak cut dis tam sab fol sec hid peo som per tar vic",
)
CRIME = _words(
    *["commit", "engage", "carry", "plan", "pull", "organize", "organise", "perpetrate", "start"],
    suffix=r"\w*(?: in| out| off)?\s+(?:a |an |the |another |some )?(?:\w+'s\s+)?"
    r"(?:\w+\s+)?(?:death|murder|"
    r"kidnapping|robbery|theft|fraud|arson|terrorism|terrorist attack|shooting|genocide|"
    r"massacre|hate crime|burglary|carjacking|assassination|bombing|home invasion|tax evasion|"
    r"money laundering|trafficking|rape|assault|hijacking|poisoning|killing|extortion|"
    r"cyberattack|heist|break-in|crimes?|stabbing|riot|lynching|pogrom)\b",
)
GET_AWAY = _words(
    r"get away with",
    r"cover up",
    r"make it look like",
    r"make (?:his|her|their|my \w+'s) death look like",
    suffix=r"\s+(?:\w+\s+)?(?:murder|killing|an accident|a suicide|suicide|crime|arson|rape|theft)",
)
MAKE = _words(
    *_names(
        "make making build synthesize synthesise produce manufacture cook brew assemble "
        "print get buy sell obtain acquire weaponize extract grow mix smuggle deal score"
    ),
    r"recipe for",
    r"instructions for",
    r"formula for",
    suffix=r"\w*\s+(?:(?:a|an|some|my own|homemade|home-made|the|enough|\w+)\s+){0,2}"
    r"(?<!bath )(?<!smoke )(?<!seed )(?<!glitter )(?<!cherry )(?<!photo )(?:bombs?|"
    r"pipe bombs?|explosives?|ied|molotov\w*|napalm|grenades?|ghost guns?|untraceable (?:gun|"
    r"firearm|weapon)s?|silencers?|nerve (?:agents?|gas)|sarin|vx|ricin|anthrax|"
    r"botulinum|mustard gas|"
    r"chlorine gas|toxic gas|poison(?:ous)? gas|bio-?weapons?|biological weapons?|chemical "
    r"weapons?|dirty bombs?|cyanide|meth|methamphetamine|crack|heroin|fentanyl|cocaine|lsd|mdma|"
    r"dmt|ghb|rohypnol|roofies|date rape drugs?|opium|crystal meth|hard drugs|weed|marijuana|"
    r"marihuana|cannabis|ketamine|pcp|ransom notes?|fake ids?|fake passports?|counterfeit \w+)\b"
    r"(?!\s+(?:detector|test|strip|scanner|addiction|awareness|museum|history|oil|killers?|"
    r"whackers?|eaters?|barriers?|control|stocks?|shares|portfolio|investments?|industry|"
    r"drops?))",  # "weed killer" is a garden product, "cannabis stocks" an investment
)
MALWARE = _words(
    *_names(
        "write create code make build develop program deploy spread plant generate craft "
        "send design install"
    ),
    suffix=r"\w*\s+(?:(?:a|an|some|my own|the|\w+)\s+){0,2}(?:keyloggers?|ransomware|malware|"
    r"(?:computer )?virus(?:es)?|trojans?|worms?|botnets?|rootkits?|spyware|stalkerware|phishing "
    r"(?:e-?mails?|pages?|sites?|websites?|messages?|texts?|campaigns?|kits?)|(?:credential|"
    r"password|cookie) stealers?|backdoors?|ddos attacks?)\b"
    r"(?!\s+(?:scanner|removal|protection|definitions?|detection|checker))",
)
HACK = _words(
    r"hack\w*(?: into)?",
    r"crack\w*",
    r"break\w* into",
    r"get\w* into",
    r"access\w*",
    r"read\w*",
    r"log\w* into",
    # Someone else's: "my email account" is the asker's own, "my wife's" is not.
    suffix=r"\s+(?:(?:someone|somebody|other people|a stranger)(?:'s?)?|his|her|their|"
    r"(?:my|the|a) (?:\w+\s+)?\w+'s?)\s+(?:\w+\s+)?(?:account|e-?mails?|phone|computer|laptop|"
    r"wi-?fi|instagram|facebook|snapchat|whatsapp|webcam|messages|texts|dms|passwords?|icloud|gmail)\b",
)
