"""How fast the 工作台's 单位 page is: a 60-unit county and a 10,000-unit province, served by `kepuxl serve`.

For each campaign (every unit has returned a form in the 60-unit one; the 10,000-unit one has been
collected once with an empty inbox, so every unit is 未报 and the list pages):
- server: the time to answer GET /units (median of repeated requests over one connection each);
- browser: Debian's Chromium (headless, Playwright) loading /units, from navigation start to the load
  event (`performance` navigation entry), median of repeated loads.

    python3 benchmarks/bench_web.py [--units 60 10000] [--repeat 15] [--out benchmarks/results/web.json]

Figures, not a test: the target is 单位 under 300 ms for 60 units.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import init_sample  # noqa: E402
from helpers import ROSTER_HEADER, use_roster  # noqa: E402
from webpage import chromium, serving  # noqa: E402

from kepu_xl.collection import collect  # noqa: E402
from kepu_xl.context import Context  # noqa: E402
from kepu_xl.sample_returns import fill, values_for  # noqa: E402


def campaign(folder: Path, units: int, with_returns: bool) -> Path:
    init_sample(folder)
    config = folder / "kepuxl.toml"
    rows = [(f"B{n:05d}", f"第{n}号单位", "镇（街道）", "", "", "") for n in range(1, units + 1)]
    use_roster(config, [ROSTER_HEADER, *rows])
    if with_returns:
        ctx = Context.load(config)
        for unit in ctx.campaign.units:
            values = values_for(unit.seq, {})
            data = fill(ctx, unit.id, values, detail_rows=values["activities"])
            (folder / "inbox" / f"{unit.name}.xlsx").write_bytes(data)
    collect(folder / "inbox", config)
    return config


def measure(config: Path, repeat: int) -> dict[str, float]:
    with serving(config) as served, chromium() as browser:
        server = []
        for _ in range(repeat + 2):
            started = time.perf_counter()
            assert served.request("GET", "/units").status == 200
            server.append((time.perf_counter() - started) * 1000)
        page = browser.new_page()
        page.goto(served.url)
        loads = []
        for _ in range(repeat + 2):
            page.goto(served.base + "/units")
            entry = page.evaluate("() => performance.getEntriesByType('navigation')[0].toJSON()")
            loads.append(entry["loadEventEnd"] - entry["startTime"])
    return {
        "server_ms_median": round(statistics.median(server[2:]), 1),
        "server_ms_max": round(max(server[2:]), 1),
        "browser_load_ms_median": round(statistics.median(loads[2:]), 1),
        "browser_load_ms_max": round(max(loads[2:]), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[60, 10_000])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "web.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kepuxl-bench-web-"))
    results = {"machine": f"{platform.machine()}, {platform.python_version()}", "campaigns": {}}
    try:
        for n in args.units:
            config = campaign(work / f"c{n}", n, with_returns=n <= 200)
            figures = measure(config, args.repeat)
            results["campaigns"][str(n)] = figures
            print(f"{n} units: {figures}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
