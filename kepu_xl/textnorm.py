"""Text normalisation shared by every comparison of typed text: text → the key it is compared by.

One place, so that the roster's check for look-alike unit names and the identification of a
return by its unit cell can never disagree about which names are "the same".
"""

from __future__ import annotations

import re
import unicodedata

# after NFKC, （）［］ are already ()[]; these brackets have no compatibility form
_BRACKETS = dict.fromkeys(map(ord, "()[]{}【】〔〕〖〗〈〉《》「」『』"))
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def invisible(text: str) -> list[str]:
    """The format characters in `text` (zero-width spaces and joiners, bidi controls, BOM, soft hyphen)."""
    return [ch for ch in text if unicodedata.category(ch) == "Cf"]


def without_invisible(text: str) -> str:
    if text.isascii():  # no format character is ASCII: the common case costs one check
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def controls(text: str) -> list[str]:
    """The C0/C1 control characters in `text` (CR, LF, tab, ESC, NUL, …)."""
    return _CONTROL.findall(text)


def escaped(text: str) -> str:
    """`text` with its control characters written out (`a\\nb`), fit to be shown in a message."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def squash(text: str) -> str:
    """NFKC (full-width → ASCII), format characters and all whitespace (NBSP, 　, tab) removed."""
    return "".join(without_invisible(unicodedata.normalize("NFKC", text or "")).split())


def name_key(text: str) -> str:
    """What two unit names are compared by: `squash`, brackets removed, case folded.

    `城关街道（一）`, `城关街道(一)`, `城关街道一` and `城关 街道(一)` have one key, as do `县妇联` and
    `县妇\\u200b联`, or `县科协A` and `县科协Ａ`.
    """
    return squash(text).translate(_BRACKETS).casefold()


def shown(chars: list[str]) -> str:
    """Characters a user cannot see, named the way a message can show them: `\\n`, `U+200B`."""
    names = {"\n": "换行 \\n", "\r": "回车 \\r", "\t": "制表符 \\t"}
    return "、".join(dict.fromkeys(names.get(ch) or f"U+{ord(ch):04X}" for ch in chars))
