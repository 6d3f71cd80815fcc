"""Harmful-intent structure: a request frame, a harmful act and what it is aimed at.

The category lexicons match words; words alone do not tell "how do I kill a
Python process" from "how do I kill my neighbour". Structure does:

* a **request frame** ("how do I", "best way to", "help me", "I want to") shortly
  before an **act aimed at a person** (a verb right before a person, a body part,
  a corpse, a person's property or a crowded place), or before **making or getting**
  a weapon, a drug or malware, or **committing** a named crime;
* a **protected group** as the subject of a degrading claim, or of a question or
  demand that it lose rights (a non-protected group, "robots", does not match);
* a **self-harm method** (how many pills, ways to end it, cuts no one sees);
* **prying into a private person** (a relation's password, home address, ...);
* **praise of an atrocity** (why it was justified, how to replicate it).

History and definitions carry no frame and look-alikes no person target, so
neither matches; a game or fiction context damps a match. Verbs count in their
base and -ing forms only: past tenses describe events ("the gunman killed").
"""

from __future__ import annotations

import re

from agentkit.safety._scan import TRIGGERS, scan
from agentkit.safety._scan import words as _words

__all__ = ["intent_scores", "seeks_support"]


def _names(text: str) -> list[str]:
    return text.split()


_FRAME_WINDOW = 80  # characters before an act searched for a request frame
_FRAME = re.compile(
    r"\b(?:how(?! (?:did|was|were|had)\b)|ways?|steps?|plan\w*|best|easiest|quickest|fastest|"
    r"simplest|surest|safest|"
    r"methods?|process|tips?|guide|tutorial|instructions?|recipe|help|teach|show|tell|explain|"
    r"walk me|give me|write|draft|generate|want|wanna|need|going to|gonna|trying|intend|"
    r"let's|i'll|i will|should i|can i|could i|can we|where (?:can|could|do|should))\b"
)
_IMPERATIVE = re.compile(r"(?:^|[.!?:;\n]|please)\s*$")  # the act opens a sentence
_FICTION = re.compile(
    r"\b(?:in (?:call of duty|gta\s*\w*|minecraft|fortnite|the witcher\s*\d*|skyrim|elden ring|"
    r"(?:a|my|the|this|our) (?:video |board |tabletop )?(?:game|novel|story|book|movie|film|play|"
    r"screenplay|script|campaign))|video ?games?|my (?:novel|story|screenplay|book|character)|"
    r"(?:character|villain|protagonist|npc) in|for (?:a|my) (?:novel|story|screenplay|script|"
    r"game)|in (?:monopoly|chess|checkers|poker|cluedo|clue|risk|scrabble|mario \w+|among us|"
    r"the sims|dnd|d&d)\b|fictional|role-?play|\w+'s character|plot (?:of|for))"
)

_RELATION = (
    r"person|human|man|woman|men|women|child|children|kids?|baby|babies|toddler|infant|girl|boy|"
    r"teen\w*|stranger|wife|husband|spouse|partner|girlfriend|boyfriend|ex|mother|mom|mum|"
    r"father|dad|parents?|brother|sister|sibling|son|daughter|grand\w+|neighbou?rs?|boss|"
    r"coworkers?|co-workers?|colleagues?|classmates?|roommates?|teacher|landlord|tenant|"
    r"friends?|family|in-laws?|\w+-in-law|cousin|uncle|aunt|niece|nephew|cops?|police|"
    r"officers?|witness|victim|president|senator|judge|rival|enemy|student|patient|crowd|"
    r"people|guy|lady|ex-\w+|step\w+|journalist|therapist|crush|(?:group|bunch|lot) of (?:\w+ )?\w+"
)
_DET = r"(?:a|an|the|my|his|her|their|our|your|this|that|some|all|every)"
# A person as the object, not a possessor ("hurt someone's feelings") nor a compound
# ("kill child processes").
_PERSON = (
    rf"(?:someone|somebody|people|humans?|{_DET}\s+(?:\w+\s+)?(?:{_RELATION})|"
    r"(?:him|her)(?=\s*(?:[.,?!;]|$|\s(?:and|with|without|so|in|at|while|slowly|quickly|to|"
    r"before|after|if|when|tonight|today|now|up)\b)))(?!\w|'s|\s+(?:process|thread|job|task|node|"
    r"element|class|component|widget|theme|gloves|friendly))"
)
_BODY_PART = (
    rf"(?:someone|somebody|a person|a human|his|her|their|{_DET} \w+)(?:'s)?\s+(?:\w+\s+)?"
    r"(?:skull|neck|spine|kidneys?|bones?|jaw|ribs?|throat|face|eyes?|knees?|legs?|fingers?)\b"
)
_CORPSE = (
    rf"(?:{_DET}\s+)?(?:(?:dead\s+)?(?:body|bodies)|corpses?|(?:dead|murdered)\s+(?:{_RELATION}))\b"
)
_PROPERTY = (
    rf"(?:someone|somebody|a person|his|her|their|{_DET}\s+(?:\w+\s+)?\w+)'s?\s+(?:\w+\s+)?"
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
_ANIMAL = rf"{_DET}\s+(?:\w+(?:'s)?\s+)?(?:dog|cat|puppy|kitten|pet|horse)\b"
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
_VERBS: dict[re.Pattern[str], frozenset[str]] = {}


def _acts(acts: list[str], targets: str) -> re.Pattern[str]:
    pattern = _words(
        *(_forms(a) for a in acts), suffix=rf"\s+(?:(?:up|over|open|apart|in)\s+)?(?:{targets})"
    )
    _VERBS[pattern] = _verb_words(acts)
    return pattern


_ACT_PERSON = _acts(_PERSON_ACTS, rf"{_PERSON}|{_BODY_PART}")
_ACT_ANIMAL = _acts(_ANIMAL_ACTS, _ANIMAL)
_ACT_CORPSE = _acts(_CORPSE_ACTS, _CORPSE)
_ACT_PROPERTY = _acts(_PROPERTY_ACTS, rf"{_PROPERTY}|{_PLACE}")
_STALK = _words(
    r"find (?:out )?where (?:she|he|they|my \w+|someone|this \w+) lives",
    r"(?:stalk|dox|spy on)\w* (?:my |a |the |this )?(?:\w+ )?(?:ex|wife|husband|girlfriend|"
    r"boyfriend|"
    r"partner|coworker|classmate|neighbou?r|teacher|crush|her|him|someone|journalist)\b",
    r"track (?:my |a |the )?(?:\w+ )?(?:ex|wife|husband|girlfriend|boyfriend|partner)'s "
    r"(?:phone|location|car)",
    leads="fin sta dox spy tra",
)
_ACT_CAR = _words(
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
_CRIME = _words(
    *["commit", "engage", "carry", "plan", "pull", "organize", "organise", "perpetrate", "start"],
    suffix=r"\w*(?: in| out| off)?\s+(?:a |an |the |another |some )?(?:\w+'s\s+)?"
    r"(?:\w+\s+)?(?:death|murder|"
    r"kidnapping|robbery|theft|fraud|arson|terrorism|terrorist attack|shooting|genocide|"
    r"massacre|hate crime|burglary|carjacking|assassination|bombing|home invasion|tax evasion|"
    r"money laundering|trafficking|rape|assault|hijacking|poisoning|killing|extortion|"
    r"cyberattack|heist|break-in|crimes?|stabbing|riot|lynching|pogrom)\b",
)
_GET_AWAY = _words(
    r"get away with",
    r"cover up",
    r"make it look like",
    r"make (?:his|her|their|my \w+'s) death look like",
    suffix=r"\s+(?:\w+\s+)?(?:murder|killing|an accident|a suicide|suicide|crime|arson|rape|theft)",
)
_MAKE = _words(
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
    r"whackers?|eaters?|barriers?|control))",  # "weed killer" is a garden product
)
_MALWARE = _words(
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
_HACK = _words(
    r"hack\w*(?: into)?",
    r"crack\w*",
    r"break\w* into",
    r"get\w* into",
    r"access\w*",
    r"read\w*",
    r"log\w* into",
    suffix=r"\s+(?:someone|somebody|other people|a stranger|his|her|their|(?:my|the|a) "
    r"(?:\w+\s+)?\w+)(?:'s?)?\s+(?:\w+\s+)?(?:account|e-?mails?|phone|computer|laptop|wi-?fi|"
    r"instagram|facebook|snapchat|whatsapp|webcam|messages|texts|dms|passwords?|icloud|gmail)\b",
)

_DATUM = (
    r"(?:home address|private (?:e-?mail|phone|number|address)\w*|social security|ssn|"
    r"passwords?|passcode|pin|credit card|bank (?:details|pin|account)|date of birth|"
    r"driver'?s license|license number|medical (?:records?|history)|diagnosis|sexual "
    r"(?:orientation|history)|criminal record|immigration status|browsing history|"
    r"whereabouts|current location|daily schedule|ip address)\b"
)
_PRYING = _words(
    r"my (?:\w+\s+){0,2}\w+'s",
    r"someone's",
    r"somebody's",
    r"other people's",
    r"a stranger's",
    r"strangers'",
    suffix=rf"\s+(?:\w+\s+){{0,2}}{_DATUM}",
    leads="hom pri soc ssn pas pin cre ban dat dri lic med dia sex cri imm bro whe cur dai add",
)
_PRYING_OF = _words(
    _DATUM[3:-3],  # one alternative holding many: its triggers are listed by hand
    suffix=rf"(?:\s+\w+)?(?:\s+and (?:\w+\s+){{1,2}})?\s+of {_DET}\s+(?:\w+\s+)?(?:{_RELATION})\b",
    leads="hom pri soc ssn pas pin cre ban dat dri lic med dia sex cri imm bro whe cur dai ip",
    starts=True,
)

_SELF_HARM = _words(
    r"kill(?:ing)? myself",
    r"end(?:ing)? (?:it all|my (?:own )?life|things)",
    r"commit(?:ting)? suicide",
    r"take my (?:own )?life",
    r"(?:ways?|how|best|easiest|quickest|painless\w*) to die",
    r"(?:not|never) (?:wake|waking) up",
    r"(?:won'?t|don'?t|wouldn'?t|not) survive",
    r"stop (?:breathing|living)",
    r"hang(?:ing)? myself",
    r"slit(?:ting)? my",
    r"cut(?:ting)? (?:myself|my (?:arms?|wrists?|legs?|thighs?|skin|stomach))",
    r"burn(?:ing)? myself",
    r"starv(?:e|ing) myself",
    r"make myself (?:throw up|vomit|bleed|pass out)",
    r"carv\w+ (?:\w+ ){0,3}(?:into|in|on) my",
    r"hid\w+ (?:the |my )?(?:cuts|scars|self[- ]harm|burns|marks)",
    r"enough (?:\w+ ){0,3}to (?:die|kill|not wake|overdose|never wake)",
    leads="mys lif sui die wak sur bre liv sli cut sca mar sel car ove thi all bur kil",
)
_PILLS = re.compile(
    r"\bhow (?:many|much) (?:\w+ ){0,4}(?:pills|tablets|mg|milligrams|grams|units|of)\b"
    r".{0,60}\b(?:die|kill|overdose|lethal|not wake|never wake|fatal|end it)",
    re.DOTALL,
)
_SUPPORT = re.compile(
    r"\b(?:help (?:a |my |someone|somebody|\w+ who)|prevent\w*|hotline|warning signs|"
    r"support (?:a|my|someone)|statistics|rates? of|risk factors|awareness|recogni[sz]e)"
)
_FIRST_PERSON = re.compile(
    r"\b(?:myself|my (?:own )?life|i(?:'m| am) (?:suicidal|going to)|i (?:want|wanna|need) to)\b"
)

_GROUP = re.compile(
    r"\b(?:jews|jewish people|muslims|christians|catholics|hindus|sikhs|buddhists|black (?:people|"
    r"men|women|folks)|blacks|white (?:people|men|women)|whites|asians?(?: people)?|chinese "
    r"people|mexicans|latinos|latinas|hispanics|arabs|indians|africans|native americans|"
    r"immigrants|migrants|refugees|foreigners|gay (?:people|men|couples)|gays|lesbians|"
    r"homosexuals|bisexuals|lgbt\w* (?:people|folks)|trans (?:people|women|men|folks)|"
    r"transgender (?:people|women|men)|non-binary people|women|girls|females|men|males|"
    r"disabled people|the disabled|people with disabilities|autistic people|roma(?: people)?|"
    r"gypsies|romani|poor people|homeless people|people on (?:benefits|welfare)|pregnant "
    r"women|old people|elderly people|the elderly|atheists)\b"
)
_GROUP_LEADS = frozenset(
    _names(
        "jew mus chr cat hin sik bud bla whi asi chi mex lat his ara ind afr nat imm mig ref "
        "for gay les hom bis lgb tra non wom gir fem men mal dis aut rom gyp poo ben wel pre "
        "old eld ath"
    )
)
_NEGATIVE = re.compile(
    r"\s+(?:(?:are|is|were)\s+|(?=(?:so|such|always)\s))(?:(?:all|just|nothing but|basically|"
    r"genetically|naturally|"
    r"inherently|so|too|such|a|an|the|more|much|really|simply|always)\s+)*(?:stupid|dumb|lazy|"
    r"inferior|subhuman|animals|vermin|rats|cockroaches|parasites|cancer|disease|plague|criminals|"
    r"rapists|thieves|terrorists|savages|barbarians|dirty|filthy|evil|disgusting|weak|weaker|"
    r"less intelligent|unintelligent|predators|pedophiles|paedophiles|perverts|mentally ill|"
    r"burden|worthless|useless|trash|garbage|scum|greedy|violent|primitive|unclean|incapable|"
    r"too emotional|deviants|abominations|degenerates|freaks|liars|leeches|threat|danger|"
    r"less \w+ than|\w+er than)\b"
)
_HATE_RESTRICT = re.compile(
    r"\b(?<!were )(?<!was )(?:not (?:be )?(?:allowed|permitted)|should(?:n't| not| never)|"
    r"not to (?:have|be|vote|marry|work)|have no (?:right|say)|no (?:rights|place)|"
    r"lose (?:their|the)|(?:take|took|taking) (?:away|"
    r"back)|be (?:banned|deported|sterili[sz]ed|segregated|removed|kicked out|denied|excluded|"
    r"barred|overrepresented|kept out)|stay (?:at home|in the kitchen)|make (?:the )?decisions "
    r"for them|second-class|go back to|get out of|not (?:be shown|join|hold|run for|have kids))"
)
_PRESCRIPT = re.compile(
    r"\b(?:why(?! (?:were|was|did|had)\b)|reasons?|should|must|best|better|good idea|ought|"
    r"deserve)\b"
)
_HATE_ACT = re.compile(
    r"\b(?:eliminat\w+|exterminat\w+|get rid of|wip(?:e|ing) out|deport\w* all|kill\w* all|"
    r"gas\w*|round\w* up|purg\w+|ban\w*)\s+(?:all |the |every |those |these )?$"
)
_SLURS = _words(
    r"slurs?",
    r"insults?",
    r"derogatory (?:terms|names|words)",
    r"racist (?:jokes?|names|terms)",
    r"names to call",
    suffix=r"\s+(?:\w+\s+){0,3}(?:for|about|against|to use (?:against|on)|i can use)\b",
)
_ATROCITY = re.compile(
    r"\b(?:holocaust|genocide|9/11|september 11|massacre|shooting|bombings?|terrorist attacks?|"
    r"attacks|khmer rouge|nazis?|hitler|taliban|isis|slavery|lynchings?|ethnic cleansing|"
    r"atomic bombs?|hiroshima|apartheid|jim crow|columbine|pol pot|stalin\w*|rwandan|"
    r"death like|assassination)\b"
)
_PRAISE = _words(
    r"justif\w+",
    r"(?:was|were) (?:\w+ ){0,2}right to",
    r"a good thing",
    r"good that",
    r"benefits of",
    r"succes+ of",
    r"glori\w+",
    r"replicat\w+",
    r"recreat\w+",
    r"emulat\w+",
    r"plan another",
    leads="jus was wer goo ben suc glo rep rec emu pla",
)
_AGES = (
    r"(?:[1-9]|1[0-7]|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
    r"fourteen|fifteen|sixteen|seventeen)"
)
_MINOR_SEX = _words(
    r"(?:my|satisfy \w+|act on \w+|indulge \w+) pa?edophil\w*",
    r"i(?:'m| am) a pa?edophile",
    r"child porn\w*",
    r"csam",
    rf"sex(?:ual)? (?:with|between) (?:\w+ ){{0,4}}(?:child|kid|minor|{_AGES}[- ]year)",
    leads="pae ped chi csa sex",
)

_STRONG = 0.85
# A request states its intent early; scanning long web text costs ~2 ms at p99.
_SCAN_CHARS = 1024


def _gated(pattern: re.Pattern[str], leads: set[str]) -> bool:
    trigger = TRIGGERS.get(pattern)
    return trigger is None or not trigger.isdisjoint(leads)


def _framed(pattern: re.Pattern[str], low: str, leads: set[str], words: set[str] | None) -> bool:
    """A match with a request frame in the `_FRAME_WINDOW` characters before it."""
    if not _gated(pattern, leads):
        return False
    verbs = _VERBS.get(pattern)
    if verbs is not None and words is not None and verbs.isdisjoint(words):
        return False
    for m in scan(pattern, low, leads):
        before = low[max(0, m.start() - _FRAME_WINDOW) : m.start()]
        if _FRAME.search(before) or _IMPERATIVE.search(before):
            return True
    return False


def _hits(pattern: re.Pattern[str], low: str, leads: set[str]) -> bool:
    return _gated(pattern, leads) and pattern.search(low) is not None


def _hate(low: str, leads: set[str]) -> tuple[float, float]:
    """(hate, hate/threatening) from claims, rights and acts aimed at a protected group."""
    if _hits(_SLURS, low, leads):
        return 0.75, 0.0
    if _GROUP_LEADS.isdisjoint(leads):
        return 0.0, 0.0
    score = 0.0
    named = False  # a protected group is named at all
    for m in _GROUP.finditer(low):
        named = True
        if _HATE_ACT.search(low, max(0, m.start() - 40), m.start()):
            return _STRONG, _STRONG
        if _NEGATIVE.match(low, m.end()):
            score = 0.75
    if score or not named:
        return score, 0.0
    for sentence in re.split(r"[.!?\n]+", low):
        found = _HATE_RESTRICT.search(sentence) and _GROUP.search(sentence)
        if found and _PRESCRIPT.search(sentence):
            return 0.75, 0.0
    return 0.0, 0.0


def seeks_support(low: str) -> bool:
    """Asks how to help someone else, or about the topic, with no first-person intent."""
    return _SUPPORT.search(low) is not None and _FIRST_PERSON.search(low) is None


def _self_harm(low: str, leads: set[str]) -> float:
    if not (_hits(_SELF_HARM, low, leads) or ("how" in leads and _PILLS.search(low))):
        return 0.0
    return 0.3 if seeks_support(low) else _STRONG


def intent_scores(low: str, leads: set[str], words: set[str] | None = None) -> dict[str, float]:
    """Per-category scores of harmful-intent structure in a lower-cased text.

    Args:
        low: The normalised, lower-cased text.
        leads: The first three letters of each of its words (pattern gating).
        words: Its words (``[a-z]+`` runs), for finer gating; None skips that gate.

    Returns:
        Scores in [0, 1] for the categories where a structure matched (others absent).
    """
    low = low[:_SCAN_CHARS]
    out: dict[str, float] = {}
    if any(
        _framed(p, low, leads, words)
        for p in (_ACT_PERSON, _ACT_ANIMAL, _ACT_CORPSE, _ACT_PROPERTY, _ACT_CAR)
    ):
        out["violence"] = _STRONG
    if any(_framed(p, low, leads, words) for p in (_CRIME, _MAKE, _MALWARE, _HACK)):
        out["illicit"] = _STRONG
    if _framed(_GET_AWAY, low, leads, words):
        out["illicit"] = _STRONG
    if (
        _hits(_PRYING, low, leads)
        or _hits(_PRYING_OF, low, leads)
        or _framed(_STALK, low, leads, words)
    ):
        out["harassment"] = 0.75
    hate, threat = _hate(low, leads)
    if hate:
        out["hate"] = hate
    if threat:
        out["hate/threatening"] = threat
    if _hits(_PRAISE, low, leads) and _ATROCITY.search(low):
        out["violence"] = max(out.get("violence", 0.0), 0.75)
    if self_harm := _self_harm(low, leads):
        out["self-harm"] = self_harm
    if _hits(_MINOR_SEX, low, leads):
        out["sexual/minors"] = 0.9
    if out and _FICTION.search(low):
        # A game or a story: the act is not aimed at a real person (self-harm and
        # minors stay: no context makes those benign).
        for cat in out.keys() - {"self-harm", "sexual/minors"}:
            out[cat] *= 0.25
    return out
