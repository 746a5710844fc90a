"""The reader drops what it will not look at before parsing, and reads every wanted cell the same.

A return's main sheet is mostly self-checks, hints and hidden state formulas, which the reader never
reads: `book._pruned` cuts the rows after the last wanted one and the plain cells of columns wanted on
few rows. Every wanted cell must read exactly as when the whole sheet is parsed, whoever saved the file.
"""

from __future__ import annotations

import io
import re
from datetime import datetime

import pytest
from conftest import init_sample
from openpyxl import load_workbook

from kepu_xl import book, intake, reader
from kepu_xl.context import CONFIG_NAME, Context
from kepu_xl.forms_writer import Prefill
from kepu_xl.sample_returns import _saved


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> tuple[Context, list[bytes]]:
    folder = init_sample(tmp_path_factory.mktemp("pruning") / "青溪县", with_returns=True)
    ctx = Context.load(folder / CONFIG_NAME)
    files = [p.read_bytes() for p in sorted((folder / "inbox").iterdir()) if p.suffix == ".xlsx"]
    # kepuxl's writer with values (what Excel saves: cached results), every kind of value in the cells
    for n, unit in enumerate(ctx.campaign.units[:6]):
        fields = {
            fl.id: [n, "约300", 1.5, True, datetime(2023, 5, 20), -1][(n + k) % 6]
            for k, fl in enumerate(ctx.spec.inputs)
        }
        rows = [
            {c.id: f"第{i}行" if c.type == "text" else i for c in ctx.spec.detail.columns} for i in range(n)
        ]
        files.append(ctx.form_bytes(unit, Prefill(fields, {"preparer": "周敏"}, rows)))
    # a return an office suite rewrote: cells everywhere, inline strings and formulas in unwanted columns
    wb = load_workbook(io.BytesIO(files[0]))
    ws = wb[ctx.spec.sheet]
    for row in range(1, 45):
        ws.cell(row=row, column=6, value=f"=D{row}*2")
        ws.cell(row=row, column=8, value=f"备注{row}")
    files.append(_saved(wb))
    return ctx, files


def _cells(ctx: Context, data: bytes, wanted: dict | None) -> dict:
    _, parts = intake.checked(intake.Candidate("x.xlsx", "x.xlsx", data, "", intake.PENDING, None, "file"))
    loaded = book.load_xlsx(data, reader.windows(ctx.spec, ctx.cells), default=None, only=wanted, parts=parts)
    return {name: (sheet.cells, sheet.protected) for name, sheet in loaded.sheets.items()}


def test_every_wanted_cell_reads_as_when_the_whole_sheet_is_parsed(
    county: tuple[Context, list[bytes]],
) -> None:
    ctx, files = county
    wanted = reader.wanted(ctx.cells)
    assert len(files) > 20
    for data in files:
        pruned, whole = _cells(ctx, data, wanted), _cells(ctx, data, None)
        for name, (cells, protected) in pruned.items():
            expected = {k: v for k, v in whole[name][0].items() if name not in wanted or k in wanted[name]}
            assert cells == expected and protected == whole[name][1], name


def test_what_is_dropped_is_most_of_a_main_sheet(county: tuple[Context, list[bytes]]) -> None:
    ctx, files = county
    _, parts = intake.checked(
        intake.Candidate("x.xlsx", "x.xlsx", files[-2], "", intake.PENDING, None, "file")
    )
    main = next(v for k, v in parts.items() if re.search(rb"<dimension ref=\"A1:F", v))
    plain = book._EMPTY_CELL.sub(b"", book._trimmed(main))
    pruned = book._pruned(plain, reader.wanted(ctx.cells)[ctx.spec.sheet], 6)
    assert len(pruned) < len(plain) / 2
    assert b"<sheetProtection" in pruned  # still read: the protection check
