"""SMT-LIB2 text of one obligation: small exact numbers, the lowest Taylor degree that decides.

An obligation is a list of sums  S = sum_k c_k * exp(a_k / sqrt(d))  (exact rationals c_k, a_k) with
a claim: every S > 0 (holds) or, for a brute-force input counted wrong, the one S <= 0. The text
asserts the claim's negation; `unsat` means the claim holds. With s standing for sqrt(d)
(s > 0, s * s = d, in the prelude) and e_k > 0 for exp(a_k / s), each e_k gets the facts the claim
needs, instantiated at short dyadic rationals L <= a_k / s <= U that the solver verifies itself as
L * s <= a_k and a_k <= U * s:
    e_k >= T_N(L)                         (L >= 0)     e_k <= 1 / T_N(|U|)            (U <= 0)
    e_k >= (1 - t_N(|L|)) / T_N(|L|)      (L < 0)      e_k <= T_N(U) / (1 - t_N(U))   (U > 0, t_N(U) < 1)
with T_N(x) = sum_{n <= N} x^n / n! and t_N(x) = x^(N+1) / (N+1)!, both written as rational
arithmetic that the solver evaluates. They follow from exp being increasing and Taylor's theorem:
for x >= 0 every term of the series is >= 0, so exp(x) >= T_N(x), and the tail after T_N is at most
t_N(x) exp(x), so exp(x) (1 - t_N(x)) <= T_N(x); negative arguments use exp(-x) = 1 / exp(x) (the
lower bound is <= 0, hence still true, when t_N(|L|) >= 1).

The exporter picks, per exponential, the coarsest endpoint (bits of its denominator) and lowest
degree N whose error fits the sum's margin, verifies with exact rationals that the chosen facts
decide the claim, and refines (halving the error budgets) where they do not. Terms with equal
exponents are merged, each exponential is declared once per obligation, and the terms every sum
shares are written once (`base`). Nothing here is trusted by the checker; what the text states is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from checker import expo

MAX_REFINEMENTS = 12    # budget halvings by 2**-16 before the text is written undecided (a false claim)
MAX_DEGREE = 600
_cache: dict = {}       # (a, d, side, budget exponent) -> _Fact; exponentials recur across cases


@dataclass(frozen=True)
class Obligation:
    name: str
    sums: list   # [[(coeff, arg), ...], ...] Fractions
    holds: bool  # True: every sum > 0; False: the (one) sum <= 0


@dataclass(frozen=True)
class _Fact:
    x: Fraction      # the endpoint L (lower) or U (upper)
    n: int           # Taylor degree
    r: Fraction      # the Taylor bound rounded outward to a short dyadic: what the solver computes with


@dataclass(frozen=True)
class Encoded:
    """An obligation ready to write: its facts, and its sums scaled to integer coefficients."""
    name: str
    holds: bool
    decided: bool                      # whether exact arithmetic found the facts decide the claim
    scale: Fraction                    # each written sum is scale * exp(-shift / sqrt(d)) times the rule's
    shift: Fraction
    sums: list                         # [{arg: int coefficient}, ...]
    facts: list                        # [(arg, lower?, _Fact), ...]


def prelude(d: int) -> str:
    return f"(set-logic QF_NRA)\n; exponents are a / sqrt({d}); facts: premise => bound\n"


def encode(ob: Obligation, d: int) -> Encoded:
    sums, shift = _shift([_merge(terms) for terms in ob.sums], ob.holds)
    facts, decided = _choose(sums, ob.holds, d)
    scale = Fraction(math.lcm(*(c.denominator for t in sums for c in t.values())))
    scaled = [{a: int(c * scale) for a, c in t.items()} for t in sums]
    return Encoded(ob.name, ob.holds, decided, scale, shift, scaled,
                   sorted(((a, low, f) for (a, low), f in facts.items()), key=lambda x: (x[0], x[1])))


def script(encs: list[Encoded], d: int) -> str:
    """Several obligations as ONE complete SMT-LIB2 script with one check-sat (a batch): each
    exponential declared and each of its facts stated once, and the negations of all the
    obligations' claims asserted as one disjunction, so `unsat` means every obligation holds. (One
    solver call for many small obligations: the solvers' per-call cost, not the arithmetic,
    dominated a call per obligation.)"""
    facts = sorted({(a, low, f) for enc in encs for a, low, f in enc.facts}, key=lambda x: (x[0], x[1], x[2].r))
    names = {a: f"e{k}" for k, a in enumerate(sorted({a for a, _, _ in facts} | set().union(*map(_args, encs))))}
    parts = [prelude(d), *_declare(names, d, facts)]
    negations = []
    for j, enc in enumerate(encs):
        text, negation = _goal(enc, names, f"b{j}")
        parts.append(text)
        negations.append(negation)
    parts.append(f"(assert {_or(negations)})\n(check-sat)\n")
    return "".join(parts)


def standalone(enc: Encoded, d: int) -> str:
    """One obligation as a complete SMT-LIB2 script."""
    return script([enc], d)


def batches(encs: list[Encoded], max_obligations: int, max_sums: int) -> list[list[Encoded]]:
    """Consecutive obligations in batches of at most max_obligations and (unless one alone is
    larger) max_sums sums."""
    out: list[list[Encoded]] = []
    for enc in encs:
        if out and len(out[-1]) < max_obligations and sum(len(e.sums) for e in out[-1]) + len(enc.sums) <= max_sums:
            out[-1].append(enc)
        else:
            out.append([enc])
    return out


def group(encs: list[Encoded], d: int, max_obligations: int, max_sums: int) -> str:
    """A file of batches (`script`), each in push/pop after an echo of its obligations' names:
    the solver prints the names, then unsat (all of them hold) or sat."""
    parts = []
    for batch in batches(encs, max_obligations, max_sums):
        body = script(batch, d).split("\n", 1)[1]  # the logic is set once, below
        parts.append(f'(echo "{" ".join(e.name for e in batch)}")\n(push 1)\n{body}(pop 1)\n')
    return prelude(d) + "".join(parts)


def _args(enc: Encoded) -> set:
    return {a for t in enc.sums for a in t}


def _declare(names: dict, d: int, facts: list) -> list[str]:
    out = [f"(declare-const {e} Real)\n(assert (> {e} 0.0))\n" for e in names.values()]
    for a, low, f in facts:
        if low:
            out.append(f"(assert (=> (and {_above(f.x, a, d)} (<= {_num(f.r)} {_lower_text(f)})) "
                       f"(>= {names[a]} {_num(f.r)})))\n")
        else:
            out.append(f"(assert (=> (and {_below(f.x, a, d)} (<= {_upper_text(f)} {_num(f.r)})) "
                       f"(<= {names[a]} {_num(f.r)})))\n")
    return out


def _goal(enc: Encoded, names: dict, base: str) -> tuple[str, str]:
    """The obligation's comment and shared-terms definition, and the negation of its claim."""
    claim = "every sum > 0" if enc.holds else "the sum <= 0"
    lines = [f"; {enc.name}: {len(enc.sums)} sum(s) of c * exp(a / sqrt(d)), each times {enc.scale} * exp(-{enc.shift} / sqrt(d)); "
             f"claim: {claim}; unsat = holds" + ("" if enc.decided else " (NOT decided by these facts)")]
    common = set.intersection(*(set(t.items()) for t in enc.sums)) if len(enc.sums) > 1 else set()
    body = lambda items: [f"(* {_num(Fraction(c))} {names[a]})" for a, c in sorted(items)]
    if common:
        lines += [f"(declare-const {base} Real)", f"(assert (= {base} {_plus(body(common))}))"]
    exprs = [_plus(([base] if common else []) + body(set(t.items()) - common)) for t in enc.sums]
    negation = _or([f"(<= {x} 0.0)" for x in exprs]) if enc.holds else f"(> {exprs[0]} 0.0)"
    return "\n".join(lines) + "\n", negation


def _or(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"(or {' '.join(parts)})"


def _above(x: Fraction, a: Fraction, d: int) -> str:
    """A ground formula, true here, that implies x <= a / sqrt(d) (the solver evaluates it)."""
    if x <= 0 <= a:    # a / sqrt(d) >= 0 >= x
        return _ground(f"(and (<= {_num(x)} 0.0) (>= {_num(a)} 0.0))", True)
    if a >= 0:         # 0 < x, d x^2 <= a^2: x <= a / sqrt(d)
        return _ground(f"(let ((a {_num(a)})) (and (>= a 0.0) (<= (* {d}.0 {_num(x)} {_num(x)}) (* a a))))",
                       d * x * x <= a * a)
    # a < 0, x <= 0, a^2 <= d x^2: a / sqrt(d) = -|a| / sqrt(d) >= -|x| = x
    return _ground(f"(let ((a {_num(a)})) (and (<= {_num(x)} 0.0) (<= (* a a) (* {d}.0 {_num(x)} {_num(x)}))))",
                   x <= 0 and a * a <= d * x * x)


def _below(x: Fraction, a: Fraction, d: int) -> str:
    """A ground formula, true here, that implies a / sqrt(d) <= x."""
    if a <= 0 <= x:    # a / sqrt(d) <= 0 <= x
        return _ground(f"(and (<= {_num(a)} 0.0) (>= {_num(x)} 0.0))", True)
    if a <= 0:         # x < 0, d x^2 <= a^2: a / sqrt(d) = -|a| / sqrt(d) <= -|x| = x
        return _ground(f"(let ((a {_num(a)})) (and (<= a 0.0) (<= (* {d}.0 {_num(x)} {_num(x)}) (* a a))))",
                       d * x * x <= a * a)
    # a > 0, x >= 0, a^2 <= d x^2: a / sqrt(d) <= x
    return _ground(f"(let ((a {_num(a)})) (and (>= {_num(x)} 0.0) (<= (* a a) (* {d}.0 {_num(x)} {_num(x)}))))",
                   x >= 0 and a * a <= d * x * x)


def _ground(text: str, true: bool) -> str:
    """A premise the exporter knows to be true (checked exactly): a false one would make its fact
    vacuous and the obligation undecided, so it is a bug here, never a silent sat."""
    if not true:
        raise AssertionError(f"exporter bug: a premise does not hold: {text[:200]}")
    return text


class _Arg(Fraction):
    """An exponent used as a dict key: a Fraction whose hash is computed once (Fraction's own hash,
    a modular inverse, was a fifth of the encoding time; the same exponents are looked up often)."""
    __slots__ = ("_hash",)

    def __hash__(self) -> int:
        try:
            return self._hash
        except AttributeError:
            self._hash = Fraction.__hash__(self)
            return self._hash


def _merge(terms) -> dict[Fraction, Fraction]:
    """arg -> summed coefficient, zero coefficients dropped (equal exponents are one exponential)."""
    out: dict[Fraction, Fraction] = {}
    for c, a in terms:
        out[a] = out.get(a, 0) + c
    return {_Arg(a): Fraction(c) for a, c in out.items() if c != 0}


def _shift(sums: list[dict], holds: bool) -> tuple[list[dict], Fraction]:
    """Every argument minus the largest on the claim's winning side (c > 0 if it holds, c < 0 if not):
    each sum is multiplied by exp(-shift / sqrt(d)) > 0, which keeps its sign, and its dominant
    exponentials come near exp(0), where low Taylor degrees are accurate."""
    winning = [a for t in sums for a, c in t.items() if (c > 0) == holds]
    if not winning:
        return sums, Fraction(0)
    top = max(winning)
    moved = {a: _Arg(a - top) for t in sums for a in t}
    return [{moved[a]: c for a, c in t.items()} for t in sums], top


def _plus(parts: list[str]) -> str:
    return "0.0" if not parts else parts[0] if len(parts) == 1 else f"(+ {' '.join(parts)})"


def _choose(sums: list[dict], holds: bool, d: int) -> tuple[dict, bool]:
    """Facts (a, lower?) -> _Fact that decide every sum's claim, refined until exact arithmetic agrees."""
    approx = {a: _approx_exp(a, d) for t in sums for a in t}
    budget: dict[tuple[Fraction, bool], float] = {}
    for t in sums:
        scale = sum(abs(float(c)) * approx[a] for a, c in t.items())
        margin = abs(sum(float(c) * approx[a] for a, c in t.items()))
        margin = max(margin, scale * 2.0 ** -40, 1e-300)
        for a, c in t.items():
            key = (a, (c > 0) == holds)
            budget[key] = min(budget.get(key, math.inf), margin / (4 * len(t) * abs(float(c))))
    for _ in range(MAX_REFINEMENTS + 1):
        facts = {key: _fact(key[0], key[1], tau, approx[key[0]], d) for key, tau in budget.items()}
        failing = [t for t in sums if not _decided(t, facts, holds)]
        if not failing:
            return {k: f for k, f in facts.items() if f is not None}, True
        for t in failing:
            for a, c in t.items():
                budget[(a, (c > 0) == holds)] *= 2.0 ** -16
    return {k: f for k, f in facts.items() if f is not None}, False


def _decided(t: dict, facts: dict, holds: bool) -> bool:
    """Whether the facts imply the claim for this sum, in exact arithmetic."""
    total = Fraction(0)
    for a, c in t.items():
        f = facts[(a, (c > 0) == holds)]
        total += c * (f.r if f is not None else 0)  # no lower fact: e > 0 only
    return total > 0 if holds else total <= 0


def _approx_exp(a: Fraction, d: int) -> float:
    """exp(a / sqrt(d)) in floats: a selector for budgets only, never trusted."""
    y = float(a) / math.sqrt(d)
    return math.exp(y) if y < 700 else math.inf


def _fact(a: Fraction, lower: bool, tau: float, approx: float, d: int) -> _Fact | None:
    """The cheapest fact on exp(a / s) with error about tau or less (None: no lower fact needed)."""
    if lower and approx <= tau:
        return None
    level = math.floor(math.log2(tau)) if tau > 0 else -10 ** 6
    key = (a, d, lower, level)
    if key not in _cache:
        if len(_cache) > 1 << 18:
            _cache.clear()
        _cache[key] = _build(a, lower, 2.0 ** level, approx, d)
    return _cache[key]


def _build(a: Fraction, lower: bool, tau: float, approx: float, d: int) -> _Fact:
    ratio = approx / tau if tau > 0 else math.inf
    p = 0 if ratio <= 1 else min(4096, math.ceil(math.log2(ratio)) + 2)  # E * 2**-p <= tau / 4
    while True:
        m = expo.scaled_sqrt_floor(a.numerator, 0, d, p, a.denominator)  # |a| / s * 2**p in [m, m + 1]
        lo, hi = (Fraction(m, 1 << p), Fraction(m + 1, 1 << p)) if a >= 0 else \
            (Fraction(-m - 1, 1 << p), Fraction(-m, 1 << p))
        x = lo if lower else hi
        n = _degree(float(x), lower, tau / 2)
        if n is not None:
            v = _lower_value(x, n) if lower else _upper_value(x, n)
            return _Fact(x, n, _round(v, tau / 4, up=not lower))
        p += 8  # no degree fits this endpoint (never expected): a finer one


def _round(v: Fraction, tau: float, up: bool) -> Fraction:
    """v rounded up (or down) to a dyadic with about log2(v / tau) significant bits: error <= tau."""
    if v <= 0:
        return v
    bits = max(4, math.ceil(math.log2(float(v) / tau)) + 2) if tau > 0 else 64
    k = bits - (v.numerator.bit_length() - v.denominator.bit_length())
    n = v * (Fraction(2) ** k)
    n = -((-n.numerator) // n.denominator) if up else n.numerator // n.denominator
    return Fraction(n) / (Fraction(2) ** k)


def _degree(x: float, lower: bool, tau: float) -> int | None:
    """The lowest N whose bound at x has error <= tau (estimated in floats; refinement catches misses)."""
    ex = math.exp(x) if x < 700 else math.inf
    if x == 0:
        return 0
    lx = math.log(abs(x))
    for n in range(MAX_DEGREE + 1):
        lt = (n + 1) * lx - math.lgamma(n + 2)  # log t_N(|x|)
        t = math.exp(lt) if lt < 700 else math.inf
        if x > 0 and not lower:
            if t < 0.5 and 2 * t * ex <= tau:
                return n
        elif x > 0 or t < 0.5:
            if 2 * t * ex <= tau:
                return n
        elif not lower and 1 / _taylor_float(-x, n) <= tau:  # a far-negative exponent: its bound is tiny
            return n
    return None


def _taylor_float(x: float, n: int) -> float:
    total = 1.0
    for k in range(n, 0, -1):
        total = 1.0 + x / k * total
    return total


def _taylor_value(x: Fraction, n: int) -> Fraction:
    total = Fraction(1)
    for k in range(n, 0, -1):
        total = 1 + x / k * total
    return total


def _tail_value(x: Fraction, n: int) -> Fraction:
    return x ** (n + 1) / math.factorial(n + 1)


def _lower_value(x: Fraction, n: int) -> Fraction:
    return _taylor_value(x, n) if x >= 0 else (1 - _tail_value(-x, n)) / _taylor_value(-x, n)


def _upper_value(x: Fraction, n: int) -> Fraction:
    if x <= 0:
        return 1 / _taylor_value(-x, n)
    tail = _tail_value(x, n)
    assert tail < 1, "an upper bound needs t_N(U) < 1"  # _degree only returns such N
    return _taylor_value(x, n) / (1 - tail)


def _taylor_text(n: int) -> str:
    """T_n(x) nested as 1 + x/1 (1 + x/2 (... (1 + x/n))), in the let-bound x."""
    text = "1.0"
    for k in range(n, 0, -1):
        text = f"(+ 1.0 (* (/ x {k}.0) {text}))"
    return text


def _tail_text(n: int) -> str:
    parts = [f"(/ x {k}.0)" for k in range(1, n + 2)]
    return parts[0] if len(parts) == 1 else f"(* {' '.join(parts)})"


def _lower_text(f: _Fact) -> str:
    if f.x >= 0:
        return f"(let ((x {_num(f.x)})) {_taylor_text(f.n)})"
    return f"(let ((x {_num(-f.x)})) (/ (- 1.0 {_tail_text(f.n)}) {_taylor_text(f.n)}))"


def _upper_text(f: _Fact) -> str:
    if f.x <= 0:
        return f"(let ((x {_num(-f.x)})) (/ 1.0 {_taylor_text(f.n)}))"
    return f"(let ((x {_num(f.x)})) (/ {_taylor_text(f.n)} (- 1.0 {_tail_text(f.n)})))"


def _num(x: Fraction) -> str:
    """An exact SMT-LIB rational; decimal strings of any length (no int-string limit is hit:
    Python's limit applies to int(str) and str(int) above 4300 digits, and these stay far below)."""
    body = f"{abs(x.numerator)}.0" if x.denominator == 1 else f"(/ {abs(x.numerator)}.0 {x.denominator}.0)"
    return f"(- {body})" if x < 0 else body
