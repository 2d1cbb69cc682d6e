"""SMT second opinion at real size: z3 and cvc5 re-check whole certificates, as a user runs them.

    python benchmarks/smt.py [--out DIR] [--only subcubic,cubic,brute-force,k20] [--solvers z3,cvc5]
                             [--jobs N] [--k20-every z3=1,cvc5=8] [--json FILE]

Proves the default model k4-v64-s123's cubic, best subcubic and brute-force certificates and
k20-v512-s123's best subcubic one (`certify run`), then per certificate and solver runs `certify check
CERT --smt SOLVER` (one process per core by default; brute force: `--smt-sample 20`, i.e. the 20
near-ties plus 20 seeded inputs) and, for the default model's compact certificates, `certify export
smt`, and prints one row each: obligations, unsat / sat / unknown, wall time, peak memory of the whole
process tree (sampled every 0.2 s), the exit code, and the machine's load (`uptime`) before the run.
Goals (issue #12, 2 cores): cubic <= 10 min and subcubic <= 5 min per solver, peak <= 2 GiB, nothing
unknown. k20-v512 (about a million cases): with `--k20-every SOLVER=N`, N > 1 (by default z3=4,
cvc5=8, so the whole run fits in about 25 minutes; z3=1 re-checks all), that solver re-checks every
N-th case only (a certificate holding those cases, re-checked by exporters.smt.recheck as the
CLI does), and the row gives the rate and the extrapolated time for all cases, marked as such.
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
        "brute-force": ("k4-v64-s123", "brute-force"), "k20": ("k20-v512-s123", "subcubic")}
K20_EVERY = {"z3": 4, "cvc5": 8}  # k20's million cases: a systematic sample by default (rate, extrapolation)
THINNED = """import sys, time
from exporters.smt import recheck
s, note = recheck(sys.argv[1], sys.argv[2], timeout_ms=60_000, progress=False)
print(f"{s.obligations} obligations, {s.unsat} unsat, {len(s.sat)} sat, {len(s.unknown)} unknown, {s.seconds:.1f} s; {note}")
print("CONFIRMED" if s.confirmed else "NOT CONFIRMED")
"""


def thinned(cert: Path, every: int) -> Path:
    """A copy of a compact certificate holding every `every`-th case (the obligations re-checked)."""
    doc = json.loads(cert.read_text())
    doc["evidence"]["cases"] = doc["evidence"]["cases"][::every]
    out = cert.with_name(f"{cert.stem}.every{every}.json")
    out.write_text(json.dumps(doc))
    return out


def queries(cert: Path, n: int) -> Path:
    """A copy of a compact certificate holding the cases of query tokens q < n (whole export files)."""
    doc = json.loads(cert.read_text())
    doc["evidence"]["cases"] = [c for c in doc["evidence"]["cases"] if c[0] < n]
    out = cert.with_name(f"{cert.stem}.q{n}.json")
    out.write_text(json.dumps(doc))
    return out


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


def profile(cert: Path, every: int, solvers: list[str]) -> str:
    """Where the time goes, in this process (CPU seconds, so the machine's load matters less): on
    every `every`-th case, per case the rule's obligations, their encoding, the script text and
    each solver, in the re-check's batches; and the sizes (sums, facts, bytes, Taylor degrees)."""
    import dataclasses
    import statistics
    from checker.certificate import parse_certificate
    from checker.check import resolve_model_path
    from checker.safetensors import read_weights
    from exporters import smt
    from exporters import smt_encode as se
    c = parse_certificate(cert.read_bytes())
    w = read_weights(resolve_model_path(c.model_path, str(cert)))
    part = dataclasses.replace(c, evidence={**c.evidence, "cases": c.evidence["cases"][::every]})
    t0 = time.process_time()
    cases = smt.obligations_for(c.strategy)(part, w)
    first = next(cases)
    t1 = time.process_time()
    obs = [first, *cases]
    t2 = time.process_time()
    encs = [se.encode(se.Obligation(ob.name, ob.sums, True), w.d_head) for ob in obs]
    t3 = time.process_time()
    texts = [se.script(b, w.d_head) for b in se.batches(encs, smt.BATCH_OBLIGATIONS, smt.BATCH_SUMS)]
    t4 = time.process_time()
    n = len(obs)
    per = lambda secs: f"{1e3 * secs / n:.2f} ms"
    line = (f"profile {cert.name}, every {every}th case ({n}): rule set-up {t1 - t0:.1f} s, per case: obligations "
            f"{per(t2 - t1)}, encode {per(t3 - t2)}, text {per(t4 - t3)}")
    for solver in solvers:
        run = smt._solver(solver)
        t = time.process_time()
        answers = {run(text, 600_000) for text in texts}
        line += f", {solver} {per(time.process_time() - t)} ({'/'.join(sorted(answers))})"
    degrees = [f.n for e in encs for _, _, f in e.facts]
    return line + (f"; per case {statistics.mean(len(e.sums) for e in encs):.1f} sums, "
                   f"{statistics.mean(len(e.facts) for e in encs):.1f} facts, {sum(map(len, texts)) / n:.0f} bytes in "
                   f"{len(texts)} solver calls; Taylor degree mean {statistics.mean(degrees):.1f}, max {max(degrees)}")


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.split("load average:")[-1].strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/certify-smt-bench")
    ap.add_argument("--only", default="subcubic,cubic,brute-force,k20")
    ap.add_argument("--k20-every", default="", help="SOLVER=N,...: that solver re-checks every N-th k20 case "
                    f"(default {','.join(f'{k}={v}' for k, v in K20_EVERY.items())}; N = 1: all)")
    ap.add_argument("--solvers", default="z3,cvc5")
    ap.add_argument("--jobs", type=int)
    ap.add_argument("--json", help="also write the rows to this file")
    ap.add_argument("--no-export", action="store_true", help="skip `certify export smt`")
    ap.add_argument("--export-only", action="store_true", help="only `certify export smt` (no re-checks)")
    ap.add_argument("--queries", type=int, help="export only the cases of query tokens q < N (a light run)")
    ap.add_argument("--profile", default="", help="KEY=N,...: profile every N-th case of that certificate first")
    args = ap.parse_args()
    out = Path(args.out)
    rows = []
    every = {**K20_EVERY, **{k: int(v) for k, v in (item.split("=") for item in args.k20_every.split(",") if item)}}
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    print(f"certify {sha}, cores {os.cpu_count()}, load before: {load()}", flush=True)
    for key in args.only.split(","):
        model, strategy = RUNS[key]
        certs = out / "certs"
        cert = certs / f"{model}.{strategy}.json"
        if not cert.exists():
            subprocess.run(CERTIFY + ["run", "--model", model, "--strategy", strategy, "--out", str(certs)],
                           check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        doc = json.loads(cert.read_text())
        print(f"{model} {strategy}: model SHA-256 {doc['model']['sha256'][:16]}..., bound "
              f"{doc['claim']['accuracy_lower_bound']}", flush=True)
        prof = dict(item.split("=") for item in args.profile.split(",") if item)
        if key in prof:
            print(profile(cert, int(prof[key]), args.solvers.split(",")), flush=True)
        if not args.no_export and key in ("subcubic", "cubic"):
            target = out / "export" / f"{model}.{strategy}"
            source = cert if args.queries is None else queries(cert, args.queries)
            code, secs, peak, _ = measured(CERTIFY + ["export", "smt", str(source), "-o", str(target)]
                                           + (["--smt-jobs", str(args.jobs)] if args.jobs else []))
            files = list(target.glob("*.smt2"))
            size = sum(f.stat().st_size for f in files)
            part = "" if args.queries is None else f" (cases with q < {args.queries}: {len(json.loads(source.read_text())['evidence']['cases'])} of {len(doc['evidence']['cases'])})"
            print(f"export {model} {strategy}{part}: {len(files)} files, {size / 1e6:.2f} MB, {secs:.0f} s, "
                  f"peak {peak / 2 ** 20:.0f} MiB, exit {code}", flush=True)
            rows.append({"model": model, "strategy": strategy, "what": "export", "files": len(files),
                         "bytes": size, "seconds": round(secs, 1), "peak_mib": round(peak / 2 ** 20)})
        for solver in [] if args.export_only else args.solvers.split(","):
            before = load()
            n_every = every.get(solver, 1) if key == "k20" else 1
            if n_every > 1:
                code, secs, peak, text = measured([sys.executable, "-c", THINNED, str(thinned(cert, n_every)), solver])
            else:
                code, secs, peak, text = measured(CERTIFY + ["check", str(cert), "--smt", solver, "--smt-timeout", "60"]
                                                  + (["--smt-sample", "20"] if key == "brute-force" else [])
                                                  + (["--smt-jobs", str(args.jobs)] if args.jobs else []))
            m = re.search(r"(\d+) obligations, (\d+) unsat, (\d+) sat, (\d+) unknown", text)
            n, unsat, sat, unknown = map(int, m.groups()) if m else (0, 0, 0, 0)
            verdict = "CONFIRMED" if "CONFIRMED" in text and "NOT CONFIRMED" not in text else "NOT CONFIRMED"
            total = len(doc["evidence"]["cases"]) if n_every > 1 else n
            part = f" (every {n_every}th case; all {total} extrapolated: {secs * total / max(n, 1) / 60:.1f} min)" \
                if n_every > 1 else ""
            print(f"{model} {strategy} {solver}: {n} obligations, {unsat} unsat, {sat} sat, {unknown} unknown, "
                  f"{secs / 60:.1f} min, {n / secs:.0f}/s, peak {peak / 2 ** 20:.0f} MiB, exit {code}, "
                  f"{verdict}{part}; load before {before}", flush=True)
            rows.append({"model": model, "strategy": strategy, "solver": solver, "obligations": n, "unsat": unsat,
                         "sat": sat, "unknown": unknown, "seconds": round(secs, 1), "every": n_every, "cases": total,
                         "peak_mib": round(peak / 2 ** 20), "exit": code, "load_before": before})
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"load after: {load()}")
    print(markdown(rows))
    return 0


def markdown(rows: list[dict]) -> str:
    """The rows as the docs/smt.md timing table."""
    out = ["| certificate | obligations | solver | result | wall time | peak memory | load before (1/5/15 min) |",
           "| --- | ---: | --- | --- | ---: | ---: | --- |"]
    for r in rows:
        name = f"`{r['model']}` {r['strategy']}"
        if r.get("what") == "export":
            out.append(f"| {name} | export | | {r['files']} files, {r['bytes'] / 1e6:.1f} MB | {r['seconds']:.0f} s "
                       f"| {r['peak_mib']} MiB | |")
            continue
        result = f"{r['unsat']:,} unsat, {r['sat']} sat, {r['unknown']} unknown, exit {r['exit']}"
        time_ = f"{r['seconds'] / 60:.1f} min"
        count = f"{r['obligations']:,}"
        if r["every"] > 1:
            count += f" (every {r['every']}th of {r['cases']:,})"
            time_ += f" (all: {r['seconds'] * r['cases'] / max(r['obligations'], 1) / 60:.0f} min, extrapolated)"
        out.append(f"| {name} | {count} | {r['solver']} | {result} | {time_} | {r['peak_mib']} MiB | {r['load_before']} |")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
