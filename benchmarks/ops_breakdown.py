"""Where a check's ops go: check certificates and attribute every counted op (checker/ops.py) to the
checker function that performed it, the innermost frame outside the number types and the counter
(ops.py, interval.py, dyadic.py, numbers.py, expo.py).

    python benchmarks/ops_breakdown.py CERT.json [CERT.json ...] [--top 12]

Prints, per certificate, the verdict, the total (the count `certify check` reports: attribution
only observes it) and the largest items. docs/soundness.md#proof-length-ops quotes its output.
"""
from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from checker import ops as ops_module  # noqa: E402
from checker import check  # noqa: E402

PRIMITIVES = {"ops.py", "interval.py", "dyadic.py", "numbers.py", "expo.py"}


def place() -> str:
    """The innermost checker function on the stack that is not a number type or the counter."""
    frame = sys._getframe(1)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.parent.name in ("checker", "rules") and path.name not in PRIMITIVES:
            return f"{path.relative_to(REPO / 'checker')}:{getattr(frame.f_code, 'co_qualname', frame.f_code.co_name)}"
        frame = frame.f_back
    return "(outside the rules)"


class Attributing(ops_module.Ops):
    """An Ops whose count, however it grows (Ops.add or a Counted ufunc), books the growth to place()."""
    where: collections.Counter = collections.Counter()

    @property
    def count(self) -> int:
        return self._count

    @count.setter
    def count(self, n: int) -> None:
        if hasattr(self, "_count"):
            Attributing.where[place()] += n - self._count
        self._count = n


def breakdown(cert: str):
    Attributing.where = collections.Counter()
    real, check.Ops = check.Ops, Attributing
    try:
        return check.check_file(cert, time_limit=None), Attributing.where
    finally:
        check.Ops = real


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("certs", nargs="+")
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args()
    for cert in args.certs:
        result, where = breakdown(cert)
        total = sum(where.values())
        print(f"\n{cert}: {result.verdict}, {result.ops:,} ops (attributed {total:,})")
        for name, n in where.most_common(args.top):
            print(f"  {n:>14,}  {100 * n / max(total, 1):5.1f}%  {name}")


if __name__ == "__main__":
    main()
