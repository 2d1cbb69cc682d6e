"""Resource-safety benchmark (issue #11), all figures from one run, side by side.

1. Logit offset: the default zoo model (k4-v64-s123) and the same model with every unembed.b_U
   entry at 2^60 (every logit shifted alike: same exact accuracy, same cubic cases). Each model's
   brute-force and cubic certificates are checked by `python -m checker` in a child process.
   Target: the offset model's checks take at most 3x the unshifted model's.
2. Wide vocabulary: the issue's 13 KB file, d_vocab = 1024, K = 2, d_model = d_head = 1, with a
   brute-force and a cubic certificate (no cases). Target for brute force (which asked for 16 GiB):
   refused or checked within seconds, under 1 GiB; the cubic rule's time and memory are shown.

Run: python benchmarks/resource_safety.py   (about a minute on 2 cores)
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from certify import zoo
from certify.model import PARAM_SHAPES, Config, MaxOfK
from certify.paths import load_float_model
from certify.strategies import cubic
from certify.weights import load_model, save_model

MODEL = "k4-v64-s123"
RATIO = 3.0
WIDE_SECONDS, WIDE_RSS = 30.0, 1 << 30


def child(cert: Path) -> tuple[dict, float, int, int]:
    """(the checker's JSON result, wall seconds, exit code, peak RSS in bytes) of one child run."""
    code = ("import re, runpy, sys\n"
            "try: runpy.run_module('checker', run_name='__main__')\n"
            "finally: print(re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read())[1], file=sys.stderr)")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, str(cert), "--json"], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    rss = int(proc.stderr.strip().splitlines()[-1]) * 1024  # VmHWM, kB: this process only (Linux)
    return json.loads(proc.stdout), wall, proc.returncode, rss


def certificate(path: Path, weights: Path, k: int, v: int, strategy: str, evidence: dict,
                bound: Fraction) -> Path:
    path.write_text(json.dumps({
        "format": "certify-certificate", "version": 1,
        "claim": {"task": "max-of-k", "k": k, "d_vocab": v, "semantics": "exact-real",
                  "accuracy_lower_bound": f"{bound.numerator}/{bound.denominator}"},
        "model": {"sha256": hashlib.sha256(weights.read_bytes()).hexdigest(), "path": str(weights)},
        "strategy": {"name": strategy, "parameters": {}}, "evidence": evidence}))
    return path


def offset_models(tmp: Path) -> dict[str, Path]:
    weights, _ = zoo.resolve(MODEL)
    model = load_model(weights)
    state = {k: v.clone() for k, v in model.state().items()}
    assert not state["unembed.b_U"].any(), "the default model has b_U = 0: a constant b_U is a pure offset"
    state["unembed.b_U"][:] = 2.0 ** 60
    shifted = tmp / "offset.safetensors"
    save_model(MaxOfK.from_state(model.cfg, state), shifted)
    return {"default": Path(weights), "b_U = 2^60": shifted}


def wide_model(tmp: Path) -> Path:
    rng = np.random.default_rng(0)
    cfg = Config(2, 1024, 1, 1)
    state = {n: torch.from_numpy(rng.normal(size=shape(cfg)).astype(np.float32)) for n, shape in PARAM_SHAPES.items()}
    path = tmp / "v1024.safetensors"
    save_model(MaxOfK.from_state(cfg, state), path)
    return path


def main() -> int:
    ok = True
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        entry = next(e for e in zoo.entries() if e.name == MODEL)
        acc = Fraction(entry.accuracy)
        models = offset_models(tmp)
        proof = cubic.prove(load_float_model(models["default"]))
        print(f"1. logit offset ({MODEL}; brute force and cubic checks, child processes)")
        print(f"{'model':<12} {'strategy':<12} {'verdict':<9} {'bound':>10} {'wall s':>7} {'checker s':>9} "
              f"{'ops':>13} {'peak RSS':>9}")
        times: dict[tuple[str, str], float] = {}
        for label, weights in models.items():
            for strategy, evidence, bound in [
                    ("brute-force", {"correct_inputs": acc.numerator, "total_inputs": acc.denominator}, acc),
                    ("cubic", proof.evidence, proof.bound)]:
                cert = certificate(tmp / f"{label[:3]}.{strategy}.json", weights, 4, 64, strategy, evidence, bound)
                r, wall, code, rss = child(cert)
                times[label, strategy] = r["seconds"]
                ok &= code == 0
                print(f"{label:<12} {strategy:<12} {r['verdict']:<9} {float(bound):>10.6f} {wall:>7.2f} "
                      f"{r['seconds']:>9.2f} {r['ops']:>13,} {rss / 2**20:>7.0f} MB")
        for strategy in ("brute-force", "cubic"):
            ratio = times["b_U = 2^60", strategy] / times["default", strategy]
            ok &= ratio <= RATIO
            print(f"   {strategy}: offset / default checker time = {ratio:.2f} (target <= {RATIO:g})")
        wide = wide_model(tmp)
        print(f"\n2. d_vocab = 1024, K = 2, d_model = d_head = 1 ({wide.stat().st_size:,} bytes of weights)")
        for strategy, evidence in [("brute-force", {"correct_inputs": 0, "total_inputs": 1024 ** 2}),
                                   ("cubic", {"cases": []})]:
            cert = certificate(tmp / f"wide.{strategy}.json", wide, 2, 1024, strategy, evidence, Fraction(0))
            r, wall, code, rss = child(cert)
            if strategy == "brute-force":  # the finding: it used to ask for 16 GiB
                ok &= wall <= WIDE_SECONDS and rss <= WIDE_RSS and code in (0, 3)
            print(f"   {strategy:<12} exit {code} {r['verdict']:<9} {wall:6.2f} s wall, peak RSS "
                  f"{rss / 2**20:.0f} MB: {r['reason'][:110]}")
        print(f"   target (brute force): refused (exit 3) or checked within {WIDE_SECONDS:g} s, under "
              f"{WIDE_RSS / 2**30:g} GiB; cubic: O(d_vocab^2 K) tables, shown for information")
    print("\nall targets met" if ok else "\nTARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
