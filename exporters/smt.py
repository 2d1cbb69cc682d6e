"""SMT-LIB2 export and re-check of a certificate's obligations (second opinion by z3 / cvc5).

Every obligation the checker decides is a list of sums  sum_k c_k * exp(a_k / sqrt(d)) > 0  with
exact rationals c_k, a_k, read from the checker's rule (`checker.rules`; brute force: a sample of
inputs, below). exporters/smt_encode.py writes each as SMT-LIB2 with small exact numbers;
`unsat` means the obligation holds. The re-check runs them in child processes (one per core by
default), each obligation with its own timeout; a child that overruns or dies is killed and its
obligation counted unconfirmed; Ctrl-C kills the children at once.

Brute-force certificates are re-checked on a seeded sample of inputs plus the inputs whose float64
margin is smallest (near-ties): the output says plainly that this part is a sample.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
import random
import re
import signal
import time
from dataclasses import dataclass, field
from fractions import Fraction
from multiprocessing.connection import wait
from pathlib import Path
from typing import Iterator

import numpy as np

from checker import expo
from checker.certificate import parse_certificate
from checker.check import resolve_model_path
from checker.rules import obligations_for, semantic_paths
from checker.safetensors import read_weights
from exporters.smt_encode import Obligation, encode, group, script

GRACE_S = 5.0          # beyond the solver's own timeout, before its process is killed
BATCH_OBLIGATIONS = 64  # obligations per solver call (a batch), at most ...
BATCH_SUMS = 512        # ... and sums (unless one obligation alone has more)
NEAR_TIES = 20
NEAR_TIE_CHUNK = 1 << 16
MAX_NEAR_TIE_INPUTS = 1 << 20  # near-ties among all inputs up to this many, else among a seeded sample (~15 s)


@dataclass(frozen=True)
class Source:
    """Where a worker gets its obligations: a shard of the rule's cases, or a given list."""
    cert_path: str
    weights: str
    shard: int = 0
    shards: int = 1
    listed: tuple = ()


def plan(cert_path: str, weights: str | None = None, sample: int = 200,
         seed: int = 0) -> tuple[str, int, int, str, list[Obligation] | None]:
    """(weights path, d_head, obligation count, note, listed obligations or None for rule shards);
    the weights' hash is verified first."""
    cert = parse_certificate(Path(cert_path).read_bytes())
    path = weights or resolve_model_path(cert.model_path, cert_path)
    w = read_weights(path)
    if w.sha256 != cert.sha256:
        raise ValueError("weights do not match the certificate's SHA-256")
    if cert.strategy == "brute-force":
        obs = list(_brute_force(cert, w, sample, seed))
        return path, w.d_head, len(obs), (f"SAMPLE ONLY: {len(obs)} inputs (near-ties plus {sample} "
                                          f"seeded random) of {w.d_vocab ** w.k}"), obs
    if _rule_cases(cert.strategy) is None:
        raise ValueError(f"no SMT export for strategy {cert.strategy!r}")
    cases = cert.evidence.get("cases") if isinstance(cert.evidence, dict) else None
    if not isinstance(cases, list):
        raise ValueError("the certificate lists no cases")
    return path, w.d_head, len(cases), "all obligations (complete re-check)", None


def obligations(src: Source) -> Iterator[Obligation]:
    """The source's obligations, computed in the calling process."""
    if src.listed:
        yield from src.listed
        return
    cert = parse_certificate(Path(src.cert_path).read_bytes())
    w = read_weights(src.weights)
    if w.sha256 != cert.sha256:
        raise ValueError("weights do not match the certificate's SHA-256")
    cases = cert.evidence["cases"]
    part = dataclasses.replace(cert, evidence={**cert.evidence, "cases": cases[src.shard::src.shards]})
    for name, sums in _rule_cases(cert.strategy)(part, w):
        yield Obligation(name, sums, True)


def _rule_cases(strategy: str):
    """The rule's own obligations (checker.rules.obligations_for) as (name, sums) pairs, or None."""
    get = obligations_for(strategy)
    return None if get is None else (lambda cert, w: ((c.name, c.sums) for c in get(cert, w)))


def _brute_force(cert, w, sample: int, seed: int) -> Iterator[Obligation]:
    p = semantic_paths(cert, w)
    V, K = w.d_vocab, w.k
    rng = random.Random(seed)
    picked = {tuple(rng.randrange(V) for _ in range(K)) for _ in range(sample)}
    picked |= _near_ties(p, NEAR_TIES)
    for toks in sorted(picked):
        m = max(toks)
        gaps = [_gap_terms(p, toks, m, j) for j in range(V) if j != m]
        correct = all(expo.holds(g, p.d_head) for g in gaps)
        name = "input_" + "_".join(map(str, toks))
        if correct:
            yield Obligation(f"{name}_correct", gaps, True)
        else:
            yield Obligation(f"{name}_wrong", [next(g for g in gaps if not expo.holds(g, p.d_head))], False)


def _gap_terms(p, toks, m: int, j: int) -> list:
    """Z * (logit_m - logit_j) as terms, each score less the query's top score (a common factor
    exp(-top / sqrt(d)) > 0, which keeps the sign: the exponentials stay <= 1, near exp(0) where
    low Taylor degrees suffice, and inputs with one query share them)."""
    q = toks[-1]
    top = int(p.qk.n[q].max())
    return [(p.win.fraction((q, m)) - p.rival.fraction((q, j)) + p.ov.fraction((t, i, m)) - p.ov.fraction((t, i, j)),
             Fraction(int(p.qk.n[q, t, i]) - top) * Fraction(2) ** p.qk.e) for i, t in enumerate(toks)]


def _near_ties(p, count: int) -> set[tuple[int, ...]]:
    """The inputs with the smallest |float64 logit margin| (a selector only; never trusted), in
    chunks so memory stays small: all inputs up to MAX_NEAR_TIE_INPUTS, else a seeded sample."""
    V, K = p.d_vocab, p.k
    f = lambda x: np.vectorize(float)(x.n) * 2.0 ** x.e
    qk, ov, direct = f(p.qk) / np.sqrt(p.d_head), f(p.ov), f(p.direct)
    total = V ** K
    rng = np.random.default_rng(0)
    n = min(total, MAX_NEAR_TIE_INPUTS)
    best_m, best_t = np.empty(0), np.empty((0, K), dtype=np.int64)
    pos = np.arange(K)
    for start in range(0, n, NEAR_TIE_CHUNK):
        if total <= MAX_NEAR_TIE_INPUTS:
            idx = np.arange(start, min(start + NEAR_TIE_CHUNK, n))
            toks = np.stack(np.unravel_index(idx, (V,) * K), axis=1)
        else:
            toks = rng.integers(0, V, (min(NEAR_TIE_CHUNK, n - start), K))
        s = qk[toks[:, -1][:, None], toks, pos]
        a = np.exp(s - s.max(1, keepdims=True))
        a /= a.sum(1, keepdims=True)
        logits = direct[toks[:, -1]] + np.einsum("nk,nkv->nv", a, ov[toks, pos])
        m = toks.max(1)
        rows = np.arange(len(toks))
        right = logits[rows, m].copy()
        logits[rows, m] = -np.inf
        margin = np.abs(right - logits.max(1))
        best_m, best_t = np.concatenate([best_m, margin]), np.concatenate([best_t, toks])
        keep = np.argsort(best_m)[:count]
        best_m, best_t = best_m[keep], best_t[keep]
    return {tuple(int(v) for v in t) for t in best_t}


# ---- running in child processes ----

def _worker(conn, src: Source, d: int, solver: str | None, timeout_ms: int, skip: int) -> None:
    """Encode (and, given a solver, solve) the source's obligations from index `skip` on, in batches
    (one script, one solver call each: `smt_encode.script`), reporting ("start", [(index, name), ...]) before
    each solver call and, for each obligation, ("text", i, name, Encoded) or ("done", i, name,
    answer, seconds). A batch that is not unsat is split in halves until each obligation has its
    own answer, so a sat or unknown one is reported by name."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C by killing us
    run = _solver(solver) if solver else None
    try:
        pending: list = []
        for i, ob in enumerate(obligations(src)):
            if i < skip:
                continue
            enc = encode(ob, d)
            if run is None:
                conn.send(("text", i, ob.name, enc))
                continue
            pending.append((i, enc))
            if len(pending) >= BATCH_OBLIGATIONS or sum(len(e.sums) for _, e in pending) >= BATCH_SUMS:
                _solve_batch(conn, pending, d, run, timeout_ms)
                pending = []
        if pending:
            _solve_batch(conn, pending, d, run, timeout_ms)
        conn.send(("end",))
    except Exception as e:
        conn.send(("fail", f"{type(e).__name__}: {e}"[:300]))


def _solve_batch(conn, batch: list, d: int, run, timeout_ms: int) -> None:
    conn.send(("start", [(i, enc.name) for i, enc in batch]))
    start = time.perf_counter()
    try:
        answer = run(script([enc for _, enc in batch], d), timeout_ms)
    except Exception as e:  # a solver error is an unconfirmed obligation, not a crash
        answer = f"error: {e}"[:200]
    seconds = time.perf_counter() - start
    if answer == "unsat" or len(batch) == 1:
        for i, enc in batch:
            conn.send(("done", i, enc.name, answer, seconds / len(batch)))
        return
    half = len(batch) // 2
    _solve_batch(conn, batch[:half], d, run, timeout_ms)
    _solve_batch(conn, batch[half:], d, run, timeout_ms)


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _sources(cert_path: str, weights: str, listed: list | None, jobs: int) -> list[Source]:
    if listed is not None:
        return [Source(cert_path, weights, listed=tuple(listed[j::jobs])) for j in range(jobs) if listed[j::jobs]]
    return [Source(cert_path, weights, j, jobs) for j in range(jobs)]


def _run(sources: list[Source], d: int, solver: str | None, timeout_ms: int, on_message,
         watchdog_s: float | None) -> list[str]:
    """Run one child per source; on_message gets every report. Returns errors of failed sources."""
    ctx = multiprocessing.get_context("spawn")
    live: dict = {}     # connection -> [process, source, next index, (pending indices, started) | None]
    errors: list[str] = []

    def start(src: Source, skip: int) -> None:
        here, there = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(there, src, d, solver, timeout_ms, skip), daemon=True)
        proc.start()
        there.close()
        live[here] = [proc, src, skip, None]

    def stop(conn) -> None:
        proc = live.pop(conn)[0]
        proc.kill()
        proc.join()
        conn.close()

    def lost(conn, reason: str, seconds: float) -> None:
        """The child is gone (died, or killed by the watchdog): its current solver call's
        obligations are unconfirmed; a new child resumes after them."""
        proc, src, _, current = live[conn]
        stop(conn)
        if current is None:
            errors.append("a worker process died")
            return
        for i, name in current[0].items():
            on_message(("done", i, name, reason, seconds), src)
        start(src, max(current[0]) + 1)

    try:
        for src in sources:
            start(src, 0)
        while live:
            for conn in wait(list(live), timeout=1.0):
                state = live[conn]
                try:
                    msg = conn.recv()
                except EOFError:  # the child died (out of memory, a solver crash)
                    lost(conn, "unknown (solver process died)", 0.0)
                    continue
                if msg[0] == "start":
                    state[3] = (dict(msg[1]), time.monotonic())
                elif msg[0] in ("done", "text"):
                    state[2] = msg[1] + 1
                    if state[3] is not None and msg[1] in state[3][0]:
                        del state[3][0][msg[1]]
                        if not state[3][0]:
                            state[3] = None
                    on_message(msg, state[1])
                elif msg[0] in ("end", "fail"):
                    if msg[0] == "fail":
                        errors.append(msg[1])
                    stop(conn)
            if watchdog_s is not None:
                now = time.monotonic()
                for conn, (_, _, _, current) in list(live.items()):
                    if current is not None and now - current[1] > watchdog_s:
                        lost(conn, "timeout (killed)", now - current[1])
    finally:
        for conn in list(live):
            stop(conn)
    return errors


# ---- export ----

def export(cert_path: str, out_dir: str, weights: str | None = None, sample: int = 200,
           jobs: int | None = None) -> tuple[int, str, list[Path]]:
    """Write the obligations as SMT-LIB2 scripts, one per group (a query token q, or the sample):
    the same batches the re-check runs, each in push/pop. Returns (count, note, files)."""
    path, d, total, note, listed = plan(cert_path, weights, sample)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    groups: dict[str, list] = {}

    def collect(msg, src) -> None:
        if msg[0] == "text":
            groups.setdefault(_group_of(msg[2]), []).append((msg[1], src.shard, msg[3]))
    errors = _run(_sources(cert_path, path, listed, jobs or default_jobs()), d, None, 0, collect, None)
    if errors:
        raise ValueError(f"export failed: {errors[0]}")
    files = []
    for name, items in sorted(groups.items(), key=lambda kv: _natural(kv[0])):
        encs = [enc for _, _, enc in sorted(items, key=lambda x: (x[0], x[1]))]
        target = out / f"{name}.smt2"
        target.write_text(f"; {len(encs)} obligations of {Path(cert_path).name} in batches; each batch prints "
                          f"its obligations' names, then unsat (all of them hold) or sat\n" + group(encs, d, BATCH_OBLIGATIONS, BATCH_SUMS))
        files.append(target)
    return sum(len(v) for v in groups.values()), note, files


def _group_of(name: str) -> str:
    m = re.match(r"case_q(\d+)_", name)
    return f"q{m.group(1)}" if m else "sample"


def _natural(name: str) -> tuple:
    m = re.match(r"q(\d+)$", name)
    return (0, int(m.group(1))) if m else (1, name)


# ---- re-check ----

@dataclass
class Summary:
    obligations: int = 0
    unsat: int = 0
    sat: list = field(default_factory=list)
    unknown: list = field(default_factory=list)   # "name: reason" (unknown, timeout, solver error)
    seconds: float = 0.0
    solver_seconds: float = 0.0

    @property
    def confirmed(self) -> bool:
        return self.obligations > 0 and self.unsat == self.obligations


def recheck(cert_path: str, solver: str, weights: str | None = None, sample: int = 200,
            timeout_ms: int = 10_000, progress: bool = True, jobs: int | None = None) -> tuple[Summary, str]:
    """Run every obligation through z3 or cvc5 in `jobs` child processes; sat and unconfirmed
    (unknown, timeout, error) answers are listed by name."""
    _solver(solver)  # a clear error now if it is unknown or not installed
    path, d, total, note, listed = plan(cert_path, weights, sample)
    summary = Summary()
    bar = _bar(total, solver) if progress else None
    start = time.perf_counter()

    def record(msg, src) -> None:
        _, _, name, answer, seconds = msg
        summary.obligations += 1
        summary.solver_seconds += seconds
        if answer == "unsat":
            summary.unsat += 1
        elif answer == "sat":
            summary.sat.append(name)
        else:
            summary.unknown.append(f"{name}: {answer}")
        if bar is not None:
            bar.update(1)
    try:
        errors = _run(_sources(cert_path, path, listed, jobs or default_jobs()), d, solver, timeout_ms,
                      record, timeout_ms / 1000 + GRACE_S)
    finally:
        if bar is not None:
            bar.close()
    summary.seconds = time.perf_counter() - start
    if errors:
        raise ValueError(f"re-check failed: {errors[0]}")
    if summary.obligations != total:
        summary.unknown.append(f"{total - summary.obligations} obligations were not run")
    return summary, note


def _solver(name: str):
    if name == "z3":
        try:
            import z3
        except ImportError:
            raise ValueError("z3 is not installed (pip install z3-solver)") from None

        def run(text: str, timeout_ms: int) -> str:
            s = z3.Solver()
            s.set("timeout", timeout_ms)
            s.from_string(text)
            return str(s.check())
        return run
    if name == "cvc5":
        try:
            import cvc5
        except ImportError:
            raise ValueError("cvc5 is not installed (pip install 'certify[smt]')") from None

        def run(text: str, timeout_ms: int) -> str:
            tm = cvc5.TermManager()
            s = cvc5.Solver(tm)
            s.setOption("tlimit-per", str(timeout_ms))
            parser = cvc5.InputParser(s)
            parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, text, "obligation")
            sm = parser.getSymbolManager()
            result = "unknown"
            while True:
                cmd = parser.nextCommand()
                if cmd.isNull():
                    break
                out = cmd.invoke(s, sm).strip()
                if out in ("sat", "unsat") or out.startswith("unknown"):
                    result = out
            return result
        return run
    raise ValueError(f"unknown solver {name!r} (z3 or cvc5)")


def _bar(total: int, desc: str):
    import sys
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, mininterval=0.5)
