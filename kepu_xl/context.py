"""The campaign handle: kepuxl.toml → `Context` (campaign, form definition, cell layout, key), loaded once.

Every job starts from a `Context`: make-forms writes each unit's form with it, collect reads returns
against it, mail attaches forms made by it. It makes a unit's form (a blank one from the campaign's template,
a feedback form from the campaign's feedback template: both give the bytes of a direct build) and its
identity stamp.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import campaign as campaign_mod
from . import identity, layout
from . import spec as spec_mod
from .campaign import CONFIG_NAME, Campaign, Unit
from .feedback_template import Fallback, FeedbackTemplate
from .files import safe_name
from .findings import Finding
from .form_template import FormTemplate
from .forms_writer import Prefill, build_form
from .previous import Previous
from .xlsx_out import FAST

__all__ = ["CONFIG_NAME", "Context"]


@dataclass
class Context:
    """Everything needed to make or read forms of one campaign, loaded once."""

    campaign: Campaign
    spec: spec_mod.FormSpec
    cells: layout.CellMap
    secret: bytes
    # last year's figures ([compare]): read by collect (previous.load), which the audit's prev() rules need
    previous: Previous | None = field(default=None, compare=False)
    _template: FormTemplate | None = field(default=None, init=False, repr=False, compare=False)
    _feedback: FeedbackTemplate | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def load(cls, config: Path, *, create_secret: bool = False) -> Context:
        camp = campaign_mod.load(config)
        spec = spec_mod.load(spec_mod.find(camp.form, camp.folder))
        return cls(camp, spec, layout.build(spec), camp.secret(create=create_secret))

    def password(self, unit: Unit) -> str:
        """The unit's sheet protection password (one per unit unless kepuxl.toml sets one)."""
        return self.campaign.sheet_password(self.secret, unit.id)

    def identity(self, unit: Unit) -> identity.Identity:
        c, s = self.campaign, self.spec
        return identity.stamp(
            self.secret, c.id, c.year, c.title, s.id, s.version, unit.id, self.cells.fingerprint()
        )

    def template(self) -> FormTemplate:
        """The campaign's blank form with placeholders, built on first use (forked workers inherit it)."""
        if self._template is None:
            # only the campaign-wide parts of the identity are used; the password is the placeholder's
            self._template = FormTemplate.build(
                self.spec, self.cells, self.campaign, self.identity(Unit("", "")), self.password
            )
        return self._template

    def feedback_template(self) -> FeedbackTemplate:
        """The campaign's feedback forms (their frames are built on first use, in each process)."""
        if self._feedback is None:
            self._feedback = FeedbackTemplate(
                self.spec, self.cells, self.campaign, self.identity(Unit("", "")), self.password
            )
        return self._feedback

    def form_bytes(
        self, unit: Unit, prefill: Prefill | None = None, problems: list[Finding] | None = None
    ) -> bytes:
        """The unit's form: a blank one from the template, a feedback form (problems) from the feedback
        template, unless either could differ from a direct build (or xlsxwriter is not verified)."""
        stamp, password = self.identity(unit), self.password(unit)
        if FAST and prefill is None and not problems:
            template = self.template()
            if template.fallback_reason(unit.name, stamp) is None:
                return template.render(unit.name, stamp, password)
        elif FAST and problems:
            try:
                return self.feedback_template().render(unit, stamp, password, prefill, problems)
            except Fallback:
                pass
        return build_form(
            self.spec,
            self.cells,
            self.campaign,
            unit,
            stamp,
            password,
            prefill=prefill,
            problems=problems or (),
        )

    def form_name(self, unit: Unit) -> str:
        return f"{unit.seq:02d}_{safe_name(unit.name)}.xlsx"
