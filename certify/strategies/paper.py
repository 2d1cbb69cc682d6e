"""The paper's 100 subcubic variants, run as the paper defines them (Gross et al. 2024, their code's
LargestWrongLogitQuadraticConfig), named by the paper's own option names:
    paper:EUPU/ATTENTION/ERROR,  e.g.  paper:mean_query+max_diff/mean_query+diff/max_diff

The paper's logit reasoning (checker/rules/subcubic.py, `logit=paper`, docs/soundness.md) bounds the
attention on the max tokens from below by a softmax over the pessimal position assignment, then the
wrong logit by maximising the mean direct-path row jointly with PVOU and the right-attention EVOU
row, with the attention averaged over queries (`mean_query+diff`) or not. The EQKE split is the
paper's: a rank-1 SVD term (`attn=svd`), EQKE itself for exact_EQKE+max_diff_exact. Its two defects
are fixed: every non-max value <= m - g counts (m - g + 1 choices), and the gap search uses the same
W_E + W_pos[-1] as the verification. Float64 here; the checker decides every case exactly.
"""
from __future__ import annotations

import itertools
from fractions import Fraction
from math import comb

import numpy as np

from certify.paths import FloatModel
from certify.strategies import subcubic_tables as st
from certify.strategies.base import Proof, Strategy, needs_two_positions

EUPU = {"mean_query+max_diff": "mean-query-max-diff", "svd_query+max_diff": "svd-query-max-diff",
        "max_diff": "factored-max-diff", "max_diff_exact": "max-diff", "global_max_diff_exact": "global-max-diff"}
ATTENTION = {"mean_query+diff": "paper-mean-query", "drop_average_query_per_output_logit_reasoning": "paper-plain"}
ERROR = {"svd": "svd", "max_diff": "maxdiff", "max_diff_subproduct": "maxdiff-subproduct",
         "max_diff_subproduct_recursive": "maxdiff-recursive", "mean+max_diff": "mean-maxdiff",
         "mean+max_diff_subproduct": "mean-maxdiff-subproduct",
         "mean+max_diff_subproduct_recursive": "mean-maxdiff-recursive",
         "mean_recursive+max_diff_subproduct_recursive": "mean-recursive-maxdiff-recursive",
         "exact_EQKE+max_diff_exact": "exact-eqke", "max_diff_exact": "exact-maxdiff"}
MARGIN = 1e-9
CACHE_ELEMENTS = 2 * 10 ** 7  # the search keeps its per-(q, c) tables (2 V^3 K floats) below this


def names() -> list[str]:
    return [f"paper:{e}/{a}/{r}" for e in EUPU for a in ATTENTION for r in ERROR]


def parse(name: str) -> dict[str, str]:
    """The checker's subcubic parameters for a paper variant name."""
    body = name.removeprefix("paper:")
    parts = body.split("/")
    if not name.startswith("paper:") or len(parts) != 3 or parts[0] not in EUPU or parts[1] not in ATTENTION \
            or parts[2] not in ERROR:
        raise ValueError(f"unknown paper variant {name!r}; `certify strategies` lists the 100")
    e, a, r = parts
    return {"eupu": EUPU[e], "attn": "svd", "err": ERROR[r], "logit": ATTENTION[a]}


def _exact(x: float) -> str:
    f = Fraction(float(x))
    return f"{f.numerator}/{f.denominator}"


def svd_split(T: st.Shared) -> st.Attn:
    """The paper's EQKE split: EQKE = sigma u v^T + R with u, v its top singular vectors (hints, as
    float64, i.e. dyadic), R = (I - u u^T/|u|^2) EQKE (I - v v^T/|v|^2) factored as Qr Kr^T."""
    if "svd" in T.attn:
        return T.attn["svd"]
    U_, _, Vh = np.linalg.svd(T.eqke_full())
    u, v = U_[:, 0], Vh[0]
    bu, bv = u @ u, v @ v
    qres, kres = bu * T.Q - np.outer(u, u @ T.Q), bv * T.Km - np.outer(v, v @ T.Km)
    wq = T.wq_aug.copy()
    eq1 = bu * T.eq1 - np.outer(u, u @ T.eq1)
    ek = bv * T.E - np.outer(v, v @ T.E)
    z = np.zeros(T.V)
    Mv, Mu = T.Q @ (T.Km.T @ v), T.Km @ (T.Q.T @ u)
    approx = bv * np.outer(u, Mu) + bu * np.outer(Mv, v) - (u @ Mv) * np.outer(u, v)  # bu bv EQKE - Qr Kr^T
    a = st.Attn(u, bu * bv, z, z, z, z, qres, kres, wq, T.W_K, None, eq1=eq1, ek=ek, v_right=v, approx=approx)
    T.attn["svd"] = a
    return a


def eqke_bounds(T: st.Shared, a: st.Attn | None, spread: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
    """For query q: ax[m, g-1] >= max_{x <= m-g} EQKE[q,x] - EQKE[q,m] (g <= m; junk for g > m) and
    bq[m] >= EQKE[q,q] - EQKE[q,m]; a = None: EQKE itself (err=exact-eqke)."""
    A, beta, sp = (T.eqke_full()[q], 1.0, 0.0) if a is None else (a.approx[q], a.beta, spread[q])
    pref = np.maximum.accumulate(A)
    V = T.V
    idx = np.maximum(np.arange(V)[:, None] - np.arange(1, V + 1)[None, :], 0)   # [m, g-1] -> m - g
    return (pref[idx] - A[:, None] + sp) / beta, (A[q] - A + sp) / beta


def logit_parts(T: st.Shared, eupu: str, offset=None) -> tuple[np.ndarray, np.ndarray]:
    """(L0 [V], gap [V]): D[q,x] - D[q,m] <= L0[x] - L0[m] + gap[q] (checker: subcubic_bounds.eupu_parts)."""
    if eupu in ("max-diff", "global-max-diff"):
        spans = T.D.max(1) - T.D.min(1)
        return np.zeros(T.V), (np.full(T.V, spans.max()) if eupu == "global-max-diff" else spans) * st.SAFETY
    c = st.eupu_offset(T, eupu) if offset is None else offset
    return c @ T.U + T.bias, np.abs(T.W_EP - c) @ (T.U.max(1) - T.U.min(1)) * st.SAFETY


class Tables:
    """The per-(m) logit quantities of the paper's reasoning (checker: subcubic._PaperLogit)."""

    def __init__(self, T: st.Shared, L0: np.ndarray, gap: np.ndarray):
        V = T.V
        self.gap = gap
        pvou, evou = T.pvou, T.evou
        pv = (pvou[:, None, :] - pvou[:, :, None]).max(axis=0)          # [m, x] = max_i PVOU[i,x] - PVOU[i,m]
        self.L = (L0[None, :] - L0[:, None]) + pv                       # [m, x]
        self.E = evou - np.diag(evou)[:, None]                          # [m, x] = EVOU[m,x] - EVOU[m,m]
        off = ~np.eye(V, dtype=bool)
        self.R = np.where(off, self.E, -np.inf).max(1)
        self.Emin = np.where(off, self.E, np.inf).min(1)
        self.off = off

    def S(self, abar: np.ndarray) -> np.ndarray:
        """S[m, cp] = max_{x != m} L[m,x] + abar[m,cp] E[m,x]."""
        val = self.L[:, None, :] + abar[:, :, None] * self.E[:, None, :]
        return np.where(self.off[:, None, :], val, -np.inf).max(axis=2) * 1.0


def _case_parts(T: st.Shared, ax: np.ndarray, bq: np.ndarray, q: int, c: int):
    """For query q and c non-query non-max copies, over m >= q and g = 1..V (c = 0: every column is
    the case g = 0): (a_lb [m, g-1], Wn [m, g-1], cp [m]); mirrors the checker's obligation."""
    V, K, s = T.V, T.K, T.s
    p = T.eqkp[q]
    srt = np.sort(p[:K - 1]) - p.max()
    pk = p[K - 1] - p.max()
    low, high = np.exp(s * srt[:K - 1 - c]).sum(), np.exp(s * srt[K - 1 - c:]).sum()
    same = (np.arange(q, V) == q)[:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        N = low + np.where(same, np.exp(s * pk), 0.0)
        M = (np.exp(s * ax[q:]) * high if c else 0.0) + np.where(same, 0.0, np.exp(s * (pk + bq[q:, None])))
        a = np.where(np.isfinite(M), N / (N + M), 0.0)
    W = T.prefg[q:] if c else np.zeros((V - q, V))
    W = np.where(same, W, np.maximum(W, T.eterm[q, q:, None]) if c else T.eterm[q, q:, None])
    cp = np.minimum(c + (~same[:, 0]).astype(int), K - 1)  # c = K - 1 with q < m: no such case
    return np.broadcast_to(a, W.shape), W, cp


def _passes(P: "Tables", q: int, a: np.ndarray, W: np.ndarray, ms: np.ndarray, Sv: np.ndarray,
            ab: np.ndarray) -> np.ndarray:
    """The case inequality for both k, with a relative margin; Sv, ab broadcast against [m, g-1]."""
    ok = np.ones(np.broadcast_shapes(W.shape, Sv.shape), dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in (P.R[ms][:, None], P.Emin[ms][:, None]):
            C0 = P.gap[q] + Sv - ab * k + W
            C1 = k - W
            val = np.where(C1 <= 0, C0 + a * C1, C0 + C1)
            ok &= val + MARGIN * (np.abs(C0) + np.abs(C1) + 1e-300) < 0
    return ok


class Search:
    """The gap search for one paper variant: per (q, m, c) the smallest gap g that passes, and for
    mean_query+diff the averaged attention abar[m, cp] (any value is sound; the prover picks, per
    (m, cp), the candidate covering the most inputs among the paper's mean and a grid)."""

    def __init__(self, T: st.Shared, P: Tables, a: st.Attn | None, spread: np.ndarray, average: bool,
                 tick=lambda done, total: None):
        self.T, self.P, self.average, self.tick = T, P, average, tick
        V, K = T.V, T.K
        self._a, self._spread = a, spread
        self._cache = {} if V ** 3 * K <= CACHE_ELEMENTS else None  # else recomputed on use
        self.abar = np.zeros((V, K))
        if average:
            self.abar = self._mean_attention(self._run(self.abar))
            self.abar = self._best_abar(40 if self._cache is not None else 0)  # large models: the mean
        self.cases = self._run(self.abar)

    def _part(self, q: int, c: int):
        if self._cache is not None and (q, c) in self._cache:
            return self._cache[q, c]
        part = _case_parts(self.T, *eqke_bounds(self.T, self._a, self._spread, q), q, c)
        if self._cache is not None:
            self._cache[q, c] = part
        return part

    def _valid(self, q: int, c: int) -> np.ndarray:
        """Rows m - q of the (q, c) tables that are cases (c <= K-1 if m = q, else <= K-2)."""
        ms = np.arange(q, self.T.V)
        return np.nonzero(c <= np.where(ms == q, self.T.K - 1, self.T.K - 2))[0]

    def _run(self, abar: np.ndarray) -> list[tuple[int, int, int, int, float]]:
        K, V = self.T.K, self.T.V
        S = self.P.S(abar)
        out = []
        for q, c in itertools.product(range(V), range(K)):
            a, W, cp = self._part(q, c)
            ms = np.arange(q, V)
            ok = _passes(self.P, q, a, W, ms, S[ms, cp][:, None], abar[ms, cp][:, None])
            for r in self._valid(q, c):
                m = q + int(r)
                if c == 0:
                    if ok[r, 0]:
                        out.append((q, m, 0, 0, a[r, 0]))
                    continue
                hits = np.nonzero(ok[r, :m])[0]
                if len(hits):
                    out.append((q, m, c, int(hits[0]) + 1, a[r, hits[0]]))
        return sorted(out)

    def _mean_attention(self, cases) -> np.ndarray:
        tot, n = np.zeros((self.T.V, self.T.K)), np.zeros((self.T.V, self.T.K))
        for q, m, c, _, a in cases:
            cp = c + (q < m)
            tot[m, cp] += a
            n[m, cp] += 1
        return np.where(n > 0, tot / np.maximum(n, 1), 0.0)

    def _best_abar(self, n_grid: int = 40) -> np.ndarray:
        """Per (m, cp), the candidate (the current abar, or a grid value in [0, 1]) covering the most
        inputs; all candidates at once."""
        K, V, P = self.T.K, self.T.V, self.P
        best = self.abar.copy()
        for cp in range(K):
            cands = np.vstack([best[:, cp], *np.repeat(np.linspace(0, 1, n_grid)[:, None], V, axis=1)])  # [n, m]
            val = P.L[None] + cands[:, :, None] * P.E[None]
            Sc = np.where(P.off[None], val, -np.inf).max(axis=2)                        # [n, m]
            counts = np.zeros(cands.shape)
            for c in (cp, cp - 1):
                if c < 0:
                    continue
                for q in range(V):
                    rows = [r for r in self._valid(q, c) if c == cp - (r > 0)]
                    if not rows:
                        continue
                    rows = np.array(rows)
                    ms = q + rows
                    a, W, _ = (x[rows] for x in self._part(q, c))
                    ok = _passes(P, q, a, W, ms, Sc[:, ms, None], cands[:, ms, None])  # [n, rows, g-1]
                    if c == 0:
                        counts[:, ms] += ok[:, :, 0]
                        continue
                    ok &= np.arange(V)[None, None, :] < ms[None, :, None]                  # g <= m
                    first = ok.argmax(axis=2)
                    counts[:, ms] += np.where(ok.any(axis=2), comb(K - 1, c) * (ms[None, :] - first) ** c, 0)
            best[:, cp] = cands[counts.argmax(axis=0), np.arange(V)]  # ties: the current value (row 0)
            self.tick(cp + 1, K)
        return best

    def count(self) -> int:
        K = self.T.K
        return sum(comb(K - 1, c) * (m - g + 1) ** c if c else 1 for _, m, c, g, _ in self.cases)


def prove(m: FloatModel, name: str, shared: st.Shared | None = None) -> Proof:
    par = parse(name)
    T = shared or st.shared(m)
    a = svd_split(T)
    exact = par["err"] == "exact-eqke"
    spread = None if exact else st.spread(T, a, par["err"])
    offset = st.eupu_offset(T, par["eupu"]) if par["eupu"] == "svd-query-max-diff" else None
    search = Search(T, Tables(T, *logit_parts(T, par["eupu"], offset)), None if exact else a, spread,
                    par["logit"] == "paper-mean-query", m.tick)
    ev = {"svd_left": [_exact(x) for x in a.b], "svd_right": [_exact(x) for x in a.v_right]}
    if offset is not None:
        ev["eupu_offset"] = [_exact(x) for x in offset]
    if par["logit"] == "paper-mean-query":
        ev["mean_attention"] = [[_exact(x) for x in row] for row in search.abar]
    ev["cases"] = [[q, mx, c, g] for q, mx, c, g, _ in search.cases]
    return Proof("subcubic", Fraction(search.count(), T.V ** T.K), par, ev)


STRATEGIES = [Strategy(n, "O(V^2 (d + K))", "the paper's variant " + n.removeprefix("paper:") + " (faithful, counting fixed)",
                       lambda m, n=n: prove(m, n), default=False, applies=needs_two_positions) for n in names()]
