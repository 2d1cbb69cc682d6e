"""Command line of the checker: `python -m checker CERT [--weights PATH] [--min-accuracy X] [--json]`.

Exit codes (checker/errors.py): 0 accepted (and >= X if given), 1 rejected (claim not established),
2 error (malformed or unreadable input, or a report that cannot be written), 3 error (a cap or the
time limit was reached); with several certificates, the largest.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from fractions import Fraction

from checker.check import DEFAULT_TIME_LIMIT, ERROR, REJECTED, Result, check_file
from checker.errors import Malformed

_JUNIT_TAG = {REJECTED: "failure", ERROR: "error"}  # a certificate not accepted, as a JUnit test case


def parse_fraction(text: str) -> Fraction:
    """An exact threshold: '0.9' or '9/10' (decimals are read exactly, never through a float)."""
    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must lie in [0, 1]")
    return value


def parse_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < 1e9:  # also refuses nan and inf
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("certificates", nargs="+", metavar="CERT", help="certificate file(s) (JSON)")
    parser.add_argument("--weights", help="weights file (overrides the certificate's model.path)")
    parser.add_argument("--min-accuracy", type=parse_fraction, metavar="X",
                        help="also reject if the certified bound is below X (e.g. 0.9 or 9/10)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per certificate")
    parser.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report, one test case per certificate")
    parser.add_argument("--time-limit", type=parse_seconds, metavar="SECONDS", default=DEFAULT_TIME_LIMIT,
                        help="give up on a certificate after SECONDS of wall time: verdict error, exit "
                             f"code 3 (default {DEFAULT_TIME_LIMIT:g})")


def report_failure(e: OSError, prog: str) -> int:
    """A report that cannot be written: exit 2 and a line on stderr, never a traceback."""
    if isinstance(e, BrokenPipeError):
        with contextlib.suppress(OSError, ValueError):  # stdout to /dev/null: no second error at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"{prog}: error: standard output closed before the report was written", file=sys.stderr)
    else:
        print(f"{prog}: error: cannot write report {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
    return Malformed.exit_code


def check_all(args: argparse.Namespace) -> list[Result]:
    """Check, print and (with --junit) report every certificate; the results in order."""
    results = []
    for cert in args.certificates:
        try:
            result = check_file(cert, args.weights, args.min_accuracy, args.time_limit)
        except Exception as e:  # fail closed, never a traceback
            result = Result(ERROR, None, f"internal checker error: {type(e).__name__}: {e}", None, 0.0, 0)
        print(render_json(result, cert) if args.json else render_text(result, cert), flush=True)
        results.append(result)
    if args.junit:
        write_junit(args.junit, list(zip(args.certificates, results)))
    return results


def write_junit(path: str, results: list[tuple[str, Result]]) -> None:
    """JUnit XML: a rejected certificate is a failure, an unreadable one an error."""
    from xml.etree import ElementTree as ET
    suite = ET.Element("testsuite", name="certify", tests=str(len(results)),
                       failures=str(sum(r.verdict == REJECTED for _, r in results)),
                       errors=str(sum(r.verdict == ERROR for _, r in results)),
                       time=f"{sum(r.seconds for _, r in results):.3f}")
    for cert, r in results:
        case = ET.SubElement(suite, "testcase", classname=f"certify.{r.strategy or 'unknown'}", name=cert,
                             time=f"{r.seconds:.3f}")
        if r.verdict in _JUNIT_TAG:
            ET.SubElement(case, _JUNIT_TAG[r.verdict], message=r.reason[:500]).text = r.reason
        else:
            ET.SubElement(case, "system-out").text = render_json(r, cert)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def render_json(r: Result, cert: str) -> str:
    bound = None if r.bound is None else f"{r.bound.numerator}/{r.bound.denominator}"
    return json.dumps({"certificate": cert, "verdict": r.verdict, "bound": bound, "reason": r.reason,
                       "strategy": r.strategy, "semantics": r.semantics, "seconds": round(r.seconds, 3),
                       "ops": r.ops})


def render_text(r: Result, cert: str) -> str:
    """The verdict first; a bound below --min-accuracy is shown as certified, but not enough."""
    head = r.verdict.upper()
    if r.bound is not None:
        shown = f"{r.bound.numerator}/{r.bound.denominator} ~ {float(r.bound):.6f}"
        head += (f": accuracy >= {shown}" if r.verdict == "accepted" else
                 f": below --min-accuracy (the certified bound is {shown})")
    return (f"{head}\n  certificate: {cert}\n  strategy:    {r.strategy or '-'}\n  semantics:   {r.semantics or '-'}\n"
            f"  reason:      {r.reason}\n  checked in {r.seconds:.2f} s, {r.ops:,} ops")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m checker", description=__doc__.splitlines()[0])
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    try:
        return max(r.exit_code for r in check_all(args))
    except OSError as e:  # a report that cannot be written (stdout closed, as by `| head`, or the --junit file)
        return report_failure(e, parser.prog)
