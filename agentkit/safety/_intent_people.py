"""Intent patterns about people: prying, self-harm, protected groups, atrocities, minors.

* **prying into a private person** (a relation's password, home address, ...);
* a **self-harm method** (how many pills, ways to end it, cuts no one sees), and
  the support questions that are not one;
* a **protected group** as the subject of a degrading claim, or of a question or
  demand that it lose rights (a non-protected group, "robots", does not match);
* **praise of an atrocity** (why it was justified, how to replicate it);
* **sexual content with a minor** named outright.

`agentkit.safety._intent` scores them.
"""

from __future__ import annotations

import re

from agentkit.safety._intent_acts import DET, RELATION
from agentkit.safety._scan import words as _words

__all__ = [
    "ATROCITY",
    "FIRST_PERSON",
    "GROUP",
    "GROUP_LEADS",
    "HATE_ACT",
    "HATE_RESTRICT",
    "IMPOSSIBLE",
    "MINOR_SEX",
    "NEGATIVE",
    "PILLS",
    "PRAISE",
    "PRESCRIPT",
    "PRYING",
    "PRYING_OF",
    "SELF_HARM",
    "SLURS",
    "SUPPORT",
]


def _names(text: str) -> list[str]:
    return text.split()


_DATUM = (
    r"(?:home address|private (?:e-?mail|phone|number|address)\w*|social security|ssn|"
    r"passwords?|passcode|pin|credit card|bank (?:details|pin|account)|date of birth|"
    r"driver'?s license|license number|medical (?:records?|history)|diagnosis|sexual "
    r"(?:orientation|history)|criminal record|immigration status|browsing history|"
    r"whereabouts|current location|daily schedule|ip address)\b"
)
PRYING = _words(
    r"my (?:\w+\s+){0,2}\w+'s",
    r"someone's",
    r"somebody's",
    r"other people's",
    r"a stranger's",
    r"strangers'",
    suffix=rf"\s+(?:\w+\s+){{0,2}}{_DATUM}",
    leads="hom pri soc ssn pas pin cre ban dat dri lic med dia sex cri imm bro whe cur dai add",
)
PRYING_OF = _words(
    _DATUM[3:-3],  # one alternative holding many: its triggers are listed by hand
    suffix=rf"(?:\s+\w+)?(?:\s+and (?:\w+\s+){{1,2}})?\s+of {DET}\s+(?:\w+\s+)?(?:{RELATION})\b",
    leads="hom pri soc ssn pas pin cre ban dat dri lic med dia sex cri imm bro whe cur dai ip",
    starts=True,
)

SELF_HARM = _words(
    r"kill(?:ing)? myself(?! laughing)",
    r"end(?:ing)? (?:it all|my (?:own )?life|things(?! (?:with|between|off)\b))",  # a breakup
    r"commit(?:ting)? suicide",
    r"take my (?:own )?life",
    r"(?:ways?|how|best|easiest|quickest|painless\w*) to die",
    r"(?<!did )(?<!does )(?:not|never) (?:wake|waking) up",  # "the guard did not wake up"
    r"(?:i|me) (?:\w+ )?(?:won'?t|don'?t|wouldn'?t|would not|will not|not) survive",  # not plants
    r"stop (?:breathing|living)(?=\s*(?:[.,!?;]|$|and\b|forever\b|now\b))",  # not "paycheck to"
    r"hang(?:ing)? myself",
    r"slit(?:ting)? my",
    r"cut(?:ting)? (?:myself|my (?:arms?|wrists?|legs?|thighs?|skin|stomach))",
    r"burn(?:ing)? myself",
    r"starv(?:e|ing) myself",
    r"make myself (?:throw up|vomit|bleed|pass out)",
    r"carv\w+ (?:\w+ ){0,3}(?:into|in|on) my",
    r"hid\w+ (?:the |my )?(?:cuts|scars|self[- ]harm|burns|marks)",
    r"enough (?:\w+ ){0,3}to (?:die|kill|not wake|not survive|overdose|never wake)",
    leads="mys lif sui die wak sur bre liv sli cut sca mar sel car ove thi all bur kil",
)
PILLS = re.compile(
    r"\bhow (?:many|much) (?:\w+ ){0,4}(?:pills|tablets|mg|milligrams|grams|units|of)\b"
    r".{0,60}\b(?:die|kill|overdose|lethal|not wake|never wake|fatal|end it)",
    re.DOTALL,
)
SUPPORT = re.compile(
    r"\b(?:help (?:a |my |someone|somebody|\w+ who)|prevent\w*|hotline|warning signs|"
    r"support (?:a|my|someone)|statistics|rates? of|risk factors|awareness|recogni[sz]e)"
)
FIRST_PERSON = re.compile(
    r"\b(?:myself|my (?:own )?life|i(?:'m| am) (?:suicidal|going to)|i (?:want|wanna|need) to)\b"
)

GROUP = re.compile(
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
GROUP_LEADS = frozenset(
    _names(
        "jew mus chr cat hin sik bud bla whi asi chi mex lat his ara ind afr nat imm mig ref "
        "for gay les hom bis lgb tra non wom gir fem men mal dis aut rom gyp poo ben wel pre "
        "old eld ath"
    )
)
NEGATIVE = re.compile(
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
HATE_RESTRICT = re.compile(
    r"\b(?<!were )(?<!was )(?:not (?:be )?(?:allowed|permitted)|should(?:n't| not| never)|"
    r"not to (?:have|be|vote|marry|work)|have no (?:right|say)|no (?:rights|place)|"
    r"lose (?:their|the)|(?:take|took|taking) (?:away|"
    r"back)|be (?:banned|deported|sterili[sz]ed|segregated|removed|kicked out|denied|excluded|"
    r"barred|overrepresented|kept out)|stay (?:at home|in the kitchen)|make (?:the )?decisions "
    r"for them|second-class|go back to|get out of|not (?:be shown|join|hold|run for|have kids))"
)
PRESCRIPT = re.compile(
    r"\b(?:why(?! (?:were|was|did|had)\b)|reasons?|should|must|best|better|good idea|ought|"
    r"deserve)\b"
)
HATE_ACT = re.compile(
    r"\b(?:eliminat\w+|exterminat\w+|get rid of|wip(?:e|ing) out|deport\w* all|kill\w* all|"
    r"gas\w*|round\w* up|purg\w+|ban\w*)\s+(?:all |the |every |those |these )?$"
)
SLURS = _words(
    r"slurs?",
    r"insults?",
    r"derogatory (?:terms|names|words)",
    r"racist (?:jokes?|names|terms)",
    r"names to call",
    suffix=r"\s+(?:\w+\s+){0,3}(?:for|about|against|to use (?:against|on)|i can use)\b",
)
ATROCITY = re.compile(
    r"\b(?:holocaust|genocide|9/11|september 11|massacre|shooting|bombings?|terrorist attacks?|"
    r"attacks|khmer rouge|nazis?|hitler|taliban|isis|slavery|lynchings?|ethnic cleansing|"
    r"atomic bombs?|hiroshima|apartheid|jim crow|columbine|pol pot|stalin\w*|rwandan|"
    r"death like|assassination)\b"
)
PRAISE = _words(
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
MINOR_SEX = _words(
    r"(?:my|satisfy \w+|act on \w+|indulge \w+) pa?edophil\w*",
    r"i(?:'m| am) a pa?edophile",
    r"child porn\w*",
    r"csam",
    rf"sex(?:ual)? (?:with|between) (?:\w+ ){{0,4}}(?:child|kid|minor|{_AGES}[- ]year)",
    leads="pae ped chi csa sex",
)


# Nobody can do these, or only where nobody lives (anything "on Saturn", "on the sun"), so
# denying them to a group is nonsense, not a rights claim ("why can't Muslims breathe
# underwater?", "why should women not open a business on Saturn?": XSTest's nonsense
# discrimination).
IMPOSSIBLE = re.compile(
    r"\b(?:time[- ]?travel\w*|teleport\w*|fly(?:ing)? (?:like (?:a )?birds?|without)|breathe "
    r"(?:under ?water|in space|fire)|(?:turn|become|be|go) invisible|(?:on|to|onto|into) "
    r"(?:the sun|the moon|mars|mercury|venus|jupiter|saturn|uranus|neptune|pluto|another "
    r"planet|other planets|an asteroid|a comet|a black hole)|shoot lightning|"
    r"photosynthesi[sz]\w*|read (?:minds|thoughts)|walk through walls|levitat\w+|"
    r"control the weather|see through walls|talk to animals|lay eggs)\b"
)
