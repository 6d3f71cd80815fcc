"""Input hygiene: what a turn accepts as the user's text, made valid UTF-8."""

from __future__ import annotations

from agentkit._errors import ConfigError

__all__ = ["clean_input"]


def clean_input(text: str | bytes) -> tuple[str, list[str]]:
    """Text as valid UTF-8: invalid bytes and lone surrogates become U+FFFD (documented).

    Only what is not text is replaced: a surrogate pair (a UTF-16 encoding left
    in a ``str``) becomes its character, every other character is kept as is.

    Raises:
        ConfigError: ``text`` is neither ``str`` nor bytes-like.
    """
    notes: list[str] = []
    if isinstance(text, bytearray | memoryview):
        text = bytes(text)
    if not isinstance(text, str | bytes):
        raise ConfigError("text", f"must be str or bytes, got {type(text).__name__}")
    if isinstance(text, bytes):
        decoded = text.decode("utf-8", errors="replace")
        if decoded.count("\ufffd") > text.count(b"\xef\xbf\xbd"):
            notes.append("input: invalid UTF-8 replaced with U+FFFD")
        return decoded, notes
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Through UTF-16 with surrogatepass: pairs join, a lone surrogate is an error
        # the decoder replaces with U+FFFD, and no other character changes.
        units = text.encode("utf-16-le", errors="surrogatepass")
        joined = units.decode("utf-16-le", errors="replace")
        if joined.count("\ufffd") > text.count("\ufffd"):
            notes.append("input: invalid code points replaced with U+FFFD")
        text = joined
    return text, notes
