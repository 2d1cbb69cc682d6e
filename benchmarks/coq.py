"""Coq bridge benchmark: build times of brute-force developments, all figures from one run.

For each size (K=3/V=8, K=3/V=16, K=4/V=8, d_model = d_head = 8) it trains a model (fixed seed),
proves and checks a brute-force certificate, exports it (`exporters.coq.export`) and measures:
  build    coq_makefile + make of the whole development (library, Main.v, Audit.v), wall time
  Main.v   `coqc` of Main.v alone (the per-model part: weights, tables, every input) and its
           peak RSS (GNU time's %M), the library being compiled already
Run: python benchmarks/coq.py   (about 2-4 minutes on 2 cores)
"""
from __future__ import annotations

import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from certify.certificate import certificate_dict, write_certificate
from certify.model import Config
from certify.paths import load_float_model
from certify.strategies import brute_force
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
    print(f"{'model':<10}{'inputs':>8}{'bound':>12}{'export s':>10}{'build s':>9}{'Main.v s':>10}{'Main.v MiB':>12}  verdict")
    status = 0
    with tempfile.TemporaryDirectory() as tmp:
        for k, v in SIZES:
            root = Path(tmp) / f"k{k}v{v}"
            root.mkdir()
            model, _ = train(Config(k, v, 8, 8), SEED, steps=STEPS, progress=False)
            digest = save_model(model, root / "m.safetensors")
            proof = brute_force.prove(load_float_model(root / "m.safetensors"))
            cert = root / "cert.json"
            write_certificate(cert, certificate_dict(proof, k, v, digest, "m.safetensors"))
            assert check_file(str(cert)).verdict == "accepted"
            t0 = time.perf_counter()
            coq.export(str(cert), str(root / "dev"))
            export_s = time.perf_counter() - t0
            b = coq.build(str(root / "dev"))
            main_s, main_kib = _time_main(root / "dev")
            status |= not b.accepted
            print(f"k{k}-v{v:<6}{v ** k:>8}{str(proof.bound):>12}{export_s:>10.2f}{b.seconds:>9.1f}{main_s:>10.1f}"
                  f"{main_kib / 1024:>12.0f}  {'accepted' if b.accepted else 'NOT ACCEPTED'}")
    return status


def _time_main(dev: Path) -> tuple[float, int]:
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M", "coqc", "-Q", ".", "Certify", "Main.v"],
                         cwd=dev, capture_output=True, text=True, check=True)
    seconds, kib = out.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kib)


if __name__ == "__main__":
    sys.exit(main())
