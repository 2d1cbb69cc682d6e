"""Sweep benchmark: K=4 zoo models x (brute-force, cubic, subcubic, hybrid) on Dask, measured in one run:
the speed-up from 1 to 2 workers on the first N models, then the whole sweep on 2 workers, with the
time per pair and the mean prove and check time per strategy.

    python benchmarks/sweep.py                                      # all 151 K=4 models, speed-up on 8
    python benchmarks/sweep.py --limit-models 4 --speedup-models 4
"""
from __future__ import annotations

import argparse
import tempfile
import time

from certify import zoo
from certify.sweep import read_table, sweep

STRATEGIES = ["brute-force", "cubic", "subcubic", "hybrid"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-models", type=int, help="sweep only the first N models")
    parser.add_argument("--speedup-models", type=int, default=8, help="models for the 1 vs 2 worker run")
    parser.add_argument("--out", help="keep the full sweep's directory here (default: a temporary one)")
    args = parser.parse_args()
    models = [(e.name, str(e.path), e.name, e.accuracy) for e in zoo.entries() if e.k == 4][: args.limit_models]
    few = models[: args.speedup_models]
    seconds = {w: _timed(few, w, None) for w in (1, 2)}
    print(f"speed-up 1 -> 2 workers on {len(few)} models: {seconds[1] / seconds[2]:.2f}x "
          f"(ideal 2.00x on 2 idle cores)\n")
    _timed(models, 2, args.out)


def _timed(models: list, workers: int, keep: str | None) -> float:
    """Sweep on `workers` workers into `keep` (or a temporary directory); print and return seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        out = keep or tmp
        start = time.perf_counter()
        sweep(models, STRATEGIES, out, workers=workers, progress=False)
        seconds = time.perf_counter() - start
        rows = read_table(out)
    pairs = len(models) * len(STRATEGIES)
    bad = [r for r in rows if r["status"] != "accepted"]
    print(f"{workers} worker(s): {len(models)} models x {len(STRATEGIES)} strategies = {pairs} pairs "
          f"in {seconds:.1f} s ({seconds / pairs:.2f} s/pair), {len(bad)} not accepted")
    for s in STRATEGIES:
        mine = [r for r in rows if r["strategy"] == s]
        prove = sum(float(r["prove_s"] or 0) for r in mine) / max(len(mine), 1)
        check = sum(float(r["check_s"] or 0) for r in mine) / max(len(mine), 1)
        print(f"    {s:<12} mean prove {prove:6.2f} s, mean check {check:6.2f} s")
    return seconds


if __name__ == "__main__":
    main()
