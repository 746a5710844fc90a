"""The recorder of tests/every_code.py: it counts what the package makes, in this process and in workers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import every_code
import pytest

from kepu_xl import workers
from kepu_xl.campaign import load
from kepu_xl.findings import Code, Finding, Findings, KepuError


@pytest.fixture
def fresh() -> Iterator[None]:
    """The recorder emptied for the test; what the session had seen is put back after it."""
    saved = every_code.seen()
    every_code._seen.clear()
    try:
        yield
    finally:
        every_code._seen.update(saved)


def _made_in_a_worker(code: Code, context: object) -> Finding:
    return Finding.make(code, kept="甲.xlsx")


def test_findings_the_tests_make_do_not_count(fresh: None) -> None:
    Finding.make(Code.RESOLVE_DUPLICATE, kept="甲.xlsx")
    Findings().add(Code.RESOLVE_DUPLICATE, kept="甲.xlsx")
    assert every_code.seen() == set()


def test_findings_the_package_makes_count(fresh: None, tmp_path: Path) -> None:
    with pytest.raises(KepuError) as error:
        load(tmp_path / "kepuxl.toml")  # no campaign here: kepu_xl.campaign makes the finding
    assert [f.code for f in error.value.findings] == [Code.CAMPAIGN_NOT_FOUND]
    assert every_code.seen() == {Code.CAMPAIGN_NOT_FOUND}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers")
def test_findings_that_come_back_from_workers_count(fresh: None) -> None:
    def failed(item: object, failure: workers.Failure) -> Finding:
        raise AssertionError(failure)

    back = workers.run([Code.RESOLVE_DUPLICATE], _made_in_a_worker, None, failed=failed, workers=1)
    assert [f.code for f in back] == [Code.RESOLVE_DUPLICATE]
    assert every_code.seen() == {Code.RESOLVE_DUPLICATE}  # unpickled here: counted
