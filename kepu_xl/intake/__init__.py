"""Intake: an inbox folder → `Candidate` files, sniffed by content and pre-checked.

Input: a folder of whatever the units sent (xlsx/xlsm/xls/et/ods returns, .eml/.mbox mail, .zip archives
and strays such as photos or Word files). Output: one `Candidate` per file, e-mail attachment or archive
member, in a deterministic order, each with its bytes (read once), their sha256, the kind sniffed from the
content and the READ_* findings of the pre-check.

Nothing here parses a workbook. The pre-check reads zip directories, declared sizes and XML prologs only
(stdlib, well under 1 ms for a normal form), so bombs, DTDs, encrypted and disguised files are rejected
before any spreadsheet library sees them (see docs/architecture.md). Inbox files are opened read-only and
never changed; archives and attachments are unpacked in memory, never onto disk.

In the order a file goes through: `folder` (the walk, `scan`) → `unpack` (routing by content: mail, mbox, zip;
`checked`, the deferred pre-check run in a worker) → `bytecheck` (`precheck`: bytes → kind and findings); `base` holds the
types and helpers they share.
"""

from .base import (
    KINDS,
    PENDING,
    SEP,
    SPREADSHEET_EXTS,
    VIDEO_EXTS,
    VIDEO_LABEL,
    Candidate,
    Limits,
    display_name,
    other_kind,
    read_cap,
)
from .bytecheck import document_problem, precheck, video_format
from .folder import scan
from .unpack import candidates_from_email, checked

__all__ = [
    "KINDS",
    "PENDING",
    "SEP",
    "SPREADSHEET_EXTS",
    "VIDEO_EXTS",
    "VIDEO_LABEL",
    "Candidate",
    "Limits",
    "candidates_from_email",
    "checked",
    "display_name",
    "document_problem",
    "other_kind",
    "precheck",
    "read_cap",
    "scan",
    "video_format",
]
