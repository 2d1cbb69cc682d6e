"""The model's path terms, computed exactly from the weights (TransformerLens names, paper's terms).

For input tokens t_0..t_{K-1} with query q = t_{K-1}, exactly:
  score_i  = QK[q, t_i, i] / sqrt(d_head)
  logits   = DIRECT[q] + sum_i softmax(score)_i * OV[t_i, i]
where, with resid(t, i) = W_E[t] + W_pos[i] and Q(q) = resid(q, K-1) W_Q + b_Q,
  QK[q, t, i] = Q(q) . (resid(t, i) W_K + b_K)                  (EQKE + EQKP, with biases)
  OV[t, i]    = (resid(t, i) W_V + b_V) W_O W_U                 (EVOU + PVOU)
  DIRECT[q]   = resid(q, K-1) W_U + b_O W_U + b_U               (EUPU; b_O sums into it since
                                                                  the attention weights sum to 1)
"""
from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from typing import Any, Callable

from checker.dyadic import Dyadic
from checker.errors import OutOfBudget
from checker.safetensors import SHAPES, Weights

MAX_PATH_ENTRIES = 1 << 23     # exact integers in QK or OV, d_vocab^2 K each
MAX_PATH_PRODUCTS = 1 << 30    # integer multiplications to form all path terms (about a minute)


@dataclass(frozen=True)
class Paths:
    k: int
    d_vocab: int
    d_head: int
    qk: Dyadic      # [V, V, K]   query token, key token, key position
    ov: Dyadic      # [V, K, V]   key token, key position, output logit
    direct: Dyadic  # [V, V]      query token, output logit
    win: Dyadic     # [V, V]      the direct path as the answer's logit uses it (see below)
    rival: Dyadic   # [V, V]      ... and as a rival logit uses it
    # Rules compare logit_m - logit_j via win[q, m] - rival[q, j]. Under exact-real semantics both
    # are DIRECT; under float32 they are DIRECT - E and DIRECT + E (checker/float32.py), which makes
    # every gap smaller by the float32 error bound E[q, m] + E[q, j].


# The weights under their TransformerLens names, the head axis squeezed (exact Dyadics here, float64
# copies in checker/float32.py): W_E [V, d_model], W_pos [K, d_model], W_Q W_K W_V [d_model, d_head],
# W_O [d_head, d_model], W_U [d_model, V], b_Q b_K b_V [d_head], b_O [d_model], b_U [V].
Params = namedtuple("Params", "W_E W_pos W_Q W_K W_V W_O W_U b_Q b_K b_V b_O b_U")


def named_weights(tensors: dict[str, Any], convert: Callable[[Any], Any]) -> Params:
    """Each tensor (full names, as in SHAPES) through convert, under its short name in Params."""
    return Params(**{name.rsplit(".", 1)[1]: convert(a[0] if SHAPES[name].startswith("1 ") else a)
                     for name, a in tensors.items()})


def exact_weights(w: Weights) -> Params:
    return named_weights(w.tensors, Dyadic.from_floats)


def exact_paths(w: Weights) -> Paths:
    V, K = w.d_vocab, w.k
    _check_size(V, K, w.d_model, w.d_head)
    wt = exact_weights(w)
    pairs = wt.W_E[:, None] + wt.W_pos[None]                         # [V, K, d_model]
    resid = Dyadic(pairs.n.reshape(V * K, -1), pairs.e)                # [V*K, d_model], row t*K + i
    last = wt.W_E + wt.W_pos[K - 1:K]                                  # [V, d_model]
    Q = last @ wt.W_Q + wt.b_Q.rows(V)
    keys = resid @ wt.W_K + wt.b_K.rows(V * K)
    qk = Q @ Dyadic(keys.n.T, keys.e)                               # [V, V*K]
    OU = wt.W_O @ wt.W_U
    ov = (resid @ wt.W_V + wt.b_V.rows(V * K)) @ OU                  # [V*K, V]
    direct = last @ wt.W_U + (wt.b_O @ wt.W_U + wt.b_U).rows(V)
    return Paths(K, V, w.d_head, Dyadic(qk.n.reshape(V, V, K), qk.e), Dyadic(ov.n.reshape(V, K, V), ov.e),
                 direct, direct, direct)


def _check_size(V: int, K: int, dm: int, dh: int) -> None:
    """The caps, before anything is allocated: the products are those of exact_paths' matmuls."""
    products = dh * dm * (2 * V + 2 * V * K) + 2 * V * V * K * dh + dm * V * (V + 1)
    if V * V * K > MAX_PATH_ENTRIES:
        raise OutOfBudget(f"the path terms would hold d_vocab^2 K = {V * V * K:,} exact entries "
                          f"(cap MAX_PATH_ENTRIES = {MAX_PATH_ENTRIES:,})")
    if products > MAX_PATH_PRODUCTS:
        raise OutOfBudget(f"the path terms would take {products:,} exact products "
                          f"(cap MAX_PATH_PRODUCTS = {MAX_PATH_PRODUCTS:,})")
