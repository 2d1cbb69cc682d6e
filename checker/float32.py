"""A rigorous bound on how far a float32 execution of the model can move each logit.

The "float32" semantics (docs/semantics.md) counts an input only if every float32 execution
conforming to the error model below classifies it correctly. With E[q, j] >= |L32_j - L_j| for every
input whose query token is q (L the exact logits, L32 any conforming float32 evaluation),
    L_m - L_j > E[q, m] + E[q, j]   for all j != m   implies   L32_m > L32_j for all j != m,
and also L_m > L_j. So the rules decide the exact-real question with the direct path replaced by
DIRECT - E for the answer m and DIRECT + E for every rival j (Paths.win / Paths.rival).

Error model (u = 2**-24, eta = 2**-149, gamma(n) = n u / (1 - n u)), the standard one of Higham's
"Accuracy and Stability of Numerical Algorithms", ch. 2-3, extended by gradual underflow:
  * each product and quotient is fl(x op y) = (x op y)(1 + d) + h, |d| <= u, |h| <= eta/2;
    additions have no h (Hauser: a subnormal sum is exact); no overflow (checked below);
  * a dot product of n terms (a bias, and for the attention output the residual, counting as one),
    in any order, with or without FMA:
    |fl(x.y) - x.y| <= gamma(n) sum |x_k y_k| + n eta;
  * scaling by 1/sqrt(d_head) (via a rounded sqrt, optionally a rounded reciprocal): relative gamma(3);
  * softmax with the maximum subtracted: a_i = fl(exp32(fl(s_i - M)) / fl(sum_l exp32(...))) (or times
    a rounded reciprocal of the sum), where
    |exp32(x) - e^x| <= EXP_REL e^x + eta for x <= 0.
Every quantity below is a float64 upper bound computed with upward rounding (interval.up) on
non-negative operands, so each step over-approximates its exact real counterpart.
"""
from __future__ import annotations

from collections import namedtuple
from dataclasses import replace

import numpy as np

from checker.dyadic import Dyadic
from checker.errors import Reject
from checker.interval import down, enclose_ints, inv_sqrt, up
from checker.ops import counted
from checker.paths import Paths, exact_paths, named_weights
from checker.safetensors import Weights

U = 2.0 ** -24
ETA = 2.0 ** -149
EXP_REL = 2.0 ** -21          # 4 float32 ulps at 1: generous for glibc, SLEEF, PyTorch's vector exp
SOFT_ABS = 2.0 ** -146        # absolute softmax slack from underflow (<= 6 eta, see attention_error)
MAX_MAGNITUDE = 2.0 ** 126    # every bounded intermediate must stay below float32 overflow


def gamma(n: int) -> float:
    """n u / (1 - n u), rounded up; the bound needs n u < 1 and the softmax argument gamma <= 1/3."""
    if n * U > 0.25:
        raise Reject(f"a sum of {n} terms is too long for the float32 error model")
    return float(up(n * U / down(1 - n * U)))


class _Work:
    """Upward-rounded arithmetic on non-negative float64 arrays (Counted: their ops count),
    recording every magnitude bound so that float32 overflow can be excluded at the end."""

    def __init__(self) -> None:
        self.seen = []

    def dot(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Upper bound of the exact a @ b for non-negative a [..., n] and b [n, p]: one contraction
        index at a time, each product and partial sum rounded upward (element-wise: no BLAS)."""
        acc = np.zeros(a.shape[:-1] + b.shape[1:])
        with np.errstate(over="ignore"):  # inf stays an upper bound and fails the final check
            for k in range(a.shape[-1]):
                acc = up(acc + up(a[..., k, None] * b[k]))
        return acc

    def sum(self, *xs) -> np.ndarray:
        acc = xs[0]
        for x in xs[1:]:
            acc = up(np.add(acc, x))
        return acc

    def mul(self, a, b) -> np.ndarray:
        return up(np.multiply(a, b))

    def bounds(self, a: np.ndarray, e: np.ndarray) -> "_Bounds":
        return _Bounds(a, e, self.note(self.sum(a, e)))

    def note(self, magnitude: np.ndarray) -> np.ndarray:
        """Record a magnitude bound (float32 overflow is excluded over all of them at the end)."""
        self.seen.append(float(np.max(magnitude, initial=0.0)))
        return magnitude

    def affine(self, x: "_Bounds", W: np.ndarray, b: np.ndarray, plus: "_Bounds | None" = None) -> "_Bounds":
        """y = x W + b (+ plus), summed as one dot product of n terms in any order (b and plus
        count one term each): |y32 - y| <= e_x |W| + e_plus + gamma(n) (|x32| |W| + |b| + |plus32|)
        + n eta."""
        n = W.shape[0] + 1 + (plus is not None)
        aW, ab = np.abs(W), np.abs(b)
        # noted: the magnitudes bound every partial sum of the dot product
        size = self.note(self.sum(self.dot(x.m, aW), ab, *([plus.m] if plus else [])))
        e = self.sum(self.dot(x.e, aW), *([plus.e] if plus else []), self.mul(gamma(n), size), n * ETA)
        return self.bounds(self.sum(self.dot(x.a, aW), ab, *([plus.a] if plus else [])), e)


# Bounds of an intermediate x of the exact model and its float32 value x32: a >= |x|, e >= |x32 - x|,
# m = up(a + e) >= |x32|.
_Bounds = namedtuple("_Bounds", "a e m")


def attention_error(es: np.ndarray, spread: np.ndarray, k: int) -> np.ndarray:
    """alpha with |a32_i - a_i| <= alpha a_i + SOFT_ABS at every position, given score errors
    <= es and a spread (max - min of the float32 scores) <= spread, per query.

    With s32 = s + D, |D| <= es: softmax(s32)_i / a_i lies in [e^(-2 es), e^(2 es)]. The argument
    fl(s32_i - M) is off by <= u |s32_i - M| <= u spread, and exp32 adds its relative error, so each
    exponential is e^(s32_i - M) r_i (+- eta) with r_i in [rho_lo, rho_hi]; the sum of K positive
    terms has relative error gamma(K-1), the division (or product with a rounded reciprocal)
    gamma(2) (+ eta/2). Since the largest term is e^0 = 1,
    the sum is >= 1, which turns the absolute eta terms into <= 6 eta <= SOFT_ABS. Uses
    e^x <= 1/(1-x) and e^-x >= 1-x for 0 <= x < 1 (no exp needed).
    """
    x = up(U * spread)
    if not (np.all(x <= 0.25) and np.all(es <= 0.125)):
        raise Reject("the scores span too wide a range for the float32 error model")
    g = gamma(k - 1) if k > 1 else 0.0
    rho_hi = up((1 + EXP_REL) / down(1 - x))
    rho_lo = down((1 - EXP_REL) * down(1 - x))
    grow = up(1 / down(1 - 2 * es))                              # >= e^(2 es)
    shrink = down(1 - 2 * es)                                    # <= e^(-2 es)
    hi = up(grow * up(up(rho_hi * (1 + gamma(2))) / down(down(rho_lo - k * ETA) * (1 - g))))
    lo = down(shrink * down(down(rho_lo * (1 - gamma(2))) / up(up(rho_hi + k * ETA) * (1 + g))))
    return np.maximum(up(hi - 1), up(1 - lo))


def logit_error(t: dict[str, np.ndarray], ov_abs_max: np.ndarray) -> np.ndarray:
    """E[q, j] >= |L32_j - L_j| for every input with query token q (float64 [V, V]).

    t: the TransformerLens tensors (float32, or exact float64 copies); ov_abs_max[j] >=
    max_{t, i} |OV[t, i, j]| (the path term of checker/paths.py). Raises Reject when an
    intermediate could overflow float32 or the softmax bound does not apply.
    """
    f = named_weights(t, lambda a: counted(np.asarray(a, dtype=np.float64)))
    w = _Work()
    V, K, dh = f.W_E.shape[0], f.W_pos.shape[0], f.W_Q.shape[-1]
    ra = up(np.abs(f.W_E[:, None, :] + f.W_pos[None, :, :]))     # [V, K, d_model] >= |W_E[t] + W_pos[i]|
    resid = w.bounds(ra, w.mul(U, ra))                           # one float32 addition
    last = w.bounds(resid.a[:, K - 1], resid.e[:, K - 1])        # [V, d_model], the query position
    qv = w.affine(last, f.W_Q, f.b_Q)                            # [V, dh]
    key = w.affine(resid, f.W_K, f.b_K)                          # [V, K, dh]
    val = w.affine(resid, f.W_V, f.b_V)
    # s = (q . k) c with c = 1/sqrt(d_head); s32 = fl(q32 . k32) c (1 + gamma(3)) (+ eta), so
    # |s32 - s| <= c [(|q32 - q| |k32| + |q| |k32 - k| + gamma(dh) |q32| |k32| + dh eta)(1 + gamma(3))
    #                 + |q| |k| gamma(3)] + eta
    km, ke, ka = (x.reshape(V * K, dh).T for x in (key.m, key.e, key.a))
    c = float(inv_sqrt(dh)[1])
    mags = w.note(w.dot(qv.m, km))
    dot_err = w.sum(w.dot(qv.e, km), w.dot(qv.a, ke), w.mul(gamma(dh), mags), dh * ETA)
    size = w.dot(qv.a, ka)                                       # >= |q . k|, [V, V*K]
    es = w.sum(w.mul(c, w.sum(w.mul(dot_err, 1 + gamma(3)), w.mul(size, gamma(3)))), ETA)
    es_q = es.max(axis=1)                                        # per query: the worst key
    spread = w.note(w.mul(2, w.sum(w.mul(c, size.max(axis=1)), es_q)))  # >= max s32 - min s32
    alpha = attention_error(es_q, spread, K)                     # [V]
    # z32 - z = sum_i (a32_i - a_i) v_i + sum_i a32_i (v32_i - v_i) + (z32 - sum_i a32_i v32_i). The first
    # part reaches the logits as sum_i (a32_i - a_i) OV[t_i, i] exactly (its later roundings are in the
    # roundings of z32's propagation), so it is bounded by (alpha + K SOFT_ABS) max |OV| at the end;
    # the rest is <= (1 + alpha + K SOFT_ABS) max e_v + gamma(K) (1 + alpha + K SOFT_ABS) max |v32| + K eta.
    vm, ve, va = (x.reshape(V * K, dh).max(axis=0) for x in (val.m, val.e, val.a))
    weight = w.sum(alpha, K * SOFT_ABS)[:, None]                 # [V, 1] >= sum_i |a32_i - a_i|
    mass = w.sum(1.0, weight)                                    # >= sum_i a32_i
    z_rest = w.sum(w.mul(mass, ve), w.mul(w.mul(gamma(K), mass), vm), K * ETA)
    # magnitude va + weight max|v| >= |z| + |sum_i (a32_i - a_i) v_i|, so later steps' rounding terms
    # (which use a + e >= |x32|) see the whole of z32; only the error part leaves that term out
    z = w.bounds(w.sum(va, w.mul(weight, vm)), z_rest)
    out = w.affine(z, f.W_O, f.b_O, plus=last)                   # resid + z W_O + b_O
    logits = w.affine(out, f.W_U, f.b_U)
    total = w.sum(logits.e, w.mul(weight, np.asarray(ov_abs_max, dtype=np.float64)[None, :]))
    if not (np.all(np.isfinite(total)) and all(s < MAX_MAGNITUDE for s in w.seen)):
        raise Reject("a float32 intermediate could overflow; no float32 claim is possible")
    return total


def ov_abs_max(p: Paths) -> np.ndarray:
    """[j] >= max_{t, i} |OV[t, i, j]|, from the enclosure of the exact OV path term."""
    lo, hi = enclose_ints(p.ov.n, p.ov.e)
    return np.maximum(-lo, hi).max(axis=(0, 1))


def float32_paths(w: Weights) -> Paths:
    """Exact paths with win = DIRECT - E and rival = DIRECT + E, E = logit_error (exactly: E is a
    float64 array, hence dyadic)."""
    p = exact_paths(w)
    slack = Dyadic.from_floats(logit_error(w.tensors, ov_abs_max(p)))
    return replace(p, win=p.direct - slack, rival=p.direct + slack)
