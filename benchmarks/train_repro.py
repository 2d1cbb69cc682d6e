"""Which training settings give the same bits, and what each costs (issue #17; docs/zoo.md).

Trains one model per setting, each in a fresh subprocess (environment variables such as
ATEN_CPU_CAPABILITY, MKL_CBWR and NPY_DISABLE_CPU_FEATURES only act at start-up), and prints a table:
setting, SHA-256 of the tensor bytes, seconds, and which settings agree. Side by side in one run, so
the time ratios hold on a loaded machine even where absolute seconds do not.

    python benchmarks/train_repro.py                    # k4-v64-s123, 3000 steps: the zoo's default
    python benchmarks/train_repro.py --steps 300 --only ieee-v1
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

# the CPU-dispatch proxies for "another machine" that this build of torch / numpy honours
NUMPY_BASELINE = "X86_V3 X86_V4 AVX512_ICL AVX512_SPR"  # leaves numpy's SSE4.2 baseline loops
SETTINGS = [  # (mode, label, threads, environment)
    ("torch", "capability default", 1, {"ATEN_CPU_CAPABILITY": "default"}),
    ("torch", "capability avx2", 1, {"ATEN_CPU_CAPABILITY": "avx2"}),
    ("torch", "capability avx512", 1, {"ATEN_CPU_CAPABILITY": "avx512"}),
    ("torch", "avx512, 2 threads", 2, {"ATEN_CPU_CAPABILITY": "avx512"}),
    ("torch", "avx512, mkldnn off", 1, {"ATEN_CPU_CAPABILITY": "avx512", "CERTIFY_BENCH_NO_MKLDNN": "1"}),
    ("torch", "avx512, MKL_CBWR=AVX2", 1, {"ATEN_CPU_CAPABILITY": "avx512", "MKL_CBWR": "AVX2"}),
    ("torch", "default, MKL_CBWR=COMPATIBLE", 1, {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"}),
    ("torch", "default, COMPATIBLE, 2 threads", 2, {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"}),
    ("torch", "avx2, MKL_CBWR=COMPATIBLE", 1, {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE"}),
    ("ieee-v1", "capability avx512", 1, {"ATEN_CPU_CAPABILITY": "avx512"}),
    ("ieee-v1", "avx512, 2 threads", 2, {"ATEN_CPU_CAPABILITY": "avx512"}),
    ("ieee-v1", "default, MKL_CBWR=COMPATIBLE, numpy baseline", 1,
     {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "NPY_DISABLE_CPU_FEATURES": NUMPY_BASELINE}),
    ("ieee-v1", "avx2, MKL_CBWR=AVX2, numpy baseline, 2 threads", 2,
     {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "NPY_DISABLE_CPU_FEATURES": NUMPY_BASELINE}),
]


def child(mode: str, k: int, d_vocab: int, seed: int, steps: int, threads: int) -> dict[str, object]:
    """One training run in this process; the tensors' SHA-256 (metadata excluded) and the time."""
    import torch
    from certify.model import Config
    from certify.train import train
    if os.environ.get("CERTIFY_BENCH_NO_MKLDNN"):
        torch.backends.mkldnn.enabled = False
    start = time.perf_counter()
    model, loss = train(Config(k, d_vocab), seed, steps=steps, progress=False, mode=mode, threads=threads)
    seconds = time.perf_counter() - start
    digest = hashlib.sha256(b"".join(t.numpy().tobytes() for t in model.state().values())).hexdigest()
    return {"sha256": digest, "seconds": seconds, "loss": loss, "threads": threads,
            "capability": torch.backends.cpu.get_cpu_capability()}


def run_setting(mode: str, threads: int, env: dict[str, str], args: argparse.Namespace) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--child", mode, "--k", str(args.k), "--d-vocab", str(args.d_vocab),
           "--seed", str(args.seed), "--steps", str(args.steps), "--threads", str(threads)]
    full_env = {key: value for key, value in os.environ.items()
                if key not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "NPY_DISABLE_CPU_FEATURES")}
    # passive OpenMP waiting: spinning threads on a shared machine cost minutes, and no bits
    out = subprocess.run(cmd, env={**full_env, "OMP_WAIT_POLICY": "PASSIVE", **env}, capture_output=True,
                         text=True)
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--d-vocab", type=int, default=64)
    p.add_argument("--seed", type=int, default=123)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--only", choices=["torch", "ieee-v1"], help="one mode's settings")
    p.add_argument("--child", metavar="MODE", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.k, args.d_vocab, args.seed, args.steps, args.threads)))
        return
    print(f"k{args.k}-v{args.d_vocab}-s{args.seed}, {args.steps} steps; one subprocess per setting\n")
    print("| mode | setting | capability | threads | tensors SHA-256 | group | seconds |")
    print("|---|---|---|---|---|---|---|")
    groups: dict[str, str] = {}
    for mode, label, threads, env in SETTINGS:
        if args.only and mode != args.only:
            continue
        r = run_setting(mode, threads, env, args)
        group = groups.setdefault(r["sha256"], "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[len(groups)])
        print(f"| {mode} | {label} | {r['capability']} | {r['threads']} | {r['sha256'][:16]}… | {group} "
              f"| {r['seconds']:.1f} |", flush=True)
    print("\nsame group letter = bit-identical weights")


if __name__ == "__main__":
    main()
