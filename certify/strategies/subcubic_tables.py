"""Float64 tables of the subcubic prover: those every variant shares (computed once per model) and
the per-option bounds of each variant axis, mirroring checker/rules/subcubic_bounds.py.

The checker recomputes all of this exactly; here everything is float64, and each bound is enlarged
by a small relative safety factor where the checker's exact value may exceed the float one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce

import numpy as np

from certify.paths import FloatModel

SAFETY = 1 + 1e-9       # residual bounds: the checker's exact value may be a rounding larger
SVD_SAFETY = 1 + 1e-6   # the checker's interval powers widen a little more
SVD_POWER = 64          # k in tr((G H)^k)^(1/2k); the checker uses the same (subcubic_bounds.SVD_POWER)


@dataclass
class Attn:
    """The EQKE split of one attention option: beta EQKE[q, t] = u[q] v[t] + u2[q] w2[t] + qres[q].kres[t],
    and the factors qres = eq1 @ wq, kres = E @ wk2 of the residual (checker: subcubic._Tables)."""
    b: np.ndarray
    beta: float
    u: np.ndarray
    v: np.ndarray
    u2: np.ndarray
    w2: np.ndarray
    qres: np.ndarray
    kres: np.ndarray
    wq: np.ndarray
    wk2: np.ndarray
    b2: np.ndarray | None = None
    eq1: np.ndarray | None = None      # the residual chain's outer factors when not T.eq1 / T.E (attn=svd)
    ek: np.ndarray | None = None
    v_right: np.ndarray | None = None  # attn=svd: the right (key-side) singular vector hint
    approx: np.ndarray | None = None   # attn=svd: beta * (EQKE - residual), V x V
    vmax: np.ndarray = field(init=False)
    vmin: np.ndarray = field(init=False)
    w2max: np.ndarray = field(init=False)
    w2min: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.vmax, self.vmin = np.maximum.accumulate(self.v), np.minimum.accumulate(self.v)
        self.w2max, self.w2min = np.maximum.accumulate(self.w2), np.minimum.accumulate(self.w2)


@dataclass
class Shared:
    """Everything the variants share; build with shared(m)."""
    V: int
    K: int
    s: float
    E: np.ndarray
    W_EP: np.ndarray       # E + P[K-1]
    U: np.ndarray
    bias: np.ndarray       # b_O U + b_U
    Q: np.ndarray
    Km: np.ndarray
    W_K: np.ndarray
    wq_aug: np.ndarray     # [W_Q; b_Q]: Q = [W_EP | 1] @ wq_aug
    eqkp: np.ndarray
    D: np.ndarray
    eterm: np.ndarray
    pterm: np.ndarray
    ptmax: np.ndarray
    prefg: np.ndarray      # [m, g-1] = max_{x <= m-g} eterm[x, m] (0 where g > m)
    gmin_nq: np.ndarray
    gmin_all: np.ndarray
    attn: dict = field(default_factory=dict)
    eqke: np.ndarray | None = None
    evou: np.ndarray | None = None
    pvou: np.ndarray | None = None

    @property
    def eq1(self) -> np.ndarray:
        return np.hstack([self.W_EP, np.ones((self.V, 1))])

    def eqke_full(self) -> np.ndarray:
        if self.eqke is None:
            self.eqke = self.Q @ self.Km.T
        return self.eqke


def shared(m: FloatModel) -> Shared:
    t, V, K = m.t, m.d_vocab, m.k
    E, P = t["embed.W_E"], t["pos_embed.W_pos"]
    U, b_U = m.unembed()  # less a common logit offset: every quantity below is a logit difference
    W_EP = E + P[-1]
    W_Q, W_K = t["blocks.0.attn.W_Q"][0], t["blocks.0.attn.W_K"][0]
    Q = W_EP @ W_Q + t["blocks.0.attn.b_Q"][0]
    Km = E @ W_K
    eqkp = Q @ (P @ W_K + t["blocks.0.attn.b_K"][0]).T
    OU = t["blocks.0.attn.W_O"][0] @ U
    evou = E @ t["blocks.0.attn.W_V"][0] @ OU
    pvou = (P @ t["blocks.0.attn.W_V"][0] + t["blocks.0.attn.b_V"][0]) @ OU
    bias = t["blocks.0.attn.b_O"] @ U + b_U
    eterm = evou.max(1)[:, None] - evou                                  # [x, m]
    pterm = pvou.max(1)[:, None] - pvou                                  # [i, m]
    pref = np.maximum.accumulate(eterm, axis=0)
    idx = np.arange(V)[:, None] - np.arange(1, V + 1)[None, :]           # m - g
    prefg = np.where(idx >= 0, pref[np.maximum(idx, 0), np.arange(V)[:, None]], 0.0)
    ov = evou[:, None, :] + pvou[None, :, :]                             # [m, i, j]
    diag = np.arange(V)
    own = ov[diag, :, diag]
    ov[diag, :, diag] = -np.inf
    good_ov = own - ov.max(axis=2)
    return Shared(V, K, 1 / np.sqrt(m.d_head), E, W_EP, U, bias, Q, Km, W_K,
                  np.vstack([W_Q, t["blocks.0.attn.b_Q"][0][None]]), eqkp, W_EP @ U + bias,
                  eterm, pterm, pterm[:K - 1].max(0) if K > 1 else np.zeros(V), prefg,
                  good_ov[:, :K - 1].min(1) if K > 1 else np.full(V, np.nan), good_ov.min(1),
                  evou=evou, pvou=pvou)


def _nonzero(b: np.ndarray) -> np.ndarray:
    """The checker needs b.b > 0; any direction is sound, a zero one is replaced by a unit vector."""
    if b @ b > 0:
        return b
    out = np.zeros_like(b)
    out[0] = 1.0
    return out


def attn_split(T: Shared, attn: str) -> Attn:
    """The EQKE split for an attention option (cached on T)."""
    if attn in T.attn:
        return T.attn[attn]
    V = T.V
    b = _nonzero(T.Q.mean(axis=0))
    beta = b @ b
    u, v = T.Q @ b, T.Km @ b
    kres = beta * T.Km - np.outer(v, b)
    wk2 = T.W_K @ (beta * np.eye(len(b)) - np.outer(b, b))
    wq = T.wq_aug.copy()
    if attn != "plain":
        wq[-1] -= b
    qres = T.Q - (0 if attn == "plain" else b)
    u2 = w2 = np.zeros(V)
    b2 = None
    if attn == "rank2-query":  # second query direction: the top principal axis of the centred queries
        b2 = _nonzero(np.linalg.svd(qres, full_matrices=False)[2][0])
        beta2 = b2 @ b2
        u2, w2 = qres @ b2, kres @ b2
        qres = beta2 * qres - np.outer(u2, b2)
        wq = wq @ (beta2 * np.eye(len(b)) - np.outer(b2, b2))
        u, beta = u * beta2, beta * beta2
    T.attn[attn] = Attn(b, beta, u, v, u2, w2, qres, kres, wq, wk2, b2)
    return T.attn[attn]


# ------------------------------------------------------------------ direct path (eupu)

def eupu_offset(T: Shared, eupu: str) -> np.ndarray | None:
    """The query offset c of the factored direct-path options (None for the options using D)."""
    if eupu == "mean-query-max-diff":
        return T.W_EP.mean(axis=0)
    if eupu == "svd-query-max-diff":  # the mean query projected on the top right singular vector
        v1 = np.linalg.svd(T.W_EP, full_matrices=False)[2][0]
        return (T.W_EP.mean(axis=0) @ v1) * v1
    if eupu == "factored-max-diff":
        return np.zeros(T.W_EP.shape[1])
    return None


def dpen(T: Shared, eupu: str, offset: np.ndarray | None = None) -> np.ndarray:
    """dpen[q, m] >= max_{j != m} D[q, j] - D[q, m] (checker: subcubic_bounds.dpen_*)."""
    D = T.D
    if eupu == "exact":  # the row's best, or its second best where m is the (unique) best
        ranked = np.sort(D, axis=1)
        best, second = ranked[:, -1:], ranked[:, -2:-1]
        return np.where(D == best, second, best) - D
    if eupu in ("max-diff", "global-max-diff"):
        spans = D.max(1) - D.min(1)
        if eupu == "global-max-diff":
            spans = np.full_like(spans, spans.max())
        return np.repeat(spans[:, None], D.shape[1], axis=1)
    c = eupu_offset(T, eupu) if offset is None else offset
    dm = c @ T.U + T.bias
    ranked = np.sort(dm)
    dmpen = np.where(dm == ranked[-1], ranked[-2], ranked[-1]) - dm
    rs = np.abs(T.W_EP - c) @ (T.U.max(1) - T.U.min(1))
    return (rs[:, None] + dmpen[None, :]) * SAFETY


# ------------------------------------------------------------------ EQKE residual (err)

def _rowspan(M: np.ndarray) -> np.ndarray:
    return M.max(axis=-1) - M.min(axis=-1)


def _split(L: np.ndarray, R: np.ndarray, mean: bool) -> np.ndarray:
    """Bound of the row spans of L @ R from the factors: |L| @ rowspan(R), optionally about L's mean row."""
    if not mean:
        return np.abs(L) @ _rowspan(R)
    c = L.mean(axis=0)
    return np.ptp(c @ R) + np.abs(L - c) @ _rowspan(R)


def _recursive(ms: list[np.ndarray], mean: bool, mean_rest: bool) -> np.ndarray:
    if len(ms) == 1:
        return _rowspan(ms[0])
    A, rest = ms[0], ms[1:]
    inner = _recursive(rest, mean_rest, mean_rest)
    if not mean:
        return np.abs(A) @ inner
    c = A.mean(axis=0)
    return np.ptp(reduce(np.matmul, rest, c)) + np.abs(A - c) @ inner


def svd_bound(qres: np.ndarray, kres: np.ndarray) -> float:
    """sqrt(2) (sum_i sigma_i^(2k))^(1/2k) >= sqrt(2) sigma_1(qres kres^T), k = SVD_POWER."""
    if not qres.any() or not kres.any():
        return 0.0
    r1, r2 = np.linalg.qr(qres, mode="r"), np.linalg.qr(kres, mode="r")
    sig = np.linalg.svd(r1 @ r2.T, compute_uv=False)
    if sig[0] == 0:
        return 0.0
    return float(np.sqrt(2) * sig[0] * np.sum((sig / sig[0]) ** (2 * SVD_POWER)) ** (1 / (2 * SVD_POWER)))


def spread(T: Shared, a: Attn, err: str) -> np.ndarray:
    """spread[q] >= max_{x, m} |qres[q].(kres[x] - kres[m])| (checker: subcubic_bounds.spread)."""
    qres, kres, V = a.qres, a.kres, T.V
    if err == "exact-eqke":
        return np.zeros(V)
    if err == "exact-maxdiff":
        return _rowspan(qres @ kres.T) * SAFETY
    if err == "svd":
        return np.full(V, svd_bound(qres, kres) * SVD_SAFETY)
    maxdiff = _split(qres, kres.T, False)
    if err in ("maxdiff", "global-maxdiff", "min-maxdiff-l2"):
        out = maxdiff if err != "global-maxdiff" else np.full(V, maxdiff.max())
        if err == "min-maxdiff-l2":
            out = np.minimum(out, _l2(qres, kres))
        return out * SAFETY
    if err == "l2":
        return _l2(qres, kres) * SAFETY
    eq1, ek = (T.eq1 if a.eq1 is None else a.eq1), (T.E if a.ek is None else a.ek)
    chain = [eq1, a.wq, a.wk2.T, ek.T]
    mean = err.startswith("mean")
    if err.endswith("subproduct"):
        m1 = a.wq @ a.wk2.T
        out = np.minimum.reduce([_split(eq1, m1 @ ek.T, mean), _split(qres, kres.T, mean),
                                 _split(qres @ a.wk2.T, ek.T, mean)])
    elif err.endswith("recursive"):
        out = _recursive(chain, mean, err == "mean-recursive-maxdiff-recursive")
    elif err == "mean-maxdiff":
        out = _split(qres, kres.T, True)
    else:
        raise ValueError(f"unknown err option {err!r}")
    return out * SAFETY


def _l2(qres: np.ndarray, kres: np.ndarray) -> np.ndarray:
    dev = 2 * kres - (kres.max(0) + kres.min(0))
    return np.linalg.norm(qres, axis=1) * np.linalg.norm(dev, axis=1).max() * (1 + 1e-12)
