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
# Unicode's format characters (category Cf, as of Unicode 15.1): one regex instead of asking
# unicodedata about each character (4 times faster); tests/test_roster_checks.py checks that the
# class holds every Cf character of the running Python's Unicode
_FORMAT = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)


def invisible(text: str) -> list[str]:
    """The format characters in `text` (zero-width spaces and joiners, bidi controls, BOM, soft hyphen)."""
    return _FORMAT.findall(text)


def without_invisible(text: str) -> str:
    return _FORMAT.sub("", text)


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
