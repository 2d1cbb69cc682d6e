"""Brute-force benchmark on the default zoo model (k4-v64-s123), all figures from one run.

Measures:
  prove    certify.strategies.brute_force.prove, in this process
  check    `python -m checker CERT --json` in a child process: wall time (interpreter start-up,
           imports, hashing, exact paths, counting) and the checker's own reported time
  memory   peak RSS of that child (resource.getrusage(RUSAGE_CHILDREN).ru_maxrss)
  forward  a naive torch float32 forward pass over all 64^4 inputs in batches of 2^16, as a user
           would write it to measure the model's accuracy (argmax compared with the max token)

Targets: check wall time <= 0.25 x forward time; checker peak RSS <= 4 GiB.
Run: python benchmarks/brute_force.py   (about 1-2 minutes on 2 cores)
"""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from certify import zoo
from certify.certificate import certificate_dict, write_certificate
from certify.paths import load_float_model
from certify.strategies import brute_force
from certify.weights import load_model, sha256_file

MODEL = "k4-v64-s123"
BATCH = 1 << 16
TARGET_RATIO = 0.25
TARGET_RSS = 4 << 30


def prove(weights: Path):
    t0 = time.perf_counter()
    proof = brute_force.prove(load_float_model(weights))
    return proof, time.perf_counter() - t0


def check_in_child(cert: Path) -> tuple[dict, float, int, int]:
    """(the checker's JSON result, wall seconds, exit code, peak RSS in bytes) of a child run."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "checker", str(cert), "--json"],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    # ru_maxrss is in KiB on Linux (bytes on macOS); the largest over waited-for children.
    maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    rss = maxrss if sys.platform == "darwin" else maxrss * 1024
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError:
        result = {"verdict": "error", "reason": proc.stdout + proc.stderr}
    return result, wall, proc.returncode, rss


def torch_forward(weights: Path) -> tuple[int, int, float]:
    """Naive float32 accuracy over every input: (correct, total, seconds)."""
    model = load_model(weights).eval()
    V, K = model.cfg.d_vocab, model.cfg.k
    total = V ** K
    powers = V ** torch.arange(K - 1, -1, -1)
    correct = 0
    t0 = time.perf_counter()
    with torch.no_grad():
        for start in range(0, total, BATCH):
            idx = torch.arange(start, min(start + BATCH, total))
            tokens = (idx[:, None] // powers) % V                    # [batch, K], all inputs in order
            pred = model(tokens).argmax(dim=-1)
            correct += int((pred == tokens.max(dim=1).values).sum())
    return correct, total, time.perf_counter() - t0


def main() -> int:
    entry = zoo.lookup(MODEL)
    if entry is None:
        print(f"zoo model {MODEL} not found", file=sys.stderr)
        return 2
    weights = entry.path
    print(f"model {MODEL} ({weights.name}), python {platform.python_version()}, numpy {np.__version__}, "
          f"torch {torch.__version__}, {os.cpu_count()} cpus, torch threads {torch.get_num_threads()}")

    proof, prove_s = prove(weights)
    print(f"prove   (brute_force.prove):        {prove_s:8.2f} s   bound {proof.bound} "
          f"~ {float(proof.bound):.6f}")

    with tempfile.TemporaryDirectory() as tmp:
        cert = Path(tmp) / f"{MODEL}.brute-force.json"
        write_certificate(cert, certificate_dict(proof, entry.k, entry.d_vocab, sha256_file(weights),
                                                 f"zoo:{MODEL}"))
        result, check_wall, code, rss = check_in_child(cert)
    print(f"check   (python -m checker, child): {check_wall:8.2f} s wall, {result.get('seconds', 0):.2f} s "
          f"in check_file, {result.get('ops', 0):,} ops, verdict {result['verdict']} (exit {code})")
    print(f"memory  (checker peak RSS):         {rss / 2**20:8.1f} MiB")

    correct, total, fwd_s = torch_forward(weights)
    print(f"forward (torch float32, 2^16/batch):{fwd_s:8.2f} s   accuracy {correct}/{total} "
          f"~ {correct / total:.6f}")

    ratio = check_wall / fwd_s
    ok_ratio, ok_rss, ok_verdict = ratio <= TARGET_RATIO, rss <= TARGET_RSS, result["verdict"] == "accepted"
    print(f"\nratio check/forward = {ratio:.3f} (target <= {TARGET_RATIO}): {'PASS' if ok_ratio else 'FAIL'}")
    print(f"checker peak memory = {rss / 2**30:.2f} GiB (target <= {TARGET_RSS >> 30} GiB): "
          f"{'PASS' if ok_rss else 'FAIL'}")
    print(f"checker verdict     = {result['verdict']}: {'PASS' if ok_verdict else 'FAIL'}")
    if correct != proof.evidence["correct_inputs"]:
        print(f"note: float32 torch counts {correct} correct, the exact count is "
              f"{proof.evidence['correct_inputs']} (float32 rounding flips {abs(correct - proof.evidence['correct_inputs'])} inputs)")
    return 0 if ok_ratio and ok_rss and ok_verdict else 1


if __name__ == "__main__":
    sys.exit(main())
