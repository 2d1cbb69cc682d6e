"""Hybrid benchmark: the exact accuracy at a fraction of brute force, all figures from one run.

Default (k4-v64-s123): brute-force and hybrid side by side, each proved in this process and
checked by checker.check.check_file (wall seconds, checker ops, verdict), plus the naive torch
float32 forward pass over every input that benchmarks/brute_force.py times (the paper's unchecked
brute force). Targets: hybrid bound = the exact accuracy (certify/zoo/manifest.json); hybrid
checker ops <= brute force's / 10; hybrid check time <= brute force's / 4; brute-force prove time
<= brute-force check time; hybrid prove + check <= torch forward / 10. Also the hybrid on each
compact part forced (cubic, best subcubic), proved and checked: the prover's choice must be the
one with the fewer checker ops.

--k5: also k5-v64-s123 (64^5 = 1.07e9 inputs): hybrid prove + check <= 120 s, and its bound equal to
the manifest's exact accuracy (the checker's brute-force count; a brute-force check of that model
takes tens of minutes, so it is not repeated here).
--model WEIGHTS: also the residue each compact part leaves on another model (e.g. a K = 6 one from
`certify train --k 6`), whether the rule's 2^31 limit admits it, and its cost at --k5's rate.

The machine is shared: `uptime` is printed beside the numbers; compare ratios, not seconds. The
torch forward pass uses torch's default thread count unless OMP_NUM_THREADS says otherwise (printed).
Run: python benchmarks/hybrid.py [--k5] [--model WEIGHTS]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import torch
from brute_force import torch_forward
from strategies import measure

from certify import zoo
from certify.paths import load_float_model
from certify.strategies import get
from certify.strategies import hybrid as hybrid_prover
from checker.rules.hybrid import MAX_RESIDUE, residue_size

MODEL, K5 = "k4-v64-s123", "k5-v64-s123"
OPS_RATIO, TIME_RATIO, FORWARD_RATIO, K5_SECONDS = 10, 4, 10, 120.0


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def row(entry: zoo.ZooEntry, name: str, tmp: Path, prove=None) -> dict:
    r = measure(entry, name, prove or get(name.split(" ")[0]).prove, tmp)
    norm = "n/a" if r["normalized"] is None else f"{float(r['normalized']):.6f}"
    compact = f"  compact {r['parameters']['compact']}" if "compact" in r["parameters"] else ""
    print(f"{entry.name:<13} {name:<19} prove {r['prove_s']:8.2f} s  check {r['check_s']:8.2f} s  "
          f"ops {r['ops']:>15,}  bound {float(r['bound']):.6f}  normalized {norm}  {r['verdict']}{compact}"
          f"   [{uptime()}]", flush=True)
    return r


def forced(entry: zoo.ZooEntry, tmp: Path) -> dict[str, dict]:
    """The hybrid on each candidate compact part, proved (parts found again: not in prove_s) and checked."""
    parts = hybrid_prover.compact_parts(load_float_model(entry.path))
    return {part.name: row(entry, f"hybrid ({part.name})", tmp, lambda m, part=part: hybrid_prover.proof(m, part))
            for part in parts}


def residues(m) -> dict[str, int]:
    """The inputs each candidate compact part leaves."""
    return {part.name: residue_size(m.d_vocab, m.k, part.sets) for part in hybrid_prover.compact_parts(m)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k5", action="store_true", help=f"also {K5} (about a minute or two)")
    ap.add_argument("--model", action="append", default=[], metavar="WEIGHTS",
                    help="also report the residue of this model (e.g. a K = 6 one) and its estimated cost")
    args = ap.parse_args()
    entry = zoo.lookup(MODEL)
    exact = Fraction(entry.accuracy)
    print(f"{os.cpu_count()} cpus, torch threads {torch.get_num_threads()} (the checker and provers: one); {uptime()}")
    checks = []
    with tempfile.TemporaryDirectory() as tmp:
        bf, hy = row(entry, "brute-force", Path(tmp)), row(entry, "hybrid", Path(tmp))
        both = forced(entry, Path(tmp))
        cheaper = min(both, key=lambda name: both[name]["ops"])
        correct, total, fwd_s = torch_forward(entry.path)
        print(f"{MODEL:<13} {'torch f32':<12} forward {fwd_s:6.2f} s over all {total:,} inputs (unchecked)")
        checks += [
            (f"hybrid bound = exact accuracy {entry.accuracy}", hy["bound"] == exact),
            (f"hybrid ops = brute force / {bf['ops'] / hy['ops']:.1f} (target >= {OPS_RATIO})",
             hy["ops"] * OPS_RATIO <= bf["ops"]),
            (f"hybrid check = brute force / {bf['check_s'] / hy['check_s']:.1f} (target >= {TIME_RATIO})",
             hy["check_s"] * TIME_RATIO <= bf["check_s"]),
            (f"brute-force prove / check = {bf['prove_s'] / bf['check_s']:.2f} (target <= 1)",
             bf["prove_s"] <= bf["check_s"]),
            (f"hybrid prove + check = torch forward / {fwd_s / (hy['prove_s'] + hy['check_s']):.1f} "
             f"(target >= {FORWARD_RATIO})", (hy["prove_s"] + hy["check_s"]) * FORWARD_RATIO <= fwd_s),
            ("every certificate accepted", bf["verdict"] == hy["verdict"] == "accepted"
             and all(r["verdict"] == "accepted" and r["bound"] == exact for r in both.values())),
            (f"prover's compact part {hy['parameters']['compact']} = the one with the fewer checker ops "
             f"({', '.join(n + ' ' + format(r['ops'], ',') for n, r in both.items())})",
             hy["parameters"]["compact"] == cheaper),
        ]
        if args.k5:
            e5 = zoo.lookup(K5)
            h5 = row(e5, "hybrid", Path(tmp))
            h5["residue"] = residues(load_float_model(e5.path))[h5["parameters"]["compact"]]
            checks += [(f"{K5} hybrid bound = exact accuracy {e5.accuracy}", h5["bound"] == Fraction(e5.accuracy)),
                       (f"{K5} hybrid prove + check = {h5['prove_s'] + h5['check_s']:.1f} s (target <= {K5_SECONDS:.0f} s)",
                        h5["prove_s"] + h5["check_s"] <= K5_SECONDS)]
        for path in args.model:
            m = load_float_model(path)
            t0 = time.perf_counter()
            left = residues(m)
            found_s = time.perf_counter() - t0
            per_input = (h5["prove_s"] + h5["check_s"]) / h5["residue"] if args.k5 else None
            for name, n in left.items():
                print(f"{Path(path).name}: K = {m.k}, {m.d_vocab ** m.k:,} inputs; the {name} cases leave "
                      f"{n:,} ({n / m.d_vocab ** m.k:.2%}; both parts found in {found_s:.1f} s); "
                      f"limit {MAX_RESIDUE:,}: {'within' if n <= MAX_RESIDUE else 'refused'}"
                      + (f"; at {K5}'s prove + check rate ({per_input * 1e6:.2f} us per residue input) "
                         f"about {n * per_input / 60:.0f} min" if per_input else ""))
    print()
    for text, ok in checks:
        print(f"{text}: {'PASS' if ok else 'FAIL'}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
