"""Sweep benchmark: K=4 zoo models x (brute-force, cubic, subcubic) on 1 and on 2 Dask workers,
measured in one run; prints time per pair and the speed-up.

    python benchmarks/sweep.py                  # all K=4 zoo models (long: ~20 s per model per worker)
    python benchmarks/sweep.py --limit-models 4
"""
from __future__ import annotations

import argparse
import tempfile
import time

from certify import zoo
from certify.sweep import read_table, sweep

STRATEGIES = ["brute-force", "cubic", "subcubic"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-models", type=int)
    args = parser.parse_args()
    models = [(e.name, str(e.path), e.name, e.accuracy) for e in zoo.entries() if e.k == 4][: args.limit_models]
    pairs = len(models) * len(STRATEGIES)
    seconds = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            sweep(models, STRATEGIES, out, workers=workers, progress=False)
            seconds[workers] = time.perf_counter() - start
            rows = read_table(out)
            bad = [r for r in rows if r["status"] != "accepted"]
            print(f"{workers} worker(s): {len(models)} models x {len(STRATEGIES)} strategies = {pairs} pairs "
                  f"in {seconds[workers]:.1f} s ({seconds[workers] / pairs:.2f} s/pair), {len(bad)} not accepted")
            for s in STRATEGIES:
                mine = [r for r in rows if r["strategy"] == s]
                prove = sum(float(r["prove_s"] or 0) for r in mine) / max(len(mine), 1)
                check = sum(float(r["check_s"] or 0) for r in mine) / max(len(mine), 1)
                print(f"    {s:<12} mean prove {prove:6.2f} s, mean check {check:6.2f} s")
    print(f"speed-up 1 -> 2 workers: {seconds[1] / seconds[2]:.2f}x (ideal 2.00x on 2 idle cores)")


if __name__ == "__main__":
    main()
