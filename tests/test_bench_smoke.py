"""benchmarks/bench_collect.py at a small N: it runs, writes its JSON, and collect finds every defect;
with every return carrying a warning, every unit gets its feedback form.

No timing is asserted (CI machines vary); the figures for the README come from the full runs.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_collect.py"


def _run(tmp_path: Path, *args: str) -> tuple[dict, str]:
    out = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), *args, "--workdir", str(tmp_path / "work"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8")), done.stdout


def test_the_benchmark_runs_and_collect_finds_every_injected_defect(tmp_path: Path) -> None:
    # --defects 0.1: every 10th return, one of each of the five defect kinds
    result, stdout = _run(
        tmp_path, "--n", "50", "--defects", "0.1", "--sample", "20", "--baseline-sample", "3"
    )
    assert result["n"] == 50
    assert result["machine"]["cores"] >= 1
    for part, keys in {
        "make_forms": ("seconds", "forms_per_s", "ms_per_form", "peak_rss_mb"),
        "collect": ("seconds", "files_per_s", "ms_per_file", "peak_rss_mb", "largest_worker_rss_mb"),
        "floor": ("seconds", "ms_per_file"),
        "read_audit": ("ms_per_file", "floor_ms_per_file"),
        "baseline_openpyxl": ("ms_per_file", "before_collect_ms", "after_collect_ms"),
        "ratios": ("collect_vs_floor", "read_audit_vs_floor", "baseline_vs_collect"),
    }.items():
        for key in keys:
            assert result[part][key] > 0, (part, key)
    assert set(result["targets"]) == {"read_audit_vs_floor", "peak_rss_mb", "make_forms_seconds"}
    assert result["targets"]["make_forms_seconds"]["met"] is None  # stated for N = 10,000 only
    assert result["make_forms"]["forms"] == 50
    collected = result["collect"]
    assert collected["files"] == 50
    assert result["defects"] == {"injected": 5, "found": 5}, collected["defects_missed"]
    assert collected["crashed_or_timeout"] == 0
    # 45 clean returns accepted; the amount in 元 is 待核实; three value errors; the truncated file
    # is rejected unread, so its unit counts as missing
    assert collected["counts"]["accepted"] == 45
    assert collected["counts"]["pending"] == 1
    assert collected["counts"]["rejected"] == 3
    assert collected["counts"]["missing"] == 1
    assert collected["progress_files"] == 50  # one tick per file (plus one for the summary phase)
    assert collected["summary"]["charts"] > 0
    assert "分单位" in collected["summary"]["sheets"]
    assert "N = 50" in stdout and "JSON:" in stdout and "peak_rss_mb" in stdout


def test_every_return_with_a_warning_gets_its_feedback_form(tmp_path: Path) -> None:
    args = ("--n", "30", "--warn-all", "--defects", "0", "--sample", "10", "--baseline-sample", "2")
    result, _ = _run(tmp_path, *args, "--compare-feedback")
    assert result["warn_all"] and result["collect"]["counts"]["warnings"] == 30
    assert result["defects"] == {"injected": 30, "found": 30}  # 30 feedback forms
    compared = result["compare_feedback"]
    assert compared["compared"] == 30 and compared["identical"] == 30, compared


def test_the_scenarios_are_judged_by_their_own_targets(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_collect", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert {s["n"] for s in bench.SCENARIOS.values()} == {10_000, 2_000}
    run = {
        "n": 10_000,
        "collect": {
            "seconds": 14.0,
            "files_per_s": 714.0,
            "peak_rss_mb": 200.0,
            "largest_worker_rss_mb": 400.0,
        },
        "make_forms": {"seconds": 16.0, "peak_rss_mb": 50.0, "largest_worker_rss_mb": 40.0},
        "ratios": {"baseline_vs_collect": 19.5, "read_audit_vs_floor": 4.0},
        "baseline_openpyxl": {"ms_per_file": 78.0},
    }
    verdicts = {k: t["met"] for k, t in bench.targets(run, "defects-20").items()}
    assert verdicts == {
        "collect_seconds": True,
        "baseline_vs_collect": False,
        "peak_rss_mb": True,
        "make_forms_seconds": False,
        "read_audit_vs_floor": True,
    }
    # a time target also as the multiple of an openpyxl load it asks for: 12 s / 10,000 = 1.2 ms, 78 / 1.2
    assert bench.targets(run, "defects-2")["collect_seconds"] == {
        "value": 14.0,
        "target": "<= 12",
        "met": False,
        "asks_baseline_vs_collect": 65.0,
    }
    assert bench.targets(run, "defects-20")["collect_seconds"]["asks_baseline_vs_collect"] == 52.0
    warn_all = bench.targets({**run, "n": 2_000}, "warn-all")["files_per_s"]
    assert warn_all["met"] is True and warn_all["asks_baseline_vs_collect"] == 26.0  # 78 ms / (1/333 s)
