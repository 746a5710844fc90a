"""benchmarks/bench_collect.py at a small N: it runs, writes its JSON, and collect finds every defect.

No timing is asserted (CI machines vary); the figures for the README come from the full run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_collect.py"


def test_the_benchmark_runs_and_collect_finds_every_injected_defect(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--n",
            "50",
            "--defects",
            "0.1",  # every 10th return: one of each of the five defect kinds
            "--workdir",
            str(tmp_path / "work"),
            "--out",
            str(out),
            "--sample",
            "20",
            "--baseline-sample",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["n"] == 50
    assert result["machine"]["cores"] >= 1
    for part, keys in {
        "make_forms": ("seconds", "forms_per_s", "ms_per_form", "peak_rss_mb"),
        "collect": ("seconds", "files_per_s", "ms_per_file", "peak_rss_mb", "largest_worker_rss_mb"),
        "floor": ("seconds", "ms_per_file"),
        "read_audit": ("ms_per_file", "floor_ms_per_file"),
        "baseline_openpyxl": ("ms_per_file",),
        "ratios": ("collect_vs_floor", "read_audit_vs_floor", "baseline_vs_collect"),
    }.items():
        for key in keys:
            assert result[part][key] > 0, (part, key)
    assert set(result["targets"]) == {
        "collect_seconds",
        "read_audit_vs_floor",
        "baseline_vs_collect",
        "peak_rss_mb",
        "make_forms_seconds",
    }
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
    assert "N = 50" in done.stdout and "JSON:" in done.stdout
