"""The spawn path (issue 14.8): on Windows and macOS the worker processes are spawned, never forked.

They then start from nothing: the per-file function and the loaded campaign travel pickled, and every
module is imported afresh. Here `KEPUXL_START_METHOD=spawn` makes Linux take that path: make-forms and
collect on the sample county, two workers each, must give exactly what the forked workers give.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import init_sample

from kepu_xl import workers
from kepu_xl.collection import collect
from kepu_xl.context import CONFIG_NAME
from kepu_xl.findings import dumps
from kepu_xl.make import make_forms

NOW = datetime(2023, 6, 1, 9, 0)
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork exists on Linux only")


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _run(folder: Path, method: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """make-forms and collect with two workers started by `method`; what they wrote and reported."""
    monkeypatch.setenv(workers.START_METHOD_ENV, method)
    seen = []
    real = workers.multiprocessing.get_context

    def get_context(name: str) -> Any:
        seen.append(name)
        return real(name)

    monkeypatch.setattr(workers.multiprocessing, "get_context", get_context)
    config = folder / CONFIG_NAME
    forms = make_forms(config, folder / "output" / "forms", workers=2)
    report = collect(folder / "inbox", config, now=NOW, workers=2)
    assert seen and set(seen) == {method}  # every pool of both jobs started its workers this way
    here = json.dumps(str(folder), ensure_ascii=False)[1:-1]  # the folder as it appears in the JSON

    def reported(data: dict[str, Any]) -> Any:
        return json.loads(dumps(data).replace(here, "<campaign>"))

    return {
        "forms": reported(forms.to_dict()),
        "collect": reported(report.to_dict()),
        "written": _files(folder / "output"),
    }


def test_spawned_workers_give_what_forked_ones_give(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forked = _run(init_sample(tmp_path / "fork" / "青溪县", with_returns=True), "fork", monkeypatch)
    spawned = _run(init_sample(tmp_path / "spawn" / "青溪县", with_returns=True), "spawn", monkeypatch)
    assert forked["forms"] == spawned["forms"]
    assert forked["collect"] == spawned["collect"]
    assert forked["written"].keys() == spawned["written"].keys()
    assert forked["written"] == spawned["written"]  # forms, summary, feedback: byte for byte
    assert len(forked["forms"]["forms"]) == 26 and forked["collect"]["counts"]["reported"] > 20


def test_the_platform_decides_unless_the_environment_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(workers.START_METHOD_ENV, raising=False)
    assert workers.start_method() == "fork"  # Linux
    for method in ("spawn", "fork"):
        monkeypatch.setenv(workers.START_METHOD_ENV, method)
        assert workers.start_method() == method
    monkeypatch.setenv(workers.START_METHOD_ENV, "forkserver")  # not a choice kepuxl makes: ignored
    assert workers.start_method() == "fork"
    assert "spawn" in multiprocessing.get_all_start_methods()
