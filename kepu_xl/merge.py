"""Merging the units' returns: `CollectReport` → `Frames` (pandas tables the summary workbook renders).

Pure: no I/O, no Excel. Frames are keyed by field ids (and detail column ids); Chinese labels
and units of measure are looked up in the spec when rendering. Counted units (accepted or with
warnings) and 待核实 units carry values — the latter shown, never summed with the former; a rejected or
missing unit keeps its roster row, with NaN values.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .results import COUNTED, CollectReport, Status

ID_COLUMNS = ("单位编码", "单位名称", "单位类别", "状态")  # 状态 holds the status key (results.STATUSES)
DETAIL_UNIT = "单位"


@dataclass(frozen=True)
class Frames:
    """The merged tables of one collect run.

    units: one row per roster unit in roster order: ID_COLUMNS, then one float column per field id.
    by_category: index 单位类别 (first-appearance order), one column per field id, sums over counted units.
    totals: field id → county total, as resolve computed it (report.totals).
    pending_totals: field id → the 待核实 units' sum (report.pending_totals), not in `totals`.
    detail: every counted unit's detail rows: 单位 (unit name), then one column per detail column id.
    previous: last year's values ([compare]), rows as in `units`, one float column per field id (NaN: none).
    previous_totals: field id → last year's total (NaN where last year had no such column); empty when
        last year is not configured or could not be read.
    """

    units: pd.DataFrame
    by_category: pd.DataFrame
    totals: pd.Series
    detail: pd.DataFrame
    pending_totals: pd.Series
    previous: pd.DataFrame
    previous_totals: pd.Series

    @property
    def has_previous(self) -> bool:
        """Whether last year's figures are there to show beside this year's."""
        return not self.previous_totals.empty

    @property
    def pending(self) -> pd.DataFrame:
        """The rows of the 待核实 units (values shown, not in the totals until explained or confirmed)."""
        return self.units[self.units["状态"] == Status.PENDING]

    @property
    def field_ids(self) -> list[str]:
        return [c for c in self.units.columns if c not in ID_COLUMNS]

    @property
    def counted(self) -> pd.DataFrame:
        """The rows of the units whose numbers enter the totals."""
        return self.units[self.units["状态"].isin(COUNTED)]


def frames(report: CollectReport) -> Frames:
    """The report's units, category sums, totals and detail rows as DataFrames keyed by field id."""
    field_ids = [f.id for f in report.spec.fields]
    blank = [float("nan")] * len(field_ids)
    # values of counted and 待核实 units only: a rejected return's numbers must not leak into any sum
    shown = (*COUNTED, Status.PENDING)
    values = [
        list(map(_number, map(u.values.get, field_ids))) if u.status in shown else blank for u in report.units
    ]
    ids = [(u.unit.id, u.unit.name, u.unit.category, u.status) for u in report.units]
    numbers = pd.DataFrame(values, columns=field_ids, dtype="float64")
    units = pd.concat([pd.DataFrame(ids, columns=list(ID_COLUMNS)), numbers], axis=1)

    # groupby(sort=False) keeps first-appearance order (every category, even one with no counted unit)
    counted = units["状态"].isin(COUNTED)
    by_category = units[field_ids].where(counted).groupby(units["单位类别"], sort=False).sum(min_count=0)
    by_category.index.name = "单位类别"
    totals = _series(report.totals, field_ids, "合计")
    pending_totals = _series(report.pending_totals, field_ids, "待核实")

    columns = [c.id for c in report.spec.detail.columns] if report.spec.detail else []
    detail_rows = [
        [u.unit.name, *map(row.get, columns)] for u in report.units if u.counted for row in u.detail
    ]
    detail = pd.DataFrame(detail_rows, columns=[DETAIL_UNIT, *columns], dtype=object)
    last_year = [list(map(_number, map((u.previous or {}).get, field_ids))) for u in report.units]
    return Frames(
        units=units,
        by_category=by_category,
        totals=totals,
        detail=detail,
        pending_totals=pending_totals,
        previous=pd.DataFrame(last_year, columns=field_ids, dtype="float64"),
        previous_totals=_series(report.previous_totals, field_ids, "上年")
        if report.previous_totals
        else pd.Series(dtype="float64", name="上年"),
    )


def _series(sums: dict[str, float], field_ids: list[str], name: str) -> pd.Series:
    """Sums as a Series over every field id (NaN where a sum is missing), extra keys kept after them."""
    extra = [k for k in sums if k not in field_ids]
    return pd.Series({k: _number(sums.get(k)) for k in [*field_ids, *extra]}, dtype="float64", name=name)


def _number(value: object) -> float:
    """A field value as float; None (blank) → NaN."""
    if value is None or isinstance(value, bool):
        return float("nan")
    return float(value)  # type: ignore[arg-type]
