"""Logic that must stay in step is written once (issue 14.4), checked on the package's source."""

from __future__ import annotations

import ast
from pathlib import Path

from kepu_xl import xlsx_out

PACKAGE = Path(xlsx_out.__file__).parent


def test_excels_cell_text_limit_is_one_constant() -> None:
    """32,767 characters (what a cell holds) is written once, as xlsx_out.EXCEL_TEXT_LIMIT; the audit's
    cut (AUDIT_TEXT_TRUNCATED), the writers' clip and the ODS reader's run of spaces all use it.
    (0x7FFF, a 15-bit mask in the sheet password's hash, is another number that happens to be equal.)"""
    places = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, ast.Constant)
                and type(node.value) is int
                and node.value == 32_767
                and not (ast.get_source_segment(source, node) or "").lower().startswith("0x")
            ):
                places.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert [p.partition(":")[0] for p in places] == ["xlsx_out.py"], places
    assert xlsx_out.EXCEL_TEXT_LIMIT == 32_767
