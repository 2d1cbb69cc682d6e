"""SMT-LIB2 export and re-check of a certificate's obligations (second opinion by z3 / cvc5).

Every obligation the checker decides has the form  sum_k c_k * exp(a_k / sqrt(d)) > 0  with exact
rationals c_k, a_k (computed from the weights by the checker's exact tables). Each file states its
negation over the Reals (QF_NRA), so `unsat` means the obligation holds:
  * s is sqrt(d): s > 0, s * s = d;  y_k * s = a_k;  e_k > 0 stands for exp(y_k);
  * one analytic fact per term, instantiated at rationals L_k <= y_k <= U_k chosen by us and
    re-derived by the solver from y_k * s = a_k: exp is increasing, and Taylor's theorem gives
      exp(U) <= 1 / T_N(-U)                       for U <= 0,
      exp(U) <= T_N(U) / (1 - U^(N+1) / (N+1)!)   for 0 < U with U^(N+1) < (N+1)!,
      exp(L) >= T_N(L)                            for L >= 0,
      exp(L) >= (1 - |L|^(N+1)/(N+1)!) / T_N(|L|)  for L < 0,
    with T_N(x) = sum_{n<=N} x^n / n! written out as rational arithmetic for the solver to evaluate;
  * the negated goal sum_k c_k e_k <= 0.
Brute-force certificates are re-checked on a seeded sample of inputs plus the inputs whose float64
margin is smallest (near-ties): the output says plainly that this part is a sample.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from fractions import Fraction
from math import factorial
from pathlib import Path
from typing import Iterator

import numpy as np

from checker import expo
from checker.certificate import parse_certificate
from checker.check import resolve_model_path
from checker.ops import Ops
from checker.rules import obligations_for, semantic_paths
from checker.safetensors import read_weights

PRECISION = 64  # bits of the rational enclosure of each exponent


@dataclass(frozen=True)
class Obligation:
    name: str
    sums: list   # [[(coeff, arg), ...], ...] Fractions: every sum > 0 (or, if not holds, the one sum <= 0)
    holds: bool  # False for a brute-force input counted wrong


def obligations(cert_path: str, weights: str | None = None, sample: int = 200,
                seed: int = 0) -> tuple[list[Obligation], int, str]:
    """(obligations, d_head, note) for a certificate; the weights' hash is verified first."""
    cert = parse_certificate(Path(cert_path).read_bytes())
    w = read_weights(weights or resolve_model_path(cert.model_path, cert_path))
    if w.sha256 != cert.sha256:
        raise ValueError("weights do not match the certificate's SHA-256")
    if cert.strategy == "brute-force":
        obs = list(_brute_force(cert, w, sample, seed))
        return obs, w.d_head, (f"SAMPLE ONLY: {len(obs)} inputs (near-ties plus {sample} seeded random) "
                               f"of {w.d_vocab ** w.k}")
    cases = obligations_for(cert.strategy)  # the rule's own obligations (checker/rules/__init__.py)
    if cases is None:
        raise ValueError(f"no SMT export for strategy {cert.strategy!r}")
    obs = [Obligation(case.name, case.sums, True) for case in cases(cert, w)]
    return obs, w.d_head, "all obligations (complete re-check)"


def _brute_force(cert, w, sample: int, seed: int) -> Iterator[Obligation]:
    p = semantic_paths(cert, w, Ops())
    V, K = w.d_vocab, w.k
    rng = random.Random(seed)
    picked = {tuple(rng.randrange(V) for _ in range(K)) for _ in range(sample)}
    picked |= _near_ties(p, 20)
    for toks in sorted(picked):
        q, m = toks[-1], max(toks)
        gaps = [_gap_terms(p, toks, m, j) for j in range(V) if j != m]
        correct = all(expo.holds(g, p.d_head) for g in gaps)
        name = "input_" + "_".join(map(str, toks))
        if correct:
            yield Obligation(f"{name}_correct", gaps, True)
        else:
            yield Obligation(f"{name}_wrong", [next(g for g in gaps if not expo.holds(g, p.d_head))], False)


def _gap_terms(p, toks, m: int, j: int) -> list:
    q = toks[-1]
    return [(p.win.fraction((q, m)) - p.rival.fraction((q, j)) + p.ov.fraction((t, i, m)) - p.ov.fraction((t, i, j)),
             Fraction(int(p.qk.n[q, t, i])) * Fraction(2) ** p.qk.e) for i, t in enumerate(toks)]


def _near_ties(p, count: int) -> set[tuple[int, ...]]:
    """The inputs with the smallest |float64 logit margin| (a selector only; never trusted)."""
    V, K = p.d_vocab, p.k
    f = lambda x: np.vectorize(float)(x.n) * 2.0 ** x.e
    qk, ov, direct = f(p.qk) / np.sqrt(p.d_head), f(p.ov), f(p.direct)
    toks = np.stack(np.unravel_index(np.arange(V ** K), (V,) * K), axis=1) if V ** K <= 1 << 20 else \
        np.random.default_rng(0).integers(0, V, (1 << 20, K))
    pos = np.arange(K)
    s = qk[toks[:, -1][:, None], toks, pos]
    a = np.exp(s - s.max(1, keepdims=True))
    a /= a.sum(1, keepdims=True)
    logits = direct[toks[:, -1]] + np.einsum("nk,nkv->nv", a, ov[toks, pos])
    m = toks.max(1)
    right = logits[np.arange(len(toks)), m].copy()
    logits[np.arange(len(toks)), m] = -np.inf
    margin = np.abs(right - logits.max(1))
    return {tuple(int(v) for v in toks[i]) for i in np.argsort(margin)[:count]}


def to_smtlib(ob: Obligation, d: int) -> str:
    """One exponential variable per distinct argument, with the facts the sums' signs need."""
    claim = "every sum > 0" if ob.holds else "the sum <= 0"
    lines = [f"; obligation {ob.name}: sums of c_k * exp(a_k / sqrt({d})); claim: {claim}",
             "; unsat means the obligation holds", "(set-logic QF_NRA)",
             "(declare-const s Real)", "(assert (> s 0.0))", f"(assert (= (* s s) {_num(Fraction(d))}))"]
    args = sorted({a for terms in ob.sums for _, a in terms})
    index = {a: k for k, a in enumerate(args)}
    sides = {(a, (coef > 0) == ob.holds) for terms in ob.sums for coef, a in terms}  # True: need a lower bound
    for a, k in index.items():
        lo, hi = _arg_bounds(a, d)
        lines += [f"(declare-const y{k} Real)", f"(assert (= (* y{k} s) {_num(a)}))",
                  f"(declare-const e{k} Real)", f"(assert (> e{k} 0.0))"]
        if (a, True) in sides:
            lines.append(f"(assert (=> (>= y{k} {_num(lo)}) (>= e{k} {_exp_lower(lo)})))")
        if (a, False) in sides:
            lines.append(f"(assert (=> (<= y{k} {_num(hi)}) (<= e{k} {_exp_upper(hi)})))")
    bodies = []
    for terms in ob.sums:
        parts = [f"(* {_num(coef)} e{index[a]})" for coef, a in terms]
        bodies.append(f"(+ {' '.join(parts)})" if len(parts) > 1 else parts[0])
    if ob.holds:
        negated = [f"(<= {b} 0.0)" for b in bodies]
        lines.append(f"(assert (or {' '.join(negated)}))" if len(negated) > 1 else f"(assert {negated[0]})")
    else:
        lines.append(f"(assert (> {bodies[0]} 0.0))")
    lines += ["(check-sat)", ""]
    return "\n".join(lines)


def _arg_bounds(arg: Fraction, d: int) -> tuple[Fraction, Fraction]:
    """Rationals lo <= arg / sqrt(d) <= hi (the solver re-derives this from s * s = d)."""
    m = expo.scaled_sqrt_floor(arg.numerator, 0, d, PRECISION, arg.denominator)
    scale = Fraction(1, 1 << PRECISION)
    return (m * scale, (m + 1) * scale) if arg >= 0 else (-(m + 1) * scale, -m * scale)


def _terms(x: Fraction) -> int:
    return max(20, int(3 * abs(x)) + 20)


def _taylor(x: Fraction, n: int) -> str:
    """T_n(x) in Horner form, as SMT-LIB rational arithmetic."""
    expr = _num(Fraction(1, factorial(n)))
    for k in range(n - 1, -1, -1):
        expr = f"(+ {_num(Fraction(1, factorial(k)))} (* {_num(x)} {expr}))"
    return expr


def _tail(x: Fraction, n: int) -> str:
    return f"(- 1.0 {_num(abs(x) ** (n + 1) / factorial(n + 1))})"


def _exp_upper(u: Fraction) -> str:
    n = _terms(u)
    if u <= 0:
        return f"(/ 1.0 {_taylor(-u, n)})"
    return f"(/ {_taylor(u, n)} {_tail(u, n)})"


def _exp_lower(l: Fraction) -> str:
    n = _terms(l)
    if l >= 0:
        return _taylor(l, n)
    return f"(/ {_tail(l, n)} {_taylor(-l, n)})"


def _num(x: Fraction) -> str:
    body = f"(/ {abs(x.numerator)}.0 {x.denominator}.0)" if x.denominator != 1 else f"{abs(x.numerator)}.0"
    return f"(- {body})" if x < 0 else body


def export(cert_path: str, out_dir: str, weights: str | None = None, sample: int = 200) -> tuple[int, str]:
    obs, d, note = obligations(cert_path, weights, sample)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for ob in obs:
        (out / f"{ob.name}.smt2").write_text(to_smtlib(ob, d))
    return len(obs), note


@dataclass
class Summary:
    obligations: int = 0
    unsat: int = 0
    sat: list = field(default_factory=list)
    unknown: list = field(default_factory=list)
    seconds: float = 0.0


def recheck(cert_path: str, solver: str, weights: str | None = None, sample: int = 200,
            timeout_ms: int = 10_000, progress: bool = True) -> tuple[Summary, str]:
    """Run every obligation through z3 or cvc5; sat or unknown answers are listed by name."""
    run = _solver(solver)
    obs, d, note = obligations(cert_path, weights, sample)
    summary = Summary()
    start = time.perf_counter()
    bar = _bar(len(obs), f"{solver}") if progress else None
    for ob in obs:
        answer = run(to_smtlib(ob, d), timeout_ms)
        summary.obligations += 1
        if answer == "unsat":
            summary.unsat += 1
        elif answer == "sat":
            summary.sat.append(ob.name)
        else:
            summary.unknown.append(ob.name)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    summary.seconds = time.perf_counter() - start
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
            s.setOption("nl-cov", "true")
            parser = cvc5.InputParser(s)
            parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, text, "obligation")
            sm = parser.getSymbolManager()
            result = "unknown"
            while True:
                cmd = parser.nextCommand()
                if cmd.isNull():
                    break
                out = cmd.invoke(s, sm)
                if out.strip() in ("sat", "unsat", "unknown"):
                    result = out.strip()
            return result
        return run
    raise ValueError(f"unknown solver {name!r} (z3 or cvc5)")


def _bar(total: int, desc: str):
    import sys
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, mininterval=0.5)
