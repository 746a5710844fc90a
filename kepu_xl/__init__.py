"""kepuxl: 科普活动统计 — make per-unit Excel forms, collect returns, audit and summarise."""

from .findings import Code, Finding, KepuError, Severity
from .make import init_campaign, make_forms

__version__ = "0.1.0"
__all__ = ["Code", "Finding", "KepuError", "Severity", "__version__", "init_campaign", "make_forms"]
