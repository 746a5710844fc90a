"""A worker process frees what it builds.

`workers.run` pauses the collector in the parent while results pile up; a worker forked then used to
inherit the pause and never collect. A form built directly leaves cyclic garbage behind (xlsxwriter's
worksheets and workbook refer to each other), so an output worker grew by ~0.4 MB a feedback form:
hundreds of MB at province scale.
"""

from __future__ import annotations

import gc
import resource
import sys

import pytest

from kepu_xl import workers
from kepu_xl.context import Context
from kepu_xl.forms_writer import Prefill, build_form


def _form(n: int, ctx: Context) -> tuple[bool, int]:
    """A unit's form with values, built directly; → (the collector is on, peak RSS in KiB)."""
    unit = ctx.campaign.units[n % len(ctx.campaign.units)]
    prefill = Prefill({ctx.spec.inputs[0].id: n}, {"preparer": f"填表人{n}"})
    build_form(ctx.spec, ctx.cells, ctx.campaign, unit, ctx.identity(unit), "pw", prefill=prefill)
    return gc.isenabled(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _fail(item: int, failure: workers.Failure) -> None:
    raise AssertionError(f"item {item}: {failure}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB on Linux")
def test_workers_free_the_forms_they_build(ctx: Context) -> None:
    results = workers.run(range(500), _form, ctx, failed=_fail, workers=2, expected=500)
    assert all(enabled for enabled, _ in results)
    first, last = results[0][1], max(rss for _, rss in results)
    assert last - first < 40 * 1024  # 250 forms a worker: ~100 MB when nothing was freed
