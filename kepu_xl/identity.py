"""Form identity: what a generated form carries to say which campaign, form and unit it is for.

Stamped three ways, since office suites drop some of them: custom document properties, the
hidden `_meta` sheet and the visible unit cell. The token is an HMAC over the other parts with
the campaign's secret, so a form cannot be forged for a unit or carried over from another
campaign, and a copy of another unit's form does not verify for this unit.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

PROPERTY_PREFIX = "kepuxl_"
KEYS = ("campaign", "form", "version", "unit", "token", "layout")
TOKEN_LENGTH = 24


@dataclass(frozen=True, slots=True)
class Identity:
    campaign: str
    form: str
    version: str
    unit: str
    token: str
    layout: str = ""  # fingerprint of the cell layout, to tell an old template from a tampered one

    def as_pairs(self) -> list[tuple[str, str]]:
        return [(k, getattr(self, k)) for k in KEYS]

    @classmethod
    def from_mapping(cls, data: dict[str, str]) -> Identity | None:
        """From the `_meta` sheet or the document properties; None when nothing is there."""
        values = {k: str(data.get(k) or "").strip() for k in KEYS}
        if not any(values.values()):
            return None
        return cls(**values)


def token(secret: bytes, campaign: str, form: str, version: str, unit: str) -> str:
    message = "|".join((campaign, form, version, unit)).encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:TOKEN_LENGTH]


def stamp(secret: bytes, campaign: str, form: str, version: str, unit: str, layout: str) -> Identity:
    return Identity(campaign, form, version, unit, token(secret, campaign, form, version, unit), layout)


def verify(identity: Identity, secret: bytes) -> bool:
    expected = token(secret, identity.campaign, identity.form, identity.version, identity.unit)
    return hmac.compare_digest(expected, identity.token)
