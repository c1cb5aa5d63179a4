"""Start-up time of `vfx-ingest --help` against a bare `python -c pass`, same interpreter.

Prints the median wall time of each over N runs and their difference. Goal (issue 2):
`vfx-ingest --help` median <= 0.25 s on the project's 2-core machine.

    python benchmarks/startup.py [--runs 30]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOAL_S = 0.25


def median_wall(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    script = shutil.which("vfx-ingest") or str(Path(sys.executable).with_name("vfx-ingest"))
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "vfx-ingest --help": [script, "--help"],
        "vfx-ingest run --help": [script, "run", "--help"],
        "vfx-ingest --version": [script, "--version"],
    }
    for command in commands.values():  # warm the OS file cache first
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {name: median_wall(cmd, args.runs) for name, cmd in commands.items()}
    baseline = results["python -c pass"]
    print(f"median of {args.runs} runs")
    for name, seconds in results.items():
        extra = "" if name == "python -c pass" else f"  (+{seconds - baseline:.3f} s over python)"
        print(f"  {name:<24} {seconds:.3f} s{extra}")
    verdict = "meets" if results["vfx-ingest --help"] <= GOAL_S else "MISSES"
    print(f"vfx-ingest --help {verdict} the {GOAL_S} s goal")


if __name__ == "__main__":
    main()
