"""Sweep benchmark: K=4 zoo models x (brute-force, cubic, subcubic, hybrid) on Dask, measured in one run:
the speed-up from 1 to 2 workers on the first N models, then the whole sweep on 2 workers, with the
time per pair and the mean prove and check time per strategy.

    python benchmarks/sweep.py                                      # all 151 K=4 models, speed-up on 8
    python benchmarks/sweep.py --limit-models 4 --speedup-models 4
    python benchmarks/sweep.py --summary DIR    # docs/results.md's K=4 figures from a finished sweep DIR

--summary reads DIR/results.csv (as `certify sweep` or --out writes it) and the certificates it names:
per strategy the bound over the exact accuracy (exact fractions; mean ± sample std, median, the lowest
three and the highest model), mean checker ops, median prove / check s, and the subcubic variants and
hybrid compact parts the provers chose.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

from certify import zoo
from certify.sweep import read_table, sweep

STRATEGIES = ["brute-force", "cubic", "subcubic", "hybrid"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-models", type=int, help="sweep only the first N models")
    parser.add_argument("--speedup-models", type=int, default=8, help="models for the 1 vs 2 worker run")
    parser.add_argument("--out", help="keep the full sweep's directory here (default: a temporary one)")
    parser.add_argument("--summary", metavar="DIR", help="only summarise the finished sweep in DIR")
    args = parser.parse_args()
    if args.summary:
        summary(args.summary)
        return
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


def summary(out: str) -> None:
    """Print the figures docs/results.md quotes from one sweep directory."""
    rows = read_table(out)
    exact = {r["model"]: Fraction(r["exact_accuracy"]) for r in rows if r["exact_accuracy"]}
    bad = [r for r in rows if r["status"] != "accepted"]
    print(f"{len(rows)} pairs, {len({r['model'] for r in rows})} models, {len(bad)} not accepted "
          f"{[(r['model'], r['strategy'], r['status']) for r in bad][:5]}")
    acc = sorted(exact.values())
    print(f"exact accuracy: {_spread([float(a) for a in acc], 4)}, {float(acc[0]):.4f} to {float(acc[-1]):.5f}")
    for s in sorted({r["strategy"] for r in rows}, key=lambda s: STRATEGIES.index(s) if s in STRATEGIES else 9):
        mine = [r for r in rows if r["strategy"] == s and r["status"] == "accepted"]
        norm = sorted((Fraction(r["bound"]) / exact[r["model"]], r["model"]) for r in mine)
        vals = [float(n) for n, _ in norm]
        print(f"\n{s}: {len(mine)} accepted; normalised {_spread(vals)}, median {statistics.median(vals):.3f}")
        print("  lowest three: " + ", ".join(f"{float(n):.3f} ({m})" for n, m in norm[:3]) +
              f"; highest {float(norm[-1][0]):.3f} ({norm[-1][1]})")
        print(f"  checker ops mean {statistics.mean(int(r['ops']) for r in mine):,.0f} "
              f"(min {min(int(r['ops']) for r in mine):,}, max {max(int(r['ops']) for r in mine):,}); "
              f"prove / check s median {statistics.median(float(r['prove_s']) for r in mine):.2f} / "
              f"{statistics.median(float(r['check_s']) for r in mine):.2f}, mean "
              f"{statistics.mean(float(r['prove_s']) for r in mine):.2f} / "
              f"{statistics.mean(float(r['check_s']) for r in mine):.2f}")
        if s == "cubic":
            print(f"  models at or above the paper's mean 0.953: {sum(n >= Fraction(953, 1000) for n, _ in norm)}")
        if s in ("subcubic", "hybrid"):
            chosen = Counter(_chosen(out, r) for r in mine)
            print("  chosen: " + "; ".join(f"{name} {n}" for name, n in chosen.most_common()))
        for r in mine:
            if r["model"] == "k4-v64-s123":
                print(f"  k4-v64-s123: {r['bound']} = {float(Fraction(r['bound'])):.6f}, normalised "
                      f"{float(Fraction(r['bound']) / exact[r['model']]):.4f}, ops {int(r['ops']):,}")


def _spread(vals: list[float], digits: int = 3) -> str:
    return f"{statistics.mean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f} (sample std)"


def _chosen(out: str, row: dict) -> str:
    """The variant (subcubic) or compact part (hybrid) the prover chose, from the row's certificate."""
    parameters = json.loads((Path(out) / row["certificate"]).read_text())["strategy"]["parameters"]
    return " / ".join(str(v) for v in parameters.values()) or "-"


if __name__ == "__main__":
    main()
