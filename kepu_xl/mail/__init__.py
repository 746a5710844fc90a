"""E-mail: campaign + forms → .eml drafts → SMTP; IMAP mailbox → inbox/*.eml. The only network code of kepuxl.

Library calls mirrored by the CLI, each returning a report (plain data with `to_dict()`), never printing
or prompting; the password is always an argument (the CLI takes it from an environment variable or a
prompt) and is never written anywhere:

- `make_drafts(config)` (drafts.py): one .eml per roster unit with an address (output/邮件/统计表/), the
  body from the campaign's editable template (邮件模板.txt, templates.py), the unit's form attached under a
  Chinese name encoded both ways clients read it (message.py); the folder is replaced as one set (draftset.py).
- `send_drafts(config, folder, password=...)` (sending.py): SMTP over SSL or STARTTLS with login
  (transport.py), to the roster's address of each draft's unit; each failure is a finding and the run goes
  on; every attempt goes into the ledger, so a re-run sends only what has not gone out yet.
- `fetch(config, password=...)` (fetching.py): new messages of an IMAP folder (read-only, BODY.PEEK) into
  inbox/邮件/ as .eml files, once per Message-ID.
- `check_servers(config, password=...)` (transport.py): log in to SMTP and IMAP and say what fails.

Reminders (kepuxl remind) are a job of their own, `kepu_xl.remind`, which uses collect and these modules.
"""

from .drafts import FORMS_DIR, DraftsReport, make_drafts
from .draftset import MANIFEST, DraftSet, read_manifest, recover
from .fetching import FETCH_DIR, FetchReport, fetch
from .message import Attachment, build_message, message_id, rfc2231_param
from .sending import SendReport, send_drafts
from .templates import TEMPLATE_FILES, Template, install_templates, template_files
from .transport import check_servers, imap_utf7, imap_utf7_decode, require_settings, tls_context

__all__ = [
    "FETCH_DIR",
    "FORMS_DIR",
    "MANIFEST",
    "TEMPLATE_FILES",
    "Attachment",
    "DraftSet",
    "DraftsReport",
    "FetchReport",
    "SendReport",
    "Template",
    "build_message",
    "check_servers",
    "fetch",
    "imap_utf7",
    "imap_utf7_decode",
    "install_templates",
    "make_drafts",
    "message_id",
    "read_manifest",
    "recover",
    "require_settings",
    "rfc2231_param",
    "send_drafts",
    "template_files",
    "tls_context",
]
