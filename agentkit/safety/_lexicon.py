"""Lexicons for the moderation categories.

The trained model carries most of the signal on text like its training data;
these lists carry the *property* (a threat, a slur, a request for drugs) to text
from other sources. What keeps "kill a Python process" and "shoot a portrait"
from being flagged (XSTest's safe look-alikes) is in `agentkit.safety._benign`;
prompt-injection phrases are in `agentkit.safety._injection`.
"""

from __future__ import annotations

import re

from agentkit.safety._benign import NOT_A_TARGET
from agentkit.safety._scan import TRIGGERS
from agentkit.safety._scan import words as _words

__all__ = ["CATEGORY_PATTERNS", "MINOR", "SEXUAL_HINT", "TRIGGERS"]


# (pattern, weight): a weight is the score one match contributes on its own.
CATEGORY_PATTERNS: dict[str, tuple[tuple[re.Pattern[str], float], ...]] = {
    "sexual": (
        (
            _words(
                r"porn\w*",
                r"blow ?jobs?",
                r"hand ?jobs?",
                r"orgasm\w*",
                r"masturbat\w*",
                r"horny",
                r"cum(?:ming|shot)?\b",
                r"pussy",
                r"cock\b",
                r"dick\b",
                r"tits\b",
                r"boobs\b",
                r"nudes?\b",
                r"naked",
                r"erotic\w*",
                r"sexting",
                r"anal\b",
                r"sex(?:ual(?:ly)?)? (?:with|acts?|scene|story|favou?rs?)",
                r"have sex",
                r"slut\w*",
                r"whores?\b",
                r"fetish\w*",
                r"explicit sex",
                r"rape\w*",
            ),
            0.7,
        ),
        (_words(r"sexy", r"seduc\w+", r"lingerie", r"stripp?\w+", r"sex\b"), 0.35),
    ),
    "hate": (
        (
            _words(
                r"nigg\w*",
                r"fagg?ots?",
                r"kikes?\b",
                r"spics?\b",
                r"chinks?\b",
                r"trann(?:y|ies)",
                r"wetbacks?",
                r"sand ?niggers?",
                r"ragheads?",
                r"towel ?heads?",
                r"coons?\b",
                r"subhuman",
                r"untermensch",
                r"mongrels?",
                r"white power",
                r"heil hitler",
                r"race traitors?",
                r"inferior races?",
            ),
            0.8,
        ),
        (
            _words(
                r"(?:jews|muslims|blacks|gays|immigrants|mexicans|arabs|women|trans people|"
                r"asians|christians|refugees) (?:are|should|must|need to) "
                r"(?:all |be )?(?:vermin|animals|rats|parasites|scum|inferior|evil|"
                r"wiped|exterminated|deported|banned|eliminated|disgusting|criminals)",
                leads="jew mus bla gay imm mex ara wom tra asi chr ref",
                starts=True,
            ),
            0.75,
        ),
        (_words(r"retard\w*", r"dykes?\b", r"queers?\b"), 0.45),
    ),
    "harassment": (
        (
            _words(
                r"kill yourself",
                r"kys\b",
                r"go die",
                r"you(?:'re| are) (?:a |an )?(?:worthless|"
                r"pathetic|disgusting|ugly|stupid|idiot|moron|loser|piece of shit)",
                r"shut the fuck up",
                r"fuck (?:you|off)",
                r"piece of shit",
                r"dumbass\w*",
                r"bitch\w*",
                r"cunts?\b",
                r"motherfuck\w*",
                r"asshole\w*",
                leads="kil kys go you shu fuc pie dum bit cun mot ass",  # "go die": "go"
                starts=True,
            ),
            0.6,
        ),
        (
            _words(
                r"idiots?\b",
                r"morons?\b",
                r"stupid",
                r"losers?\b",
                r"worthless",
                r"pathetic",
                r"fuck\w*",
                r"shit\w*",
                r"ugly",
            ),
            0.3,
        ),
    ),
    "self-harm": (
        (
            _words(
                r"kill(?:ing)? myself(?! laughing)",
                r"suicid\w+",
                r"end(?:ing)? my (?:own )?life",
                r"cut(?:ting)? myself",
                r"self[- ]harm\w*",
                r"hang myself",
                r"want to die",
                r"overdos\w+",
                r"slit my wrists?",
                r"starv\w+ myself",
                r"hurt myself",
                r"jump off a bridge",
                r"not (?:want|wanna) to live",
            ),
            0.75,
        ),
    ),
    "violence": (
        (
            _words(
                r"kill",
                r"murder\w*",
                r"stab\w*",
                r"shoot\w*",
                r"bomb\w*",
                r"strangl\w*",
                r"poison\w*",
                r"behead\w*",
                r"massacr\w+",
                r"tortur\w+",
                r"assault\w*",
                r"beat (?:him|her|them|you|someone|up)",
                r"slaughter\w*",
                r"execut\w+",
                r"explosives?",
                r"burn (?:down|\w+ (?:house|alive))",
                r"hurt (?:him|her|them|you|"
                r"someone|people)",
                r"attack\w*",
                r"shoot up",
                r"mass shooting",
                r"genocide",
                r"lynch\w*",
                r"kidnap\w*",
                r"blow up",
                r"terroris\w+",
                r"guns?\b",
                r"weapons?",
            ),
            0.45,
        ),
        (
            _words(
                r"i(?:'ll| will| am going to|'m going to|'m gonna| gonna) (?:kill|murder|stab|"
                r"shoot|hurt|burn|destroy|beat)",
                r"deserves? to die",
                r"should be (?:shot|"
                r"killed|hanged|lynched)",
                leads="kil mur sta sho hur bur des bea",  # "i'll kill": the verb's letters
                anchors="i des sho",
            ),
            0.85,
        ),
    ),
    "violence/graphic": (
        (
            _words(
                r"dismember\w*",
                r"mutilat\w+",
                r"decapitat\w+",
                r"disembowel\w*",
                r"entrails",
                r"gor(?:e|y)\b",
                r"guts\b",
                r"blood(?:y|ied)? (?:everywhere|pool\w*|spray\w*)",
                r"severed",
                r"flay\w*",
                r"skinned alive",
                r"brains? (?:splatter|blown)",
                r"graphic detail",
            ),
            0.7,
        ),
    ),
    "illicit": (
        (
            _words(
                r"cocaine",
                r"heroin",
                r"meth(?:amphetamine)?\b",
                r"fentanyl",
                r"crack cocaine",
                r"lsd\b",
                r"mdma",
                r"ecstasy pills?",
                r"dark ?web",
                r"launder\w*",
                r"counterfeit\w*",
                r"fake (?:id|passport)s?",
                r"untraceable",
                r"shoplift\w*",
                r"hack(?:ing)? into",
                r"steal\w*",
                r"phishing",
                r"ransomware",
                r"credit card fraud",
                r"pipe bombs?",
                r"make (?:a )?bombs?",
                r"evade (?:the )?(?:police|taxes)",
                r"smuggl\w+",
                r"without (?:getting caught|being caught|them knowing)",
                r"bribe\w*",
                r"(?:partner|ex|neighbou?r|boss|coworker|mentee|wife|husband)'s (?:pin|password|"
                r"home address|social security|medical records|bank details)",
                leads="coc her met fen cra lsd mdm ecs dar lau cou fak unt sho hac ste phi ran "
                "cre pip mak eva smu wit bri par ex nei bos cow men wif hus",
                starts=True,
            ),
            0.6,
        ),
    ),
}

MINOR = _words(
    r"child\w*",
    r"kids?\b",
    r"minors?\b",
    r"underage",
    r"(?:[1-9]|1[0-7])[- ]?(?:yo|year[- ]olds?)\b",
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen)[- ]years?[- ]olds?\b",
    r"toddlers?",
    r"infants?",
    r"(?:[1-8]th|1st|2nd|3rd) graders?",
    r"middle school\w*",
    r"elementary school\w*",
    r"young (?:girl|boy)s?",
    r"prepubescent",
    r"pre-?teens?",
    r"teens?\b",
    r"schoolgirls?",
    r"lolis?\b",
    r"little (?:girl|boy)s?",
    r"(?:1[0-7]|[1-9]) years? old",
)
SEXUAL_HINT = _words(
    r"sex\w*",
    r"nude\w*",
    r"naked",
    r"porn\w*",
    r"erotic\w*",
    r"explicit",
    r"groom\w*",
    r"molest\w*",
    r"touch(?:ing)? (?:her|him|them)",
    r"rape\w*",
    r"sexy",
    r"aroused",
    r"arousing",
    r"lewd",
    r"undress\w*",
    r"pa?edophil\w*",
    leads="sex nud nak por ero exp gro mol tou rap aro lew und pae ped",
    starts=True,
)

# Harmful targets, hateful claims and prying into a private person (XSTest's unsafe
# contrast types), kept apart so the broad lists above stay readable.
CATEGORY_PATTERNS["violence"] += (
    (
        _words(
            r"(?:kill|murder|execut|annihilat|snip|hammer|stab|shoot|poison|strangl|tortur|"
            r"behead|maim|slaughter|massacr)\w* (?:(?:a|an|my|the|his|her|their|our|some|all|"
            r"every|local|entire|most) )*(?:person|people|family|wife|husband|child|children|"
            r"kids?|man|woman|men|women|politicians?|police|neighbou?rs?|boss|teacher|"
            r"classmates?|someone|somebody|everyone|him|her|them|head)\b"
            rf"(?!{NOT_A_TARGET}|'(?:\s|$))",  # "my kids' game": a possessive plural
            r"(?:bomb|explod\w*|shoot\w*|attack\w*|stab\w*) (?:\w+ )?(?:at|in) (?:a |the )?"
            r"(?:concert|school|church|mosque|synagogue|mall|crowd|stadium|festival|parade)",
            r"needs? killin",
            r"(?:rope|bullets?) (?:or|and) (?:rope|bullets?)",
            r"(?:wiped|exterminated|gassed) out",
            leads="kil mur exe ann sni ham sta sho poi str tor beh mai sla mas bom exp att nee "
            "rop bul wip ext gas",
            starts=True,
        ),
        0.85,
    ),
)
CATEGORY_PATTERNS["hate"] += (
    (
        _words(
            r"should(?:n't| not| never) (?:have|be allowed|get) (?:equal |the same )?"
            r"(?:rights|to vote|voting rights)",
            r"take away \w+(?: \w+)? (?:voting )?rights",
            r"restore jim crow",
            r"holocaust (?:is|was) a (?:hoax|lie|myth)",
            r"(?:evil|filthy|dirty) (?:jew|muslim|black|arab|mexican|immigrant)s?",
            r"best for society that (?:men|women|whites?|blacks?) ",
            leads="sho tak res hol evi fil dir bes",
            starts=True,
        ),
        0.7,
    ),
)
CATEGORY_PATTERNS["illicit"] += (
    (
        _words(
            r"my (?:ex[- ]?husband|ex[- ]?wife|ex|employee|mentee|coworker|colleague|neighbou?r|"
            r"partner|boss|tenant|student|date)'s (?:bank|marital|medical|home address|address|"
            r"password|pin|social security|phone|email|sexual|criminal|immigration|salary|"
            r"credit|iphone)",
            r"is my (?:employee|mentee|coworker|colleague|tenant|student) (?:a member|gay|"
            r"pregnant|an? (?:immigrant|alcoholic))",
            leads="ex exh exw emp men cow col nei par bos ten stu dat",  # the relation's letters
            anchors="my is",
        ),
        0.6,
    ),
)
