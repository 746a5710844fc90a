"""What every workbook kepuxl writes shares: checked xlsxwriter calls and safe text cells.

xlsxwriter reports many problems by returning -1/-2 instead of raising; `CheckedSheet` turns them
into errors. Text that came from outside (unit names, values units typed, file names, messages) goes
through `CheckedSheet.text`: always a string cell (never a formula or a link), characters XML 1.0
cannot carry dropped, clipped to Excel's 32,767 characters.
"""

from __future__ import annotations

import re
from typing import Any

from .findings import KepuError

EXCEL_TEXT_LIMIT = 32_767
# XML 1.0 cannot carry C0 controls (except tab/newline), lone surrogates or U+FFFE/U+FFFF.
_BAD_CHARS = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]")


def clean_text(value: Any) -> str:
    """Text safe for a cell: characters that corrupt the XML dropped, Excel's length limit kept."""
    return _BAD_CHARS.sub("", str(value))[:EXCEL_TEXT_LIMIT]


def check(rc: Any, what: str) -> Any:
    """Raise on xlsxwriter's silent negative return codes; pass anything else through."""
    if isinstance(rc, int) and not isinstance(rc, bool) and rc < 0:
        raise KepuError(f"xlsxwriter {what} returned {rc}")
    return rc


class CheckedSheet:
    """A worksheet whose calls raise instead of returning xlsxwriter's silent -1/-2."""

    def __init__(self, ws: Any):
        self._ws = ws

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._ws, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            rc = attr(*args, **kwargs)
            if isinstance(rc, int) and not isinstance(rc, bool) and rc < 0:
                raise KepuError(f"xlsxwriter {self._ws.name}.{name}{args[:2]!r} returned {rc}")
            return rc

        self.__dict__[name] = call  # later calls skip __getattr__ (a form makes thousands of them)
        return call

    def text(self, row: int, col: int, value: Any, fmt: Any = None) -> None:
        """Always a string cell: '=HYPERLINK(…)' stays text; empty text is a truly blank cell."""
        text = clean_text(value)
        if not text:
            self.write_blank(row, col, None, fmt)  # ISBLANK and filters see it as empty
        elif text.startswith("<r>") and text.endswith("</r>"):
            # xlsxwriter copies such a string into sharedStrings.xml as raw rich-text XML, which
            # corrupts the file; as a two-run rich string it is escaped like any other text
            self.write_rich_string(row, col, fmt, text[:1], fmt, text[1:], fmt)
        else:
            self.write_string(row, col, text, fmt)
