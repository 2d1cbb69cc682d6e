"""SMT-LIB2 text of obligations: small exact numbers, the lowest Taylor degree that decides.

An obligation is a list of sums  S = sum_k c_k * exp(a_k / sqrt(d))  (exact rationals c_k, a_k) with
a claim: every S > 0 (holds) or, for a brute-force input counted wrong, the one S <= 0. The text
asserts the claim's negation; `unsat` means the claim holds. With e_k > 0 standing for
exp(a_k / sqrt(d)), each e_k gets the facts the claim needs, at short dyadic rationals
L <= a_k / sqrt(d) <= U that the solver verifies itself (d L^2 <= a_k^2 and signs, no square root):
    e_k >= b_low(L)    e_k <= b_up(U)
where, with y = |x| / 2^k (k >= 0 halvings) and T_N(y) = sum_{n <= N} y^n / n!, t_N(y) = y^(N+1) / (N+1)!,
    b_low(x) = T_N(y)^(2^k)               (x >= 0)     b_up(x) = T_N(y)^(-2^k)                  (x <= 0)
    b_low(x) = ((1 - t_N(y)) / T_N(y))^(2^k)  (x < 0)  b_up(x) = (T_N(y) / (1 - t_N(y)))^(2^k)  (x > 0)
(t_N(y) < 1 required, and checked by the solver, in the last two), all written as rational
arithmetic that the solver evaluates, the power as k squarings through short dyadics r_0 .. r_k
rounded outward. They follow from exp being increasing, exp(2z) = exp(z)^2 and Taylor's theorem:
for y >= 0 every term of the series is >= 0, so exp(y) >= T_N(y), and the tail after T_N is at most
t_N(y) exp(y), so exp(y) (1 - t_N(y)) <= T_N(y); negative arguments use exp(-y) = 1 / exp(y).

The exporter picks, per exponential, the coarsest endpoint (bits of its denominator) and the
cheapest (N, k) whose error fits the sum's margin, verifies with exact rationals that the chosen
facts decide the claim, and refines (halving the error budgets) where they do not. Terms with
equal exponents are merged, and the terms every sum shares are written once (`base`). A file or
batch declares each exponential once with the tightest fact any of its obligations chose per side
(obligations of one query token share their exponentials: the rules' arguments are scores less
the query's top score). Nothing here is trusted by the checker; what the text states is.
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
    k: int           # halvings: the bound is squared k times from one at |x| / 2^k ...
    chain: tuple     # ... through these short dyadics r_0 .. r_{k-1} (rounded outward), r_k = r
    r: Fraction      # the Taylor bound rounded outward to a short dyadic: what the solver computes with


@dataclass(frozen=True)
class Encoded:
    """An obligation ready to write: its facts, and its sums scaled to integer coefficients."""
    name: str
    holds: bool
    decided: bool                      # whether exact arithmetic found the facts decide the claim
    scale: Fraction                    # each written sum is scale (> 0) times the rule's
    sums: list                         # [{arg: int coefficient}, ...]
    facts: list                        # [(arg, lower?, _Fact), ...]


def prelude(d: int) -> str:
    return f"(set-logic QF_NRA)\n; e_k stands for exp(a_k / sqrt({d})); facts: premise => bound\n"


def encode(ob: Obligation, d: int) -> Encoded:
    sums = [_merge(terms) for terms in ob.sums]
    facts, decided = _choose(sums, ob.holds, d)
    scale = Fraction(math.lcm(*(c.denominator for t in sums for c in t.values())))
    scaled = [{a: int(c * scale) for a, c in t.items()} for t in sums]
    return Encoded(ob.name, ob.holds, decided, scale, scaled,
                   sorted(((a, low, f) for (a, low), f in facts.items()), key=lambda x: (x[0], x[1])))


def script(encs: list[Encoded], d: int) -> str:
    """Several obligations as ONE complete SMT-LIB2 script with one check-sat (a batch): each
    exponential declared and given its facts once, and the negations of all the obligations'
    claims asserted as one disjunction, so `unsat` means every obligation holds. (One solver call
    for many small obligations: the solvers' per-call cost, not the arithmetic, dominated a call
    per obligation.)"""
    names, shared = _shared(encs, d)
    return prelude(d) + shared + _batch(encs, names)


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
    """A file: every exponential of its obligations declared and given its facts ONCE, at the top
    (true statements, so they may serve every batch), then the batches (`batches`), each in
    push/pop after an echo of its obligations' names: the solver prints the names, then unsat (all
    of them hold) or sat. (Obligations of one query token share most exponentials: stating their
    facts once per batch made the default cubic export 218 MB.)"""
    names, shared = _shared(encs, d)
    parts = [f'(echo "{" ".join(e.name for e in batch)}")\n(push 1)\n{_batch(batch, names)}(pop 1)\n'
             for batch in batches(encs, max_obligations, max_sums)]
    return prelude(d) + shared + "".join(parts)


def _shared(encs: list[Encoded], d: int) -> tuple[dict, str]:
    """Names e0, e1, ... for the obligations' exponentials, and their declarations and facts: per
    exponential and side the tightest fact any obligation chose (a tighter bound decides whatever
    a looser one decides: a lower bound only ever multiplies a coefficient that wants it large)."""
    best: dict[tuple, _Fact] = {}
    for enc in encs:
        for a, low, f in enc.facts:
            old = best.get((a, low))
            if old is None or (f.r > old.r if low else f.r < old.r):
                best[a, low] = f
    args = sorted(set().union(*map(_args, encs)) | {a for a, _ in best})
    names = {a: f"e{k}" for k, a in enumerate(args)}
    return names, "".join(_declare(names, d, sorted(best.items(), key=lambda kv: kv[0])))


def _batch(encs: list[Encoded], names: dict) -> str:
    """The obligations' goals and the one disjunction of their negated claims, then check-sat."""
    parts, negations = [], []
    for j, enc in enumerate(encs):
        text, negation = _goal(enc, names, f"b{j}")
        parts.append(text)
        negations.append(negation)
    return "".join(parts) + f"(assert {_or(negations)})\n(check-sat)\n"


def _args(enc: Encoded) -> set:
    return {a for t in enc.sums for a in t}


def _declare(names: dict, d: int, facts: list) -> list[str]:
    """Each exponential e > 0, and per fact  (=> (let ((a A) (l L)) (and P B)) (>= e r))  (or <= for
    an upper bound): P a ground premise that l <= a / sqrt(d) (or >=), B that r bounds exp(l)."""
    out = [f"(declare-const {e} Real)\n(assert (> {e} 0))\n" for e in names.values()]
    for (a, low), f in facts:
        premise = _above(f.x, a, d) if low else _below(f.x, a, d)
        out.append(f"(assert (=> (let ((a {_num(a)}) (l {_num(f.x)})) (and {premise} {_bound_text(f, low)})) "
                   f"({'>=' if low else '<='} {names[a]} {_num(f.r)})))\n")
    return out


def _goal(enc: Encoded, names: dict, base: str) -> tuple[str, str]:
    """The obligation's comment and shared-terms definition, and the negation of its claim."""
    claim = "every sum > 0" if enc.holds else "the sum <= 0"
    lines = [f"; {enc.name}: {len(enc.sums)} sum(s), each {_scale_text(enc.scale)} times the rule's; claim: {claim}"
             + ("" if enc.decided else " (NOT decided by these facts)")]
    common = set.intersection(*(set(t.items()) for t in enc.sums)) if len(enc.sums) > 1 else set()
    body = lambda items: [_term(c, names[a]) for a, c in sorted(items)]
    if common:
        lines += [f"(declare-const {base} Real)", f"(assert (= {base} {_plus(body(common))}))"]
    def negated(t: dict) -> str:  # not (sum > 0); base + c e <= 0 as base <= |c| e when c < 0 (shorter)
        rest = sorted(set(t.items()) - common)
        if common and len(rest) == 1 and rest[0][1] < 0:
            return f"(<= {base} {_term(-rest[0][1], names[rest[0][0]])})"
        return f"(<= {_plus(([base] if common else []) + body(rest))} 0)"
    negation = _or([negated(t) for t in enc.sums]) if enc.holds else \
        f"(> {_plus(body(enc.sums[0].items()))} 0)"
    return "\n".join(lines) + "\n", negation


def _scale_text(scale: Fraction) -> str:
    n = scale.numerator
    return f"2^{n.bit_length() - 1}" if scale.denominator == 1 and n & (n - 1) == 0 else str(scale)


def _term(c: int, e: str) -> str:
    return e if c == 1 else f"(* {_num(Fraction(c))} {e})"


def _or(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"(or {' '.join(parts)})"


def _above(x: Fraction, a: Fraction, d: int) -> str:
    """A ground formula in the let-bound a = a and l = x, true here, that implies x <= a / sqrt(d)."""
    if x <= 0 <= a:    # a / sqrt(d) >= 0 >= x
        return _ground("(<= l 0 a)", True)
    if a >= 0:         # 0 < x, d x^2 <= a^2: x <= a / sqrt(d)
        return _ground(f"(and (>= a 0) (<= (* {d} l l) (* a a)))", d * x * x <= a * a)
    # a < 0, x <= 0, a^2 <= d x^2: a / sqrt(d) = -|a| / sqrt(d) >= -|x| = x
    return _ground(f"(and (<= l 0) (<= (* a a) (* {d} l l)))", x <= 0 and a * a <= d * x * x)


def _below(x: Fraction, a: Fraction, d: int) -> str:
    """A ground formula in the let-bound a = a and l = x, true here, that implies a / sqrt(d) <= x."""
    if a <= 0 <= x:    # a / sqrt(d) <= 0 <= x
        return _ground("(<= a 0 l)", True)
    if a <= 0:         # x < 0, d x^2 <= a^2: a / sqrt(d) = -|a| / sqrt(d) <= -|x| = x
        return _ground(f"(and (<= a 0) (<= (* {d} l l) (* a a)))", d * x * x <= a * a)
    # a > 0, x >= 0, a^2 <= d x^2: a / sqrt(d) <= x
    return _ground(f"(and (>= l 0) (<= (* a a) (* {d} l l)))", x >= 0 and a * a <= d * x * x)


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


def _plus(parts: list[str]) -> str:
    return "0" if not parts else parts[0] if len(parts) == 1 else f"(+ {' '.join(parts)})"


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
    level = max(-4096, math.floor(math.log2(tau))) if tau > 0 else -4096  # finer: a false claim
    key = (a, d, lower, level)
    if key not in _cache:
        if len(_cache) > 1 << 18:
            _cache.clear()
        _cache[key] = _build(a, lower, level, d)
    return _cache[key]


def _build(a: Fraction, lower: bool, level: int, d: int) -> _Fact:
    """The fact at error budget 2**level (logarithms throughout: budgets can be far below floats)."""
    bits = float(a) / math.sqrt(d) / math.log(2) - level  # log2(exp(a / s) / budget)
    p = 0 if bits <= 0 else min(4096, math.ceil(bits) + 2)  # E * 2**-p <= budget / 4
    while True:
        m = expo.scaled_sqrt_floor(a.numerator, 0, d, p, a.denominator)  # |a| / s * 2**p in [m, m + 1]
        lo, hi = (Fraction(m, 1 << p), Fraction(m + 1, 1 << p)) if a >= 0 else \
            (Fraction(-m - 1, 1 << p), Fraction(-m, 1 << p))
        x = lo if lower else hi
        nk = _degree(float(x), lower, level - 1)
        if nk is not None:
            n, k = nk
            v = _base_value(abs(x) / 2 ** k, lower, x < 0, n)
            if not k:
                return _Fact(x, n, 0, (), _round(v, level - 2, up=not lower))
            bits = max(8, math.ceil(float(x) / math.log(2)) - level + k + 4)  # each step: relative error 2**-bits
            chain = [_round_bits(v, bits, up=not lower)]
            for _ in range(k):
                chain.append(_round_bits(chain[-1] ** 2, bits, up=not lower))
            return _Fact(x, n, k, tuple(chain[:-1]), chain[-1])
        p += 8  # no degree fits this endpoint (never expected): a finer one


def _round(v: Fraction, level: int, up: bool) -> Fraction:
    """v rounded up (or down) to a dyadic with about log2(v) - level significant bits: error <= 2**level."""
    if v <= 0:
        return v
    size = v.numerator.bit_length() - v.denominator.bit_length()  # log2(v) within 1
    return _round_bits(v, max(4, size + 1 - level + 2), up)


def _round_bits(v: Fraction, bits: int, up: bool) -> Fraction:
    """v > 0 rounded up (or down) to a dyadic of about `bits` significant bits."""
    if v <= 0:
        return v
    k = bits - (v.numerator.bit_length() - v.denominator.bit_length())
    n = v * (Fraction(2) ** k)
    n = -((-n.numerator) // n.denominator) if up else n.numerator // n.denominator
    return Fraction(n) / (Fraction(2) ** k)


def _degree(x: float, lower: bool, level: int) -> tuple[int, int] | None:
    """The cheapest (N, k) (text length about N + k) whose bound at x has error <= tau, estimated in
    floats (refinement catches misses): halving k times keeps y = |x| / 2^k near 1, where low
    degrees suffice, and the power 2^k turns a relative error 2 t_N(y) into about 2^(k+1) t_N(y)."""
    if x == 0:
        return 0, 0
    log_tau = level * math.log(2)
    best = None
    for k in range(max(0, math.ceil(math.log2(abs(x)))) + 3):
        y = abs(x) / 2 ** k
        taylor, term = 0.0, 1.0  # T_{n-1}(y), y^n / n!
        for n in range(MAX_DEGREE + 1 if best is None else best[0] + best[1] - k):
            taylor, term = taylor + term, term * y / (n + 1)
            lt = (n + 1) * math.log(y) - math.lgamma(n + 2)  # log t_N(y)
            t = math.exp(lt) if lt < 700 else math.inf
            if x < 0 and not lower and -(2 ** k) * math.log(taylor) <= log_tau:  # far-negative: the bound is tiny
                best = (n, k)
                break
            if not (lower and x > 0) and t >= 0.5:  # relative error about t_N(y) needs t_N(y) < 1/2 here
                continue
            spread = 2 ** (k + 1) * t  # relative error (1 + 2 t)^(2^k) - 1 <= expm1(2^(k+1) t)
            if spread < 700 and math.log(math.expm1(spread)) + x <= log_tau:
                best = (n, k)
                break
    return best


def _taylor_value(x: Fraction, n: int) -> Fraction:
    total = Fraction(1)
    for k in range(n, 0, -1):
        total = 1 + x / k * total
    return total


def _tail_value(x: Fraction, n: int) -> Fraction:
    return x ** (n + 1) / math.factorial(n + 1)


def _base_value(y: Fraction, lower: bool, negative: bool, n: int) -> Fraction:
    """The bound on exp(+-y), y >= 0, before the power (the four forms of the module docstring)."""
    if lower != negative:  # exp(y) from below, or exp(-y) from above
        return _taylor_value(y, n) if lower else 1 / _taylor_value(y, n)
    tail = _tail_value(y, n)
    assert tail < 1, "this bound needs t_N(y) < 1"  # _degree only returns such N
    return (1 - tail) / _taylor_value(y, n) if lower else _taylor_value(y, n) / (1 - tail)


def _taylor_text(n: int) -> str:
    """T_n(x) nested as 1 + x/1 (1 + x/2 (... (1 + x/n))), in the let-bound x."""
    text = "1"
    for k in range(n, 0, -1):
        text = f"(+ 1 (* (/ x {k}) {text}))"
    return text


def _tail_text(n: int) -> str:
    parts = [f"(/ x {k})" for k in range(1, n + 2)]
    return parts[0] if len(parts) == 1 else f"(* {' '.join(parts)})"


def _bound_text(f: _Fact, lower: bool) -> str:
    """A ground formula in the let-bound l = f.x, true here, stating r <= (lower) or >= (upper)
    exp(l): r_0 bounds the base at x = |l| / 2^k, and each r_{j+1} bounds r_j^2 the same way, up to
    r_k = r (exp(2z) = exp(z)^2, squaring being monotone on the r_j >= 0 a lower chain requires and
    on an upper chain's r_j >= base > 0); where the base divides by or subtracts the tail t_N(x),
    the formula first requires t_N(x) < 1 (so the base is > 0)."""
    negative = f.x < 0
    base = (_taylor_text(f.n) if lower else f"(/ 1 {_taylor_text(f.n)})") if lower != negative else \
        (f"(/ (- 1 t) {_taylor_text(f.n)})" if lower else f"(/ {_taylor_text(f.n)} (- 1 t))")
    bound = lambda r, v: f"(<= {r} {v})" if lower else f"(<= {v} {r})"
    below = lambda j: f"(* r{j - 1} r{j - 1})" if j else base  # what r_j bounds
    body = bound(_num(f.r), below(f.k))
    for j in range(f.k - 1, -1, -1):  # r_j let-bound, checked against r_{j-1}^2 (or the base)
        body = f"(let ((r{j} {_num(f.chain[j])})) (and {'(<= 0 r%d) ' % j if lower else ''}{bound(f'r{j}', below(j))} {body}))"
    if lower == negative:
        body = f"(let ((t {_tail_text(f.n)})) (and (< t 1) {body}))"
    scaled = "l" if not f.k else f"(/ l {1 << f.k})"
    return f"(let ((x {f'(- {scaled})' if negative else scaled})) {body})"


def _num(x: Fraction) -> str:
    """An exact SMT-LIB rational (a numeral is a Real in QF_NRA); decimal strings of any length (no int-string limit is hit:
    Python's limit applies to int(str) and str(int) above 4300 digits, and these stay far below)."""
    body = f"{abs(x.numerator)}" if x.denominator == 1 else f"(/ {abs(x.numerator)} {x.denominator})"
    return f"(- {body})" if x < 0 else body
