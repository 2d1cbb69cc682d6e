"""The checker's driver: read the certificate, load and hash the weights, run the strategy's rule.

Fails closed: every path that does not end in a proven bound >= the claim is one of the three
failures of checker/errors.py, with its verdict and exit code.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from checker.certificate import MAX_BYTES, parse_certificate
from checker.errors import CheckFailure, Malformed, OutOfBudget, Reject
from checker.files import read_file
from checker.interval import assert_ieee_float64
from checker.ops import Ops
from checker.rules import rule_for
from checker.safetensors import read_weights

ACCEPTED, REJECTED, ERROR = "accepted", "rejected", "error"
EXIT_CODES = {ACCEPTED: 0, REJECTED: Reject.exit_code, ERROR: Malformed.exit_code}
DEFAULT_TIME_LIMIT = 3600.0  # seconds per certificate unless --time-limit says otherwise


@dataclass(frozen=True)
class Result:
    verdict: str
    bound: Fraction | None  # set iff the certificate's claim was verified (even if below --min-accuracy)
    reason: str
    strategy: str | None
    seconds: float
    ops: int
    out_of_budget: bool = False  # a cap or the time budget was reached (verdict error, exit 3)
    semantics: str | None = None  # the claim's semantics, once the certificate was parsed

    @property
    def exit_code(self) -> int:
        return OutOfBudget.exit_code if self.out_of_budget else EXIT_CODES[self.verdict]


def check_file(cert_path: str, weights: str | None = None, min_accuracy: Fraction | None = None,
               time_limit: float | None = DEFAULT_TIME_LIMIT) -> Result:
    """Check one certificate; the whole check, parsing included, must finish within time_limit
    seconds of wall time (None: no limit) or it fails closed (exit 3). The limit is polled by the
    ops counter, so it holds on any thread (a Dask worker too)."""
    start = time.perf_counter()
    ops = Ops(time_limit)
    cert = None

    def result(verdict: str, reason: str, bound: Fraction | None = None, budget: bool = False) -> Result:
        return Result(verdict, bound, reason, getattr(cert, "strategy", None), time.perf_counter() - start,
                      ops.count, budget, getattr(cert, "semantics", None))

    try:
        cert = parse_certificate(read_file(cert_path, MAX_BYTES, "certificate"))
        ops.poll()
        assert_ieee_float64()
        rule = rule_for(cert.strategy)
        if rule is None:
            raise Malformed(f"unknown strategy {cert.strategy!r}")
        w = read_weights(weights or resolve_model_path(cert.model_path, cert_path), cert.sha256)
        if (w.k, w.d_vocab) != (cert.k, cert.d_vocab):
            raise Reject(f"certificate claims k={cert.k}, d_vocab={cert.d_vocab}; "
                         f"the weights have k={w.k}, d_vocab={w.d_vocab}")
        ops.poll()
        with ops:  # every counted operation of the rule charges this counter
            proven = rule(cert, w)
        if cert.bound > proven:
            raise Reject(f"claimed bound {_show(cert.bound)} exceeds what the evidence proves, "
                         f"{_show(proven)}")
    except CheckFailure as e:
        return result(e.verdict, str(e), budget=isinstance(e, OutOfBudget))
    if min_accuracy is not None and cert.bound < min_accuracy:
        return result(REJECTED, f"certified bound {_show(cert.bound)} is below the required "
                      f"{_show(min_accuracy)}", cert.bound)
    return result(ACCEPTED, f"claim holds: accuracy >= {_show(cert.bound)} (checker proved "
                  f">= {_show(proven)})", cert.bound)


def resolve_model_path(model_path: str, cert_path: str) -> str:
    """'zoo:NAME' -> the shipped zoo file; otherwise a path relative to the certificate's folder.

    The lookup needs no trust: whatever file is found must match the certificate's SHA-256.
    """
    if model_path.startswith("zoo:"):
        return str(zoo_dir() / f"{model_path[4:]}.safetensors")
    return str(Path(cert_path).resolve().parent / model_path)


def zoo_dir() -> Path:
    """$CERTIFY_ZOO_DIR, else the zoo folder of the certify package installed beside this checker
    (found from this file, not through the import path, so the working directory cannot change it)."""
    shipped = Path(__file__).resolve().parent.parent / "certify" / "zoo"
    return Path(os.environ.get("CERTIFY_ZOO_DIR") or shipped)


def _show(x: Fraction) -> str:
    return f"{x.numerator}/{x.denominator} ({float(x):.6f})"
