"""The checker's driver: read the certificate, load and hash the weights, run the strategy's rule.

Fails closed: every path that does not end in a proven bound >= the claim is a rejection or error.
"""
from __future__ import annotations

import importlib.util
import os
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from checker.certificate import MAX_BYTES, Certificate, CertificateError, parse_certificate
from checker.expo import Undecided
from checker.interval import FloatEnvironmentError, assert_ieee_float64
from checker.ops import Ops
from checker.rules import Reject, rule_for
from checker.safetensors import WeightsError, read_weights

ACCEPTED, REJECTED, ERROR = "accepted", "rejected", "error"
EXIT_CODES = {ACCEPTED: 0, REJECTED: 1, ERROR: 2}
EXIT_TIME_LIMIT = 3  # verdict error, but its own exit code: the check did not finish in time


class TimeLimitExceeded(Exception):
    """The check ran past its --time-limit; it fails closed (verdict error, exit code 3)."""


@dataclass(frozen=True)
class Result:
    verdict: str
    bound: Fraction | None  # set iff the certificate's claim was verified (even if below --min-accuracy)
    reason: str
    strategy: str | None
    seconds: float
    ops: int
    timed_out: bool = False
    semantics: str | None = None  # the claim's semantics, once the certificate was parsed

    @property
    def exit_code(self) -> int:
        return EXIT_TIME_LIMIT if self.timed_out else EXIT_CODES[self.verdict]


def check_file(cert_path: str, weights: str | None = None,
               min_accuracy: Fraction | None = None, time_limit: float | None = None) -> Result:
    """Check one certificate; with time_limit (seconds) the whole check, parsing included, must
    finish in time or the verdict is error with exit code 3 (see _deadline)."""
    start = time.perf_counter()
    ops = Ops()
    cert = None

    def result(verdict: str, reason: str, bound: Fraction | None = None, timed_out: bool = False) -> Result:
        strategy, semantics = (cert.strategy, cert.semantics) if cert is not None else (None, None)
        return Result(verdict, bound, reason, strategy, time.perf_counter() - start, ops.count, timed_out,
                      semantics)

    try:
        with _deadline(time_limit):
            cert = parse_certificate(_read(cert_path))
            bound = _verify(cert, weights or resolve_model_path(cert.model_path, cert_path), ops)
    except TimeLimitExceeded as e:
        return result(ERROR, str(e), timed_out=True)
    except (Reject, WeightsError, Undecided, FloatEnvironmentError) as e:
        return result(REJECTED, str(e))
    except CertificateError as e:  # unreadable certificate, or a rule found its evidence malformed
        return result(ERROR, str(e))
    if min_accuracy is not None and cert.bound < min_accuracy:
        return result(REJECTED, f"certified bound {_show(cert.bound)} is below the required "
                      f"{_show(min_accuracy)}", cert.bound)
    return result(ACCEPTED, f"claim holds: accuracy >= {_show(cert.bound)} (checker proved "
                  f">= {_show(bound)})", cert.bound)


@contextmanager
def _deadline(seconds: float | None):
    """Raise TimeLimitExceeded in the block once `seconds` of wall time have passed.

    SIGALRM (setitimer) interrupts the check between two Python bytecodes, so a single long numpy
    call finishes first. Where SIGALRM is unavailable (Windows) or outside the main thread (signal
    handlers can only be set there, e.g. on a Dask worker) the limit is not enforced.
    """
    if not seconds or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise TimeLimitExceeded(f"time limit of {seconds:g} s exceeded: the check did not finish "
                                f"(fails closed; nothing was established)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _verify(cert: Certificate, weights_path: str, ops: Ops) -> Fraction:
    assert_ieee_float64()
    rule = rule_for(cert.strategy)
    if rule is None:
        raise CertificateError(f"unknown strategy {cert.strategy!r}")
    w = read_weights(weights_path)
    if w.sha256 != cert.sha256:
        raise Reject(f"weights {weights_path} have SHA-256 {w.sha256}, the certificate names {cert.sha256}")
    if (w.k, w.d_vocab) != (cert.k, cert.d_vocab):
        raise Reject(f"certificate claims k={cert.k}, d_vocab={cert.d_vocab}; "
                     f"the weights have k={w.k}, d_vocab={w.d_vocab}")
    proven = rule(cert, w, ops)
    if cert.bound > proven:
        raise Reject(f"claimed bound {_show(cert.bound)} exceeds what the evidence proves, {_show(proven)}")
    return proven


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(MAX_BYTES + 1)
    except OSError as e:
        raise CertificateError(f"cannot read certificate {path!r}: {e.strerror or e}") from None


def resolve_model_path(model_path: str, cert_path: str) -> str:
    """'zoo:NAME' -> the shipped zoo file; otherwise a path relative to the certificate's folder.

    The lookup needs no trust: whatever file is found must match the certificate's SHA-256.
    """
    if model_path.startswith("zoo:"):
        return str(zoo_dir() / f"{model_path[4:]}.safetensors")
    return str(Path(cert_path).resolve().parent / model_path)


def zoo_dir() -> Path:
    """The zoo folder shipped with the certify package, located without importing certify."""
    if os.environ.get("CERTIFY_ZOO_DIR"):
        return Path(os.environ["CERTIFY_ZOO_DIR"])
    spec = importlib.util.find_spec("certify")
    if spec is None or not spec.submodule_search_locations:
        return Path("certify/zoo")
    return Path(list(spec.submodule_search_locations)[0]) / "zoo"


def _show(x: Fraction) -> str:
    return f"{x.numerator}/{x.denominator} ({float(x):.6f})"
