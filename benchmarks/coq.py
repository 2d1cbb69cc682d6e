"""Coq bridge benchmark: build times of Coq developments, all figures from one run.

Rows: brute force for K=3/V=8, K=3/V=16, K=4/V=8 (d_model = d_head = 8, trained here with a fixed
seed), then the default zoo model k4-v64-s123's cubic certificate (skip it with --small). For each:
proves and checks the certificate, exports it (`exporters.coq.export`) and measures
  build    coq_makefile + make of the whole development (library, Main.v, Audit.v): wall time and
           CPU time of the children (the machine may be shared; coqc is single-threaded)
  Main.v   `coqc` of Main.v alone (the per-model part: weights, tables, every input): wall time
           and CPU time (GNU time's %e %U), the library being compiled already; small rows only
  MiB      peak RSS of the largest child process so far (getrusage RUSAGE_CHILDREN ru_maxrss)
Run: python benchmarks/coq.py [--small]   (small rows: a few minutes; the default model: longer)
"""
from __future__ import annotations

import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from certify.certificate import certificate_dict, write_certificate
from certify.model import Config
from certify.paths import load_float_model
from certify import zoo
from certify.strategies import brute_force, cubic
from certify.train import train
from certify.weights import save_model
from checker.check import check_file
from exporters import coq

SIZES = [(3, 8), (3, 16), (4, 8)]
SEED, STEPS = 123, 3000


def main() -> int:
    if not coq.coq_available():
        print(f"coqc not found: {coq.INSTALL}")
        return 2
    version = subprocess.run(["coqc", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"{version}; {platform.processor() or platform.machine()}, python {sys.version.split()[0]}")
    print(f"{'model':<13}{'rule':<12}{'inputs':>10}{'bound':>20}{'build s':>9}{'cpu s':>8}"
          f"{'Main.v s':>10}{'cpu s':>8}{'MiB':>7}  verdict", flush=True)
    status = 0
    with tempfile.TemporaryDirectory() as tmp:
        rows = [(f"k{k}-v{v}", brute_force, k, v) for k, v in SIZES]
        if "--small" not in sys.argv:
            rows.append((zoo.DEFAULT_MODEL, cubic, 4, 64))
        for name, strategy, k, v in rows:
            root = Path(tmp) / name
            root.mkdir()
            weights = root / "m.safetensors"
            if name == zoo.DEFAULT_MODEL:
                weights = Path(zoo.resolve(name)[0])
            else:
                save_model(train(Config(k, v, 8, 8), SEED, steps=STEPS, progress=False)[0], weights)
            proof = strategy.prove(load_float_model(weights))
            cert = root / "cert.json"
            from checker.safetensors import read_weights
            write_certificate(cert, certificate_dict(proof, k, v, read_weights(str(weights)).sha256, str(weights)))
            assert check_file(str(cert)).verdict == "accepted"
            coq.export(str(cert), str(root / "dev"))
            cpu0 = _children_cpu()
            b = coq.build(str(root / "dev"), timeout=7200)
            build_cpu = _children_cpu() - cpu0
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # largest child so far
            # Main.v alone, again, for the small rows (the default model's build is not repeated)
            main = f"{'':>10}{'':>8}" if v ** k > 10 ** 5 else "{:>10.1f}{:>8.1f}".format(*_time_main(root / "dev"))
            status |= not b.accepted
            print(f"{name:<13}{proof.strategy:<12}{v ** k:>10,}{str(proof.bound):>20}{b.seconds:>9.1f}"
                  f"{build_cpu:>8.1f}{main}{peak:>7.0f}  {'accepted' if b.accepted else 'NOT ACCEPTED'}", flush=True)
    return status


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _time_main(dev: Path) -> tuple[float, float]:
    out = subprocess.run(["/usr/bin/time", "-f", "%e %U", "coqc", "-Q", ".", "Certify", "Main.v"],
                         cwd=dev, capture_output=True, text=True, check=True)
    seconds, cpu = out.stderr.strip().splitlines()[-1].split()
    return float(seconds), float(cpu)


if __name__ == "__main__":
    sys.exit(main())
