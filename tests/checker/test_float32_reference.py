"""An independent reference for the float32 error bound E of checker/float32.py.

The reference below re-derives E[q, j] from the error model of docs/semantics.md ("What a conforming
float32 execution is") and the argument of docs/soundness.md ("Float32 semantics"), in exact rational
arithmetic (fractions.Fraction) with plain loops over tiny models. The checker evaluates the same
bound in float64 rounded upward, so on every (q, j)

    reference <= checker              (soundness: the checker never shrinks the documented bound)
    checker   <= reference (1 + 1e-9) (tightness: it only over-approximates by outward rounding)

The tests of tests/certify/test_float32_semantics.py compare E with real float32 executions, whose
errors are orders of magnitude below E; they cannot see a checker that computes a smaller (unsound)
bound. These tests can.

The derivation, step by step (u = 2^-24, eta = 2^-149, gamma(n) = n u / (1 - n u); for every
intermediate x: A >= |x| of the exact model, R >= |x32 - x|, M >= |x32|):

* resid_i = fl(E[t] + P[i]): A = |E[t] + P[i]|, R = u A, M = A + R (one rounded addition).
* y = x W + b (+ p), a dot product of n = rows + 1 (+ 1) terms: with S = M_x |W| + |b| (+ M_p) >= the sum
  of absolute products of the float32 inputs, R_y = R_x |W| (+ R_p) + gamma(n) S + n eta,
  A_y = A_x |W| + |b| (+ A_p), M_y = A_y + R_y.
* score q.k (dh terms, no bias): dot error e_q M_k + A_q e_k + gamma(dh) M_q.M_k + dh eta, size = A_q.A_k;
  es = c (dot error (1 + gamma(3)) + size gamma(3)) + eta with c = 1/sqrt(dh); per query the maximum
  over all keys (t, i), and spread = 2 (c max size + es).
* softmax: s32 = s + D, |D| <= es, so softmax(s32)_i / a_i is in [e^-2es, e^2es] within
  [1 - 2es, 1/(1 - 2es)]. With x = u spread, each exp32(fl(s32_i - M)) is e^(s32_i - M) r_i +- eta with
  r_i in [rho_lo, rho_hi] = [(1 - 2^-21)(1 - x), (1 + 2^-21)/(1 - x)]; the sum W of e^(s32_l - M) is
  >= 1 (the maximum's term is 1), so the computed sum lies in W [(rho_lo - K eta)(1 - g), (rho_hi + K eta)(1 + g)],
  g = gamma(K - 1); the division (or product with a rounded reciprocal) adds gamma(2). Hence
  a32_i / a_i is within [lo, hi] up to the absolute 2^-146,
    hi = rho_hi (1 + gamma(2)) / ((rho_lo - K eta)(1 - g)) / (1 - 2es),
    lo = rho_lo (1 - gamma(2)) / ((rho_hi + K eta)(1 + g)) (1 - 2es),
  and alpha = max(hi - 1, 1 - lo). Reject unless u spread <= 1/4 and es <= 1/8.
* z = sum_i a_i v_i: weight = alpha + K 2^-146 >= sum |a32_i - a_i|, mass = 1 + weight >= sum a32_i; with
  the per-coordinate maxima over every (t, i) of A_v, R_v, M_v: the rest of z32 - z (all but
  sum (a32_i - a_i) v_i) is R_z = mass R_v + gamma(K) mass M_v + K eta, and M_z = A_v + weight M_v + R_z.
* out = resid_{K-1} + z W_O + b_O (n = dh + 2, the residual one term), logits = out U + b_U (n = d_model + 1).
* E[q, j] = R_logits[j] + weight max_{t, i} |OV[t, i, j]| (OV exact).
* Reject if any magnitude (every M, every S, M_q.M_k, the spread, M_z) reaches 2^126.
"""
from __future__ import annotations

import math
from fractions import Fraction as F

import numpy as np
import pytest

from checker.errors import Reject
from checker.float32 import attention_error, float32_paths, logit_error
from checker.paths import exact_paths
from checker.safetensors import Weights

U = F(1, 2 ** 24)
ETA = F(1, 2 ** 149)
EXP_REL = F(1, 2 ** 21)
SOFT_ABS = F(1, 2 ** 146)
LIMIT = F(2 ** 126)
TOL = 1e-9
ALPHA_ABS = F(1, 2 ** 46)   # alpha = hi - 1 in float64: a few ulps of 1, absolute
# checker/float32.py bounds |out32| (in the logits' rounding term) by A_out + R_out, where R_out leaves
# out sum_i (a32_i - a_i) v_i W_O (that part reaches the logits through OV). docs/soundness.md says the
# full error is kept for the later rounding terms; the checker keeps it only for out's own rounding.
# The reference follows the checker here (and test_logit_rounding_keeps_full_error checks the
# documented, larger bound); set True once checker/float32.py includes that term.
CHECKER_KEEPS_FULL_Z_IN_OUT = True

SHAPES = {  # TransformerLens names (docs/semantics.md, "The weights as numbers")
    "embed.W_E": lambda V, K, dm, dh: (V, dm),
    "pos_embed.W_pos": lambda V, K, dm, dh: (K, dm),
    "blocks.0.attn.W_Q": lambda V, K, dm, dh: (1, dm, dh),
    "blocks.0.attn.W_K": lambda V, K, dm, dh: (1, dm, dh),
    "blocks.0.attn.W_V": lambda V, K, dm, dh: (1, dm, dh),
    "blocks.0.attn.W_O": lambda V, K, dm, dh: (1, dh, dm),
    "blocks.0.attn.b_Q": lambda V, K, dm, dh: (1, dh),
    "blocks.0.attn.b_K": lambda V, K, dm, dh: (1, dh),
    "blocks.0.attn.b_V": lambda V, K, dm, dh: (1, dh),
    "blocks.0.attn.b_O": lambda V, K, dm, dh: (dm,),
    "unembed.W_U": lambda V, K, dm, dh: (dm, V),
    "unembed.b_U": lambda V, K, dm, dh: (V,),
}


def gamma(n: int) -> F:
    return n * U / (1 - n * U)


def inv_sqrt_lo(d: int, bits: int = 200) -> F:
    """A lower bound of 1/sqrt(d) within 2^-200: using it keeps the reference at or below the exact
    documented bound, so `checker >= reference` stays a valid soundness check."""
    return F(math.isqrt((1 << (2 * bits)) // d), 1 << bits)


class Overflow(Exception):
    pass


# ---------------------------------------------------------------- the reference

def ref_alpha(es: F, spread: F, k: int) -> F:
    x = U * spread
    if x > F(1, 4) or es > F(1, 8):
        raise Overflow("softmax preconditions")
    g = gamma(k - 1)
    rho_hi = (1 + EXP_REL) / (1 - x)              # >= (1 + 2^-21) e^x
    rho_lo = (1 - EXP_REL) * (1 - x)              # <= (1 - 2^-21) e^-x
    hi = rho_hi * (1 + gamma(2)) / ((rho_lo - k * ETA) * (1 - g)) / (1 - 2 * es)
    lo = rho_lo * (1 - gamma(2)) / ((rho_hi + k * ETA) * (1 + g)) * (1 - 2 * es)
    return max(hi - 1, 1 - lo)


class Ref:
    """The documented bound, exactly. `magnitudes` collects every bounded magnitude."""

    def __init__(self, state: dict[str, np.ndarray], full_z_in_logit_rounding: bool = False) -> None:
        self.full = full_z_in_logit_rounding
        self.mags: list[F] = []
        fr = lambda a: [fr(x) for x in a] if isinstance(a, (list, np.ndarray)) else F(float(a))
        t = {n: fr(np.asarray(a, dtype=np.float32)) for n, a in state.items()}
        self.E, self.P = t["embed.W_E"], t["pos_embed.W_pos"]
        self.WQ, self.WK, self.WV, self.WO = (t[f"blocks.0.attn.W_{n}"][0] for n in "QKVO")
        self.bQ, self.bK, self.bV = (t[f"blocks.0.attn.b_{n}"][0] for n in "QKV")
        self.bO, self.WU, self.bU = t["blocks.0.attn.b_O"], t["unembed.W_U"], t["unembed.b_U"]
        self.V, self.K, self.dm, self.dh = len(self.E), len(self.P), len(self.E[0]), len(self.WQ[0])

    def note(self, *xs: F) -> None:
        self.mags.extend(xs)

    def affine(self, x, W, b, plus=None):
        """x = (A, R, M) lists; returns (A, R, M) of x W + b (+ plus)."""
        xa, xr, xm = x
        n = len(W) + 1 + (plus is not None)
        A, R, M = [], [], []
        for c in range(len(b)):
            a = sum(xa[r] * abs(W[r][c]) for r in range(len(W))) + abs(b[c])
            s = sum(xm[r] * abs(W[r][c]) for r in range(len(W))) + abs(b[c])
            e = sum(xr[r] * abs(W[r][c]) for r in range(len(W)))
            if plus is not None:
                a, s, e = a + plus[0][c], s + plus[2][c], e + plus[1][c]
            e += gamma(n) * s + n * ETA
            self.note(s, a + e)
            A.append(a), R.append(e), M.append(a + e)
        return A, R, M

    def resid(self, t: int, i: int):
        A = [abs(self.E[t][r] + self.P[i][r]) for r in range(self.dm)]
        R = [U * a for a in A]
        M = [a + e for a, e in zip(A, R)]
        self.note(*M)
        return A, R, M

    def ov_abs_max(self) -> list[F]:
        best = [F(0)] * self.V
        for t in range(self.V):
            for i in range(self.K):
                res = [self.E[t][r] + self.P[i][r] for r in range(self.dm)]
                v = [sum(res[r] * self.WV[r][c] for r in range(self.dm)) + self.bV[c] for c in range(self.dh)]
                o = [sum(v[c] * self.WO[c][r] for c in range(self.dh)) for r in range(self.dm)]
                for j in range(self.V):
                    best[j] = max(best[j], abs(sum(o[r] * self.WU[r][j] for r in range(self.dm))))
        return best

    def bound(self) -> tuple[list[list[F]], list[F]]:
        """(E [V][V], alpha [V]); raises Overflow where the checker must raise Reject."""
        V, K, dh = self.V, self.K, self.dh
        c = inv_sqrt_lo(dh)
        res = {(t, i): self.resid(t, i) for t in range(V) for i in range(K)}
        keys = {ti: self.affine(r, self.WK, self.bK) for ti, r in res.items()}
        vals = {ti: self.affine(r, self.WV, self.bV) for ti, r in res.items()}
        VA, VR, VM = ([max(v[s][c] for v in vals.values()) for c in range(dh)] for s in range(3))
        ovmax = self.ov_abs_max()
        E, alphas = [], []
        for q in range(V):
            last = res[q, K - 1]
            qa, qr, qm = self.affine(last, self.WQ, self.bQ)
            es_q, size_q = F(0), F(0)
            for ka, kr, km in keys.values():
                dot_err = (sum(qr[c] * km[c] + qa[c] * kr[c] for c in range(dh))
                           + gamma(dh) * sum(qm[c] * km[c] for c in range(dh)) + dh * ETA)
                self.note(sum(qm[c] * km[c] for c in range(dh)))
                size = sum(qa[c] * ka[c] for c in range(dh))
                es = c * (dot_err * (1 + gamma(3)) + size * gamma(3)) + ETA
                es_q, size_q = max(es_q, es), max(size_q, size)
            spread = 2 * (c * size_q + es_q)
            self.note(spread)
            alpha = ref_alpha(es_q, spread, K)
            weight = alpha + K * SOFT_ABS
            mass = 1 + weight
            zr = [mass * VR[c] + gamma(K) * mass * VM[c] + K * ETA for c in range(dh)]
            zm = [VA[c] + weight * VM[c] + zr[c] for c in range(dh)]
            self.note(*zm)
            oa, orr, om = self.affine((VA, zr, zm), self.WO, self.bO, plus=last)
            if self.full:  # |out32| also includes sum_i (a32_i - a_i) v_i W_O, which R_out leaves out
                om = [om[r] + weight * sum(VM[c] * abs(self.WO[c][r]) for c in range(dh)) for r in range(self.dm)]
            la, lr, lm = self.affine((oa, orr, om), self.WU, self.bU)
            E.append([lr[j] + weight * ovmax[j] for j in range(V)])
            alphas.append(alpha)
        if max(self.mags) >= LIMIT:
            raise Overflow("magnitude")
        return E, alphas


# ---------------------------------------------------------------- models

def model(V: int, K: int, dm: int, dh: int, seed: int, scale: float = 1.0, bias: float = 0.5) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in SHAPES.items():
        s = (bias if scale else 0.0) if ".b_" in name else scale / math.sqrt(dm)
        out[name] = (rng.normal(size=shape(V, K, dm, dh)) * s).astype(np.float32)
    return out


def weights(state: dict) -> Weights:
    V, dm = state["embed.W_E"].shape
    return Weights("", {k: np.asarray(v, dtype=np.float32) for k, v in state.items()},
                   state["pos_embed.W_pos"].shape[0], V, dm, state["blocks.0.attn.W_Q"].shape[-1])


MODELS = {  # (V, K, d_model, d_head, seed, weight scale)
    "V3K2": (3, 2, 2, 2, 1, 1.0),
    "V4K3": (4, 3, 3, 2, 2, 1.0),
    "V4K3dh3": (4, 3, 4, 3, 3, 1.0),
    "V3K3dh4": (3, 3, 2, 4, 4, 1.0),
    "V4K2large": (4, 2, 3, 2, 5, 12.0),   # scores of ~1e5: alpha ~ 0.07, the attention term dominates E
    "V3K3large": (3, 3, 2, 3, 6, 8.0),    # alpha ~ 0.03
    "V4K1": (4, 1, 3, 2, 7, 1.0),
    "zeros": (3, 2, 2, 2, 0, 0.0),        # all weights and biases 0: E is made of the n eta underflow terms
}


def checker_E(state: dict, ovmax) -> np.ndarray:
    return logit_error(state, np.array([float(x) for x in ovmax]))


def assert_close(got: np.ndarray, ref: list[list[F]], ov: list[F]) -> None:
    """reference <= checker <= reference (1 + TOL) + ALPHA_ABS max|OV[., ., j]| on every (q, j): alpha is
    1 - lo or hi - 1 with lo, hi ~ 1, so its float64 value carries an absolute (not relative) error."""
    for q, row in enumerate(ref):
        for j, r in enumerate(row):
            g = F(float(got[q, j]))
            assert g >= r, f"E[{q}, {j}] = {float(g)!r} < reference {float(r)!r}: the checker shrinks the bound"
            assert g <= r * F(1 + TOL) + ALPHA_ABS * ov[j], f"E[{q}, {j}] = {float(g)!r} > reference {float(r)!r}"


def ov_upper(ref: Ref) -> list[F]:
    """max |OV| rounded up to a float64, as the checker's caller passes it."""
    return [F(float(np.nextafter(float(x), np.inf))) for x in ref.ov_abs_max()]


@pytest.mark.parametrize("name", MODELS)
def test_logit_error_matches_reference(name):
    V, K, dm, dh, seed, scale = MODELS[name]
    state = model(V, K, dm, dh, seed, scale)
    ref = Ref(state, CHECKER_KEEPS_FULL_Z_IN_OUT)
    ov = ov_upper(ref)
    ref.ov_abs_max = lambda: ov  # the same OV maxima as the checker is given
    E_ref, alphas = ref.bound()
    assert_close(checker_E(state, ov), E_ref, ov)
    assert np.array_equal(logit_error(state, np.array([float(x) for x in ov])), checker_E(state, ov))
    if "large" in name:  # the attention error is really exercised
        assert max(alphas) > 1e-2


def test_float32_paths_are_direct_plus_minus_E():
    state = model(4, 3, 3, 2, 8, 1.0)
    w = weights(state)
    p = float32_paths(w)
    d = exact_paths(w).direct
    fr = lambda x: [[F(int(n)) * F(2) ** x.e for n in row] for row in x.n]
    direct, win, rival = fr(d), fr(p.win), fr(p.rival)
    ref = Ref(state, CHECKER_KEEPS_FULL_Z_IN_OUT)
    E_ref, _ = ref.bound()
    ov = ref.ov_abs_max()
    for q in range(4):
        for j in range(4):
            slack = rival[q][j] - direct[q][j]
            assert win[q][j] == direct[q][j] - slack
            assert F(float(slack)) == slack                   # a float64 E, used exactly
            assert E_ref[q][j] <= slack <= E_ref[q][j] * F(1 + TOL) + 2 * ALPHA_ABS * ov[j]
    assert fr(p.direct) == direct


@pytest.mark.parametrize("k", [1, 2, 3, 7])
@pytest.mark.parametrize("es, spread", [(0.0, 0.0), (1e-7, 3.0), (1e-3, 1e3), (0.05, 2.0 ** 20),
                                        (0.125, 2.0 ** 22 * (1 - 2 ** -40)), (2.0 ** -30, 2.0 ** 22 * (1 - 2 ** -40)),
                                        (2.0 ** -30, 2.0 ** 22 * (1 - 2 ** -53))])  # u spread rounds up to 1/4
def test_attention_error_matches_reference(es, spread, k):
    got = attention_error(np.array([es]), np.array([spread]), k)[0]
    ref = ref_alpha(F(es), F(spread), k)
    assert ref <= F(float(got)) <= ref * F(1 + TOL) + ALPHA_ABS


@pytest.mark.parametrize("es, spread", [(0.125 * (1 + 2 ** -50), 1.0), (0.0, 2.0 ** 22 * (1 + 2 ** -40)),
                                        (0.2, 1.0), (0.0, 2.0 ** 23)])
def test_attention_error_refuses_outside_preconditions(es, spread):
    with pytest.raises(Reject):
        attention_error(np.array([0.0, es]), np.array([1.0, spread]), 3)


def test_score_spread_precondition_raises():
    state = model(3, 2, 2, 2, 9, 1.0)
    state["blocks.0.attn.W_Q"] *= np.float32(2.0 ** 14)   # scores ~2^24: u spread > 1/4
    state["blocks.0.attn.W_K"] *= np.float32(2.0 ** 14)
    with pytest.raises(Overflow):
        Ref(state).bound()
    with pytest.raises(Reject):
        checker_E(state, [1.0] * 3)


def _zero_model_with_bU(value: float) -> dict:
    state = {n: np.zeros(s(3, 2, 2, 2), dtype=np.float32) for n, s in SHAPES.items()}
    state["unembed.b_U"][:] = np.float32(value)
    return state


def test_overflow_threshold():
    """A logit bias of 2^126 makes a magnitude reach 2^126: refused; one just below the threshold
    (after the gamma(n) growth of the logits' bound) is accepted, and agrees with the reference."""
    with pytest.raises(Reject):
        checker_E(_zero_model_with_bU(2.0 ** 126), [0.0] * 3)
    ok = _zero_model_with_bU(2.0 ** 125 * 1.99)
    ref = Ref(ok)
    E_ref, _ = ref.bound()
    assert max(ref.mags) > 2 ** 125
    assert_close(checker_E(ok, [0.0] * 3), E_ref, [F(0)] * 3)
    # an intermediate (the values) overflowing without reaching the logits' bias also refuses
    big = model(3, 2, 2, 2, 10, 1.0)
    big["blocks.0.attn.W_V"][:] = np.float32(2.0 ** 126)
    with pytest.raises(Overflow):
        Ref(big).bound()
    with pytest.raises(Reject):
        checker_E(big, [0.0] * 3)


@pytest.mark.parametrize("name", ["V3K2", "V4K2large"])
def test_logit_rounding_keeps_full_error(name):
    """The documented argument: |out32| <= M_out + weight max|v| |W_O| feeds the logits' gamma term."""
    V, K, dm, dh, seed, scale = MODELS[name]
    state = model(V, K, dm, dh, seed, scale)
    ref = Ref(state, full_z_in_logit_rounding=True)
    ov = ov_upper(ref)
    ref.ov_abs_max = lambda: ov
    E_ref, _ = ref.bound()
    got = checker_E(state, ov)
    assert all(F(float(got[q, j])) >= E_ref[q][j] for q in range(V) for j in range(V))


def test_gamma_precondition():
    from checker.float32 import gamma as checker_gamma
    for n in (2 ** 24 + 1, 2 ** 24 + 2, 2 ** 25):
        try:
            g = checker_gamma(n)
        except Reject:
            continue
        assert g == math.inf, f"gamma({n}) = {g}"
