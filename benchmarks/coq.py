"""Coq bridge benchmark: build times and peak memory of Coq developments, all figures from one run.

Rows, for K=3/V=8, K=3/V=16, K=4/V=8 (d_model = d_head = 8, trained here with a fixed seed) and
then the default zoo model k4-v64-s123 (skip it with --small):
  brute force                     every input decided inside Coq (small models only)
  cubic, counting lemma           the cases' inputs counted by Counting.v's C(K-1, c) |S|^c
  cubic, enumeration              the same count by listing all V^K inputs, one lookup each
For each: proves and checks the certificate, exports it (`exporters.coq.export`) and measures
  build    coq_makefile + make of the whole development (library, Main.v, Audit.v): wall time and
           CPU time of the children (the machine may be shared; coqc is single-threaded)
  Main.v   `coqc` of Main.v alone (the per-model part: weights, tables, the count): wall and CPU
           time (GNU time's %e %U), the library being compiled already; rows under 10^5 inputs
  MiB      peak RSS of the largest process of that build (each build runs in a fresh process, so
           its getrusage(RUSAGE_CHILDREN) ru_maxrss is that build's alone)
Run: python benchmarks/coq.py [--small | --default]   (--small: the small rows, a few minutes;
--default: the default model's counting-lemma row only, about 4 minutes; all rows: about 25 minutes)
"""
from __future__ import annotations

import multiprocessing
import platform
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from certify import zoo
from certify.certificate import certificate_dict, write_certificate
from certify.model import Config
from certify.paths import load_float_model
from certify.strategies import brute_force, cubic
from certify.train import train
from certify.weights import save_model
from checker.check import check_file
from checker.safetensors import read_weights
from exporters import coq

SIZES = [(3, 8), (3, 16), (4, 8)]
SEED, STEPS = 123, 3000
METHODS = [(brute_force, False, "enumeration"), (cubic, False, "counting lemma"), (cubic, True, "enumeration")]


def main() -> int:
    if not coq.coq_available():
        print(f"coqc not found: {coq.INSTALL}")
        return 2
    version = subprocess.run(["coqc", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"{version}; {platform.processor() or platform.machine()}, python {sys.version.split()[0]}")
    print(f"{'model':<13}{'rule':<13}{'count':<16}{'inputs':>11}{'bound':>20}{'build s':>9}{'cpu s':>8}"
          f"{'Main.v s':>10}{'cpu s':>8}{'MiB':>7}  verdict", flush=True)
    status = 0
    with tempfile.TemporaryDirectory() as tmp:
        models = [] if "--default" in sys.argv else [(f"k{k}-v{v}", k, v) for k, v in SIZES]
        if "--small" not in sys.argv:
            models.append((zoo.DEFAULT_MODEL, 4, 64))
        for name, k, v in models:
            root = Path(tmp) / name
            root.mkdir()
            weights = root / "m.safetensors"
            if name == zoo.DEFAULT_MODEL:
                weights = Path(zoo.resolve(name)[0])
            else:
                save_model(train(Config(k, v, 8, 8), SEED, steps=STEPS, progress=False)[0], weights)
            sha = read_weights(str(weights)).sha256
            for strategy, enumerate_, count in METHODS:
                if strategy is brute_force and v ** k > 10 ** 5:
                    continue  # brute force inside Coq: small models only
                if enumerate_ and "--default" in sys.argv:
                    continue  # the enumeration comparison: full runs only
                proof = strategy.prove(load_float_model(weights))
                cert = root / f"{proof.strategy}.json"
                write_certificate(cert, certificate_dict(proof, k, v, sha, str(weights)))
                assert check_file(str(cert)).verdict == "accepted"
                dev = root / f"dev-{proof.strategy}-{'enum' if enumerate_ else 'count'}"
                coq.export(str(cert), str(dev), enumerate=enumerate_)
                b, build_cpu, peak = _measured_build(dev)
                main = f"{'':>10}{'':>8}" if v ** k > 10 ** 5 else "{:>10.1f}{:>8.1f}".format(*_time_main(dev))
                status |= not b.accepted
                print(f"{name:<13}{proof.strategy:<13}{count:<16}{v ** k:>11,}{str(proof.bound):>20}"
                      f"{b.seconds:>9.1f}{build_cpu:>8.1f}{main}{peak:>7.0f}  "
                      f"{'accepted' if b.accepted else 'NOT ACCEPTED'}", flush=True)
    return status


def _measured_build(dev: Path) -> tuple[coq.Build, float, float]:
    """coq.build in a fresh process: (the build, its children's CPU seconds, their peak RSS in MiB)."""
    with multiprocessing.get_context("fork").Pool(1) as pool:
        return pool.apply(_build_child, (str(dev),))


def _build_child(dev: str) -> tuple[coq.Build, float, float]:
    b = coq.build(dev, timeout=7200)
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return b, r.ru_utime + r.ru_stime, r.ru_maxrss / 1024


def _time_main(dev: Path) -> tuple[float, float]:
    out = subprocess.run(["/usr/bin/time", "-f", "%e %U", "coqc", "-Q", ".", "Certify", "Main.v"],
                         cwd=dev, capture_output=True, text=True, check=True)
    seconds, cpu = out.stderr.strip().splitlines()[-1].split()
    return float(seconds), float(cpu)


if __name__ == "__main__":
    sys.exit(main())
