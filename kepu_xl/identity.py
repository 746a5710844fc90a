"""Form identity: what a generated form carries to say which campaign, year, form and unit it is for.

Stamped three ways, since office suites drop some of them: custom document properties, the
hidden `_meta` sheet and the visible unit cell. The token is an HMAC over the other parts with
the campaign's secret, so a form cannot be forged for a unit or carried over from another
campaign, and a copy of another unit's form does not verify for this unit.

The campaign's year and title are part of the identity and of the HMAC'd message: a campaign
folder copied from last year keeps its id and its key, and only they tell last year's return
from this year's. Stamps made before they were added (kepuxl 0.1) carry neither; `legacy` says
so and `verify` checks them by the message of that time, which the caller must then place in a
year by the form's visible title (see `audit.identify`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

PROPERTY_PREFIX = "kepuxl_"
KEYS = ("campaign", "year", "title", "form", "version", "unit", "token", "layout")
LEGACY_KEYS = ("campaign", "form", "version", "unit", "token", "layout")  # stamps of kepuxl 0.1
TOKEN_LENGTH = 24
TITLE_LIMIT = 100  # characters: the title goes into a custom property (255 at most)


@dataclass(frozen=True, slots=True)
class Identity:
    campaign: str
    form: str
    version: str
    unit: str
    token: str
    layout: str = ""  # fingerprint of the cell layout, to tell an old template from a tampered one
    year: str = ""  # the campaign's year, "2024"; empty in a legacy stamp
    title: str = ""  # the campaign's title, "2024年科技活动周"; empty in a legacy stamp

    @property
    def legacy(self) -> bool:
        """A stamp of kepuxl 0.1: no year and no title (nor their keys) in the form."""
        return not self.year and not self.title

    def as_pairs(self) -> list[tuple[str, str]]:
        return [(k, getattr(self, k)) for k in (LEGACY_KEYS if self.legacy else KEYS)]

    @classmethod
    def from_mapping(cls, data: dict[str, str]) -> Identity | None:
        """From the `_meta` sheet or the document properties; None when nothing is there."""
        values = {k: str(data.get(k) or "").strip() for k in KEYS}
        if not any(values.values()):
            return None
        return cls(**values)


def token(secret: bytes, ident: Identity) -> str:
    """The HMAC of every part but the layout (checked on its own) and the token itself."""
    if ident.legacy:
        parts = (ident.campaign, ident.form, ident.version, ident.unit)
        message = "|".join(parts).encode("utf-8")
    else:  # JSON: a "|" in a title cannot shift one part into the next
        parts = ("v2", ident.campaign, ident.year, ident.title, ident.form, ident.version, ident.unit)
        message = json.dumps(parts, ensure_ascii=False).encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:TOKEN_LENGTH]


def stamp(
    secret: bytes, campaign: str, year: int, title: str, form: str, version: str, unit: str, layout: str
) -> Identity:
    ident = Identity(campaign, form, version, unit, "", layout, str(year), title)
    return Identity(campaign, form, version, unit, token(secret, ident), layout, str(year), title)


def verify(identity: Identity, secret: bytes) -> bool:
    return hmac.compare_digest(token(secret, identity), identity.token)
