"""kepuxl: 科普活动统计 — make per-unit Excel forms, collect returns, audit and summarise.

Every job is a library call returning a report whose `to_dict()` is the command's `--json`. They are
loaded on first use (importing kepu_xl loads nothing else, so `kepuxl --help` stays fast):

    from kepu_xl import init_campaign, make_forms, collect, confirm
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# public name → the module that defines it (see docs/architecture.md for the tour)
_EXPORTS = {
    "Code": "findings",
    "Finding": "findings",
    "KepuError": "findings",
    "Severity": "findings",
    "Context": "context",
    "init_campaign": "init",
    "make_forms": "make",
    "collect": "collection",
    "confirm": "confirmation",
    "undo_confirmation": "confirmation",
    "make_drafts": "mail",
    "send_drafts": "mail",
    "fetch": "mail",
    "check_servers": "mail",
    "make_reminders": "remind",
    "report_up": "upward",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kepu_xl' has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name if name != "undo_confirmation" else "undo")
    globals()[name] = value
    return value
