"""Coq export of a certificate: a development whose theorem Coq's kernel checks.

`export` writes DIR/_CoqProject (DIR is the logical name `Certify`), the fixed library
(exporters/coq/*.v: the statement's definitions in Semantics.v, the decision procedures and their
soundness proofs in the others), Main.v (the weights and `Theorem accuracy_bound`) and Audit.v
(`Print Assumptions accuracy_bound`). The weights are read, hashed and turned into exact integers
times a power of two by the checker's own code (checker.safetensors, checker.dyadic), never by
the prover. `build` runs coq_makefile and make, then refuses any assumption beyond Coq's own.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from checker.certificate import parse_certificate
from checker.check import resolve_model_path
from checker.dyadic import Dyadic
from checker.safetensors import read_weights

LIBRARY_DIR = Path(__file__).with_name("coq")
LIBRARY = ["Semantics.v", "Facts.v", "Dyadic.v", "ExpBounds.v", "Paths.v", "Tables.v", "BruteForce.v", "Counting.v", "Cubic.v"]
INSTALL = "apt-get update && apt-get install -y coq libcoq-interval libcoq-flocq"
# exp enclosure parameters: 2^SQUARINGS squarings' worth of (1 + x/2^k)^(2^k), rounded at 2^-PRECISION.
# They only affect how close to a tie an input may be and still be decided; soundness is proven
# for every value.
SQUARINGS, PRECISION = 60, 128
# (Coq name, file name, index of the single head or None, comment)
TENSORS = [("W_E", "embed.W_E", None, "[d_vocab, d_model]"), ("W_pos", "pos_embed.W_pos", None, "[K, d_model]"),
           ("W_Q", "blocks.0.attn.W_Q", 0, "[d_model, d_head]"), ("W_K", "blocks.0.attn.W_K", 0, "[d_model, d_head]"),
           ("W_V", "blocks.0.attn.W_V", 0, "[d_model, d_head]"), ("b_Q", "blocks.0.attn.b_Q", 0, "[d_head]"),
           ("b_K", "blocks.0.attn.b_K", 0, "[d_head]"), ("b_V", "blocks.0.attn.b_V", 0, "[d_head]"),
           ("W_O", "blocks.0.attn.W_O", 0, "[d_head, d_model]"), ("b_O", "blocks.0.attn.b_O", None, "[d_model]"),
           ("W_U", "unembed.W_U", None, "[d_model, d_vocab]"), ("b_U", "unembed.b_U", None, "[d_vocab]")]
# Print Assumptions may list only these: the classical axioms of Coq.Reals and what they rest on,
# and the kernel's primitive 63-bit integers (Bignums' digits) with their specifications.
COQ_AXIOMS = {"ClassicalDedekindReals.sig_forall_dec", "ClassicalDedekindReals.sig_not_dec",
              "FunctionalExtensionality.functional_extensionality_dep", "Classical_Prop.classic"}
COQ_AXIOM_MODULES = ("PrimInt63.", "Uint63.")
# Words that would let a development assume what it claims; none may occur in its sources.
FORBIDDEN = re.compile(r"\b(Admitted|admit|Axiom|Axioms|Parameter|Parameters|Hypothesis|Hypotheses|"
                       r"Variable|Variables|Conjecture|Context)\b")
# strategy -> (Coq module, soundness theorem) deciding it; the cubic count comes from the counting
# lemma (Counting.v), or, with enumerate=True, from listing every input (benchmarks/coq.py compares them)
STRATEGIES = {"brute-force": ("BruteForce", "brute_check_sound"), "cubic": ("Cubic", "cubic_check_sound")}
ENUMERATED = {"cubic": "cubic_enum_check_sound"}
# Brute force inside Coq decides every input (a few ms each, docs/coq.md): beyond this, hours.
MAX_BRUTE_INPUTS = 100_000


class CoqError(Exception):
    """The export or build could not be done (bad input, or Coq missing): exit code 2."""


@dataclass(frozen=True)
class Build:
    accepted: bool
    seconds: float
    log: str
    assumptions: list[str]  # axioms Print Assumptions listed (empty: closed under the global context)


def export(cert_path: str, out_dir: str, weights: str | None = None, enumerate: bool = False) -> Fraction:
    """Write the development for a certificate into out_dir; returns the bound it states.
    enumerate: count a cubic certificate's covered inputs by listing all V^K of them (slower)."""
    try:
        cert = parse_certificate(Path(cert_path).read_bytes())
    except OSError as e:
        raise CoqError(f"cannot read {cert_path}: {e.strerror or e}") from None
    if cert.strategy not in STRATEGIES:
        raise CoqError(f"no Coq export for strategy {cert.strategy!r} (supported: {', '.join(sorted(STRATEGIES))})")
    w = read_weights(weights or resolve_model_path(cert.model_path, cert_path))
    if w.sha256 != cert.sha256:
        raise CoqError("the weights do not match the certificate's SHA-256")
    if cert.strategy == "brute-force" and w.d_vocab ** w.k > MAX_BRUTE_INPUTS:
        raise CoqError(f"brute force in Coq decides all {w.d_vocab ** w.k:,} inputs one by one (hours; cap "
                       f"{MAX_BRUTE_INPUTS:,}): export a cubic certificate instead (`certify run --strategy cubic`)")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CoqError(f"cannot create {out_dir}: {e.strerror or e}") from None
    for name in LIBRARY:
        shutil.copyfile(LIBRARY_DIR / name, out / name)
    (out / "Main.v").write_text(main_v(w, cert.bound, Path(cert_path).name, cert.strategy, enumerate))
    (out / "Audit.v").write_text("From Certify Require Import Main.\nPrint Assumptions accuracy_bound.\n")
    (out / "_CoqProject").write_text("-Q . Certify\n" + "".join(f"{n}\n" for n in LIBRARY + ["Main.v", "Audit.v"]))
    return cert.bound


def main_v(w, bound: Fraction, cert_name: str, strategy: str, enumerate: bool = False) -> str:
    module, theorem = STRATEGIES[strategy]
    theorem = ENUMERATED.get(strategy, theorem) if enumerate else theorem
    defs = "\n".join(_tensor_def(name, w.tensors[key], head, shape) for name, key, head, shape in TENSORS)
    fields = "; ".join(f"{n} := net_{n}" for n, *_ in TENSORS)
    return f"""(** Generated by `certify export coq` from {cert_name}.
    The weights are the float32 values of the safetensors file with SHA-256
      {w.sha256}
    read by the certify checker, each written exactly as an integer times 2^scale.
    The statement [accuracy_bound] uses only Semantics.v's definitions. *)
From Coq Require Import ZArith Reals List.
From Certify Require Import Semantics {module}.
Import ListNotations.
Open Scope Z_scope.

{defs}

Definition net : model := {{|
  K := {w.k}; d_vocab := {w.d_vocab}; d_model := {w.d_model}; d_head := {w.d_head};
  {fields} |}}.

(** The claim: at least {bound.numerator}/{bound.denominator} of the {w.d_vocab}^{w.k} inputs are classified correctly. *)
Theorem accuracy_bound : ({bound.numerator} / {bound.denominator} <= accuracy net)%R.
Proof. apply ({theorem} {SQUARINGS} {PRECISION}). vm_compute. reflexivity. Qed.
"""


def _tensor_def(name: str, a: np.ndarray, head: int | None, shape: str) -> str:
    a = a[head] if head is not None else a
    d = Dyadic.from_floats(a.reshape(1, -1) if a.ndim == 1 else a)
    rows = ";\n    ".join("[" + "; ".join(str(int(v)) for v in row) + "]" for row in d.n)
    return f"(* {shape} *)\nDefinition net_{name} : tensor := {{| scale := {d.e}; rows := [\n    {rows}] |}}."


def coq_available() -> bool:
    return shutil.which("coqc") is not None and shutil.which("coq_makefile") is not None


def build(out_dir: str, timeout: float = 3600.0, jobs: int = 2) -> Build:
    """Build the development; accepted only if make succeeds and every assumption is Coq's own."""
    if not coq_available():
        raise CoqError(f"coqc not found: install Coq 8.16 with `{INSTALL}`")
    start = time.monotonic()
    log = []
    for cmd in (["coq_makefile", "-f", "_CoqProject", "-o", "CoqMakefile"], ["make", f"-j{jobs}", "-f", "CoqMakefile"]):
        code, text = _run(cmd, out_dir, timeout - (time.monotonic() - start))
        log.append(text)
        if code != 0:
            return Build(False, time.monotonic() - start, "".join(log), [])
    text = "".join(log)
    assumptions = _assumptions(text)
    ok = assumptions is not None and all(coq_own(a) for a in assumptions) and not forbidden_words(out_dir)
    return Build(ok, time.monotonic() - start, text, assumptions or [])


def coq_own(axiom: str) -> bool:
    return axiom in COQ_AXIOMS or axiom.startswith(COQ_AXIOM_MODULES)


def forbidden_words(out_dir: str) -> list[str]:
    """`file: word` for every forbidden word in the development's sources (comments included)."""
    return [f"{f.name}: {m.group(0)}" for f in sorted(Path(out_dir).glob("*.v"))
            for m in FORBIDDEN.finditer(f.read_text())] + \
           [f"{f.name}: shadows a Coq module" for f in Path(out_dir).glob("*.v")
            if f.stem in ("PrimInt63", "Uint63", "ClassicalDedekindReals", "Classical_Prop", "FunctionalExtensionality")]


def _run(cmd: list[str], cwd: str, timeout: float) -> tuple[int, str]:
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=max(timeout, 1.0))
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # our own child's process group (make and its coqc)
        out, _ = proc.communicate()
        return 124, out + f"\ntimed out after {timeout:.0f} s\n"


def _assumptions(log: str) -> list[str] | None:
    """The axioms Audit.v printed, or None if its output is missing."""
    if "Closed under the global context" in log:
        return []
    m = re.search(r"^Axioms:\n((?:.+\n?)*)", log, re.M)
    if not m:
        return None
    return [line.split()[0] for line in m.group(1).splitlines() if line and not line[0].isspace()]


def check(cert_path: str, weights: str | None = None, keep: str | None = None,
          timeout: float = 3600.0) -> tuple[Build, Fraction]:
    """Export to a temporary folder (or `keep`) and build it."""
    if not coq_available():
        raise CoqError(f"coqc not found: install Coq 8.16 with `{INSTALL}`")
    with tempfile.TemporaryDirectory(prefix="certify-coq-") as tmp:
        out = keep or tmp
        bound = export(cert_path, out, weights)
        return build(out, timeout), bound


def _summary(b: Build) -> str:
    prim = sum(a.startswith(COQ_AXIOM_MODULES) for a in b.assumptions)
    return (f"Print Assumptions: {len(b.assumptions) - prim} axioms of Coq's real numbers"
            f"{f' and {prim} of its primitive integers' if prim else ''}, none of ours")


def export_command(cert_path: str, out_dir: str, weights: str | None) -> int:
    """`certify export coq`: 0 written, 2 not possible (message, never a traceback)."""
    try:
        bound = export(cert_path, out_dir, weights)
    except Exception as e:  # unreadable or malformed certificate or weights, unsupported strategy
        print(f"certify export coq: {e}")
        return 2
    print(f"wrote a Coq development to {out_dir}/ stating accuracy >= {bound}; build it with\n"
          f"  cd {out_dir} && coq_makefile -f _CoqProject -o CoqMakefile && make -f CoqMakefile")
    return 0


def check_command(cert_path: str, weights: str | None, timeout: float = 3600.0) -> int:
    """`certify check --coq`: 0 Coq accepts the theorem, 1 it does not, 2 cannot try."""
    try:
        b, bound = check(cert_path, weights, timeout=timeout)
    except Exception as e:
        print(f"Coq {cert_path}: {e}")
        return 2
    if b.accepted:
        print(f"Coq {cert_path}: accepted `accuracy_bound : {bound} <= accuracy` in {b.seconds:.1f} s; {_summary(b)}")
        return 0
    bad = [a for a in b.assumptions if not coq_own(a)]
    tail = "\n".join(b.log.strip().splitlines()[-12:])
    print(f"Coq {cert_path}: NOT accepted after {b.seconds:.1f} s"
          + (f"; assumptions not Coq's own: {bad}" if bad else "") + f"\n{tail}")
    return 1
