"""Command line of the checker: `python -m checker CERT [--weights PATH] [--min-accuracy X] [--json]`.

Exit codes: 0 accepted (and >= X if given), 1 rejected, 2 not a readable certificate.
"""
from __future__ import annotations

import argparse
import json
import sys
from fractions import Fraction

from checker.check import ERROR, Result, check_file


def parse_fraction(text: str) -> Fraction:
    """An exact threshold: '0.9' or '9/10' (decimals are read exactly, never through a float)."""
    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must lie in [0, 1]")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("certificate", help="certificate file (JSON)")
    parser.add_argument("--weights", help="weights file (overrides the certificate's model.path)")
    parser.add_argument("--min-accuracy", type=parse_fraction, metavar="X",
                        help="also reject if the certified bound is below X (e.g. 0.9 or 9/10)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    try:
        result = check_file(args.certificate, args.weights, args.min_accuracy)
    except Exception as e:  # fail closed, never a traceback
        result = Result(ERROR, None, f"internal checker error: {type(e).__name__}: {e}", None, 0.0, 0)
    print(render_json(result) if args.json else render_text(result))
    return result.exit_code


def render_json(r: Result) -> str:
    bound = None if r.bound is None else f"{r.bound.numerator}/{r.bound.denominator}"
    return json.dumps({"verdict": r.verdict, "bound": bound, "reason": r.reason,
                       "strategy": r.strategy, "seconds": round(r.seconds, 3), "ops": r.ops})


def render_text(r: Result) -> str:
    head = r.verdict.upper()
    if r.bound is not None:
        head += f": accuracy >= {r.bound.numerator}/{r.bound.denominator} ~ {float(r.bound):.6f}"
    return (f"{head}\n  strategy: {r.strategy}\n  reason:   {r.reason}\n"
            f"  checked in {r.seconds:.2f} s, {r.ops:,} ops")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m checker", description=__doc__.splitlines()[0])
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    return run(args)
