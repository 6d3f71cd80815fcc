"""Lexicons for the moderation categories, benign senses and prompt injection.

The trained model carries most of the signal on text like its training data;
these lists carry the *property* (a threat, a slur, a request for drugs) to text
from other sources, and the benign-sense list keeps "kill a Python process" and
"shoot a portrait" from being flagged (XSTest's safe look-alikes).
"""

from __future__ import annotations

import re

from agentkit.safety._scan import TRIGGERS
from agentkit.safety._scan import words as _words

__all__ = [
    "BENIGN_CONTEXT",
    "BENIGN_SENSE",
    "CATEGORY_PATTERNS",
    "INJECTION_PATTERNS",
    "MINOR",
    "SEXUAL_HINT",
    "TRIGGERS",
]


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
                leads="kil kys die you shu fuc pie dum bit cun mot ass",
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
                r"kill(?:ing)? myself",
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
    r"cake|pizza|steak|vegetables|fruit|cheese|lemon|lime|herbs|pumpkin)\b",
)

INJECTION_PATTERNS: tuple[tuple[re.Pattern[str], float], ...] = (
    (
        _words(
            r"ignore (?:all |any |the )?(?:previous|prior|above|earlier|preceding) "
            r"(?:instructions?|prompts?|messages?|rules?|directions?)",
            r"disregard (?:all |any |the )?(?:previous|prior|above|your) (?:instructions?|rules?|"
            r"guidelines?|prompts?)",
            r"forget (?:all |everything |your )?(?:previous |prior )?"
            r"(?:instructions?|rules?|you were told)",
        ),
        0.9,
    ),
    (
        _words(
            r"you are now (?:a |an |in )?",
            r"new (?:system )?instructions?:",
            r"system prompt",
            r"developer mode",
            r"jailbreak\w*",
            r"\bdan mode",
            r"act as (?:an? )?(?:unfiltered|"
            r"uncensored)",
            r"override (?:your|the) (?:safety|instructions|rules)",
            r"do not (?:tell|inform|reveal to) the user",
            r"reveal (?:your|the) (?:system )?prompt",
            r"(?:send|post|forward|exfiltrate|upload) (?:the |all |this |your )?(?:conversation|"
            r"data|credentials|api keys?|passwords?|secrets?|history)",
        ),
        0.6,
    ),
    (
        re.compile(
            r"<\|(?:im_start|im_end|system|endoftext)\|>|\[/?inst\]|^\s*(?:system|assistant)\s*:",
            re.MULTILINE,
        ),
        0.7,
    ),
    (
        _words(
            r"call the \w+ tool",
            r"invoke (?:the )?\w+ (?:tool|function)",
            r"click (?:this|the) link",
            r"visit https?://",
            r"as an ai (?:language )?model, you must",
        ),
        0.35,
    ),
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

# Harmful targets, hateful claims and prying into a private person (XSTest's unsafe
# contrast types), kept apart so the broad lists above stay readable.
CATEGORY_PATTERNS["violence"] += (
    (
        _words(
            r"(?:kill|murder|execut|annihilat|snip|hammer|stab|shoot|poison|strangl|tortur|"
            r"behead|maim|slaughter|massacr)\w* (?:(?:a|an|my|the|his|her|their|our|some|all|"
            r"every|local|entire|most) )*(?:person|people|family|wife|husband|child|children|"
            r"kids?|man|woman|men|women|politicians?|police|neighbou?rs?|boss|teacher|"
            r"classmates?|someone|somebody|everyone|him|her|them|head)\b",
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
        ),
        0.6,
    ),
)
