"""SMT second opinion at real size: z3 and cvc5 re-check whole certificates, as a user runs them.

    python benchmarks/smt.py [--out DIR] [--only subcubic,cubic,k20] [--solvers z3,cvc5] [--jobs N]

Proves the default model k4-v64-s123's cubic and best subcubic certificates and k20-v512-s123's best
subcubic one (`certify run`), then per certificate and solver runs `certify check CERT --smt SOLVER`
(one process per core by default) and `certify export smt`, and prints one row each: obligations,
unsat / sat / unknown, wall time, peak memory of the whole process tree (sampled every 0.2 s), the
exit code, and the machine's load (`uptime`) before the run. Goals (issue #12, 2 cores): cubic <= 10
min and subcubic <= 5 min per solver, peak <= 2 GiB, nothing unknown.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CERTIFY = [sys.executable, "-c", "import sys; from certify.cli import main; sys.exit(main())"]
RUNS = {"subcubic": ("k4-v64-s123", "subcubic"), "cubic": ("k4-v64-s123", "cubic"),
        "k20": ("k20-v512-s123", "subcubic")}


def tree_rss(pid: int) -> int:
    """Resident bytes of pid and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def measured(cmd: list[str]) -> tuple[int, float, int, str]:
    """(exit code, wall seconds, peak tree RSS bytes, stdout) of a command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], tree_rss(proc.pid))
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, _ = proc.communicate()
    done.set()
    thread.join()
    return proc.returncode, time.perf_counter() - start, peak[0], out


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.split("load average:")[-1].strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/certify-smt-bench")
    ap.add_argument("--only", default="subcubic,cubic,k20")
    ap.add_argument("--solvers", default="z3,cvc5")
    ap.add_argument("--jobs", type=int)
    ap.add_argument("--json", help="also write the rows to this file")
    ap.add_argument("--no-export", action="store_true", help="skip `certify export smt`")
    args = ap.parse_args()
    out = Path(args.out)
    rows = []
    print(f"cores {os.cpu_count()}, load before: {load()}", flush=True)
    for key in args.only.split(","):
        model, strategy = RUNS[key]
        certs = out / "certs"
        cert = certs / f"{model}.{strategy}.json"
        if not cert.exists():
            subprocess.run(CERTIFY + ["run", "--model", model, "--strategy", strategy, "--out", str(certs)],
                           check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not args.no_export:
            target = out / "export" / f"{model}.{strategy}"
            code, secs, peak, _ = measured(CERTIFY + ["export", "smt", str(cert), "-o", str(target)]
                                           + (["--smt-jobs", str(args.jobs)] if args.jobs else []))
            files = list(target.glob("*.smt2"))
            size = sum(f.stat().st_size for f in files)
            print(f"export {model} {strategy}: {len(files)} files, {size / 1e6:.1f} MB, {secs:.0f} s, "
                  f"peak {peak / 2 ** 20:.0f} MiB, exit {code}", flush=True)
            rows.append({"model": model, "strategy": strategy, "what": "export", "files": len(files),
                         "bytes": size, "seconds": round(secs, 1), "peak_mib": round(peak / 2 ** 20)})
        for solver in args.solvers.split(","):
            before = load()
            code, secs, peak, text = measured(CERTIFY + ["check", str(cert), "--smt", solver, "--smt-timeout", "60"]
                                              + (["--smt-jobs", str(args.jobs)] if args.jobs else []))
            m = re.search(r"(\d+) obligations, (\d+) unsat, (\d+) sat, (\d+) unknown", text)
            n, unsat, sat, unknown = map(int, m.groups()) if m else (0, 0, 0, 0)
            verdict = "CONFIRMED" if "CONFIRMED" in text and "NOT CONFIRMED" not in text else "NOT CONFIRMED"
            print(f"{model} {strategy} {solver}: {n} obligations, {unsat} unsat, {sat} sat, {unknown} unknown, "
                  f"{secs / 60:.1f} min, peak {peak / 2 ** 20:.0f} MiB, exit {code}, {verdict}; load before {before}",
                  flush=True)
            rows.append({"model": model, "strategy": strategy, "solver": solver, "obligations": n, "unsat": unsat,
                         "sat": sat, "unknown": unknown, "seconds": round(secs, 1),
                         "peak_mib": round(peak / 2 ** 20), "exit": code, "load_before": before})
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"load after: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
