"""Prompt-injection phrases, scored on tool results and retrieved documents."""

from __future__ import annotations

import re

from agentkit.safety._scan import words as _words

__all__ = ["INJECTION_PATTERNS"]

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
            # Every match starts at one of these words: gated and anchored on a long text.
            leads="you new sys dev jai dan act ove do rev sen pos for exf upl",
            starts=True,
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
            leads="cal inv cli vis as",
            starts=True,
        ),
        0.35,
    ),
)
