"""Behaviour of checker/rules/subcubic*.py that mutation testing showed untested
(benchmarks/mutate_checker.py; which test kills which mutant: benchmarks/mutation/classes.txt). Small
models built here, exact values, no prover.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from checker.certificate import Certificate
from checker.dyadic import Dyadic
from checker.errors import Reject
from checker.paths import exact_paths
from checker.rules import subcubic, subcubic_bounds as sb
from checker.rules.brute_force import count_correct
from checker.safetensors import Weights
from conftest import checker_shapes


def _weights(V: int, K: int, dm: int, dh: int, **entries) -> Weights:
    """A model that is zero except for the given tensors (short names: W_E, W_U, b_V, ...), each an
    array of its checker shape; every entry exact in float32."""
    shapes = checker_shapes(V, K, dm, dh)
    t = {name: np.zeros(shape, dtype=np.float32) for name, shape in shapes.items()}
    for short, value in entries.items():
        name = next(n for n in shapes if n.rsplit(".", 1)[1] == short)
        t[name] = np.asarray(value, dtype=np.float32).reshape(shapes[name])
    return Weights("0" * 64, t, K, V, dm, dh)


def _subcubic(w: Weights, cases: list, parameters: dict, **evidence) -> Certificate:
    return Certificate(w.k, w.d_vocab, "exact-real", Fraction(0), "0" * 64, "m", "subcubic",
                       parameters, {"cases": cases, **evidence})


# ---------------------------------------------------------------- subcubic_paper.py: the paper case's two ks

def test_the_filter_decides_a_paper_case_of_only_max_copies_by_its_tiny_margin():
    """The paper case (0, 0, 0, 0) (q = m, c = 0: a = 1, no non-max token, so Wn plays no part: the
    four sums are -(C0 + C1) = -(gap + S + (1 - abar) k) times positive weights) on a V = 2, K = 2
    model whose only logit difference at (0, 0) is E[0, 1] = EVOU[0, 1] - EVOU[0, 0] = -2^-56 (D =
    0, PVOU = 0, paper-plain: abar = 0). Exactly C0 + C1 = -2^-56 for both k, and the float64 filter
    proves it (every other term is exactly 0, so the enclosures are 2^-56 wide at most, not 2^-52):
    decided without the exact fallback. A Wn of -1 instead of 0 for q = m (it cancels exactly in C0
    + (k - Wn), not in outward-rounded intervals) widens C0 + C1 to about [-2^-51, 2^-51] and the
    case goes to the exact fallback (same verdict, more ops)."""
    tiny = 2.0 ** -56
    w = _weights(2, 2, 2, 1, W_E=[[1, 0], [1, 0]], W_V=[[1], [0]], W_O=[[0, 1]], W_U=[[0, 0], [0, -tiny]])
    cert = _subcubic(w, [[0, 0, 0, 0]], {"eupu": "max-diff", "attn": "plain", "err": "maxdiff",
                                         "logit": "paper-plain"}, direction=[1])
    t = subcubic.tables(cert, w)
    assert t.sums(0, 0, 0, 0)[1] == [(Fraction(1, 2 ** 56), 0)]  # -(C0 + C1) exp(0), k = R
    assert t.filter(np.array([[0, 0, 0, 0]])).tolist() == [True]
    assert subcubic.rule(cert, w) == Fraction(1, 4)


def _table_model(D: list, EVOU: list, P: list, b_U: list | None = None) -> Weights:
    """A model with uniform attention (W_Q = W_K = 0), K = len(P), whose direct path is D[q] (+ b_U),
    whose OV circuit is EVOU[t] for token t and PVOU[i] = P[i] at position i, every table given
    exactly. d_model = 2V + 2K: the token one-hot (W_U's rows: D), the position one-hot (W_U's rows:
    0), then the head's outputs (W_U's rows: EVOU, then P); d_head = V + K, head t copying the token
    one-hot's t, head V + i the position one-hot's i."""
    V, K = len(D), len(P)
    n = V + K
    W_V = np.vstack([np.eye(n), np.zeros((n, n))])
    W_O = np.hstack([np.zeros((n, n)), np.eye(n)])
    return _weights(V, K, 2 * n, n, W_E=np.eye(V, 2 * n), W_pos=np.eye(K, 2 * n, V), W_V=W_V, W_O=W_O,
                    W_U=np.vstack([D, np.zeros((K, V)), EVOU, P]), b_U=b_U if b_U is not None else np.zeros(V))


def _direction(w: Weights) -> list:
    return [1] + [0] * (w.d_head - 1)


PLAIN_PAPER = {"eupu": "max-diff", "attn": "plain", "err": "maxdiff", "logit": "paper-plain"}


def test_the_paper_case_is_refused_where_it_fails_only_at_the_least_evou_difference():
    """SOUNDNESS. The paper's case (q, m, c, g) = (0, 0, 0, 0) on a V = 3 model wrong on every input:
    D = 0, EVOU[t] = w_t (0, 0, -2) with w = (1, 1, 4), PVOU = (0, -1, 3) (logits s (0, 0, -2) + (0,
    -1, 3), s the mean of w: output 2 when both tokens are < 2, output 0 when a 2 is present), with the (sound, any-value) mean attention abar[0][0] = 2: for m = 0, L[0, x] = PVOU[x] -
    PVOU[0] = (0, -1, 3), E[0, x] = EVOU[0, x] - EVOU[0, 0] = (0, 0, -2), so over x != 0 R = 0, Emin
    = -2 and S = max_x L + 2 E = max(-1, -1) = -1; the input (0, 0) has a = 1 and the case needs gap
    + S + (1 - abar) k < 0 for k = R (-1: holds) and k = Emin (+1: fails; the true logit difference
    logit_2 - logit_0 = L + E = 1 > 0). The checker refuses the case; with k = R alone it would
    prove 1/9 of a model whose accuracy is 0. Catches Emin computed as a max (then Emin = R)."""
    w = _table_model(D=[[0] * 3] * 3, EVOU=[[0, 0, -2], [0, 0, -2], [0, 0, -8]], P=[[0, -1, 3], [0, -1, 3]])
    assert count_correct(exact_paths(w)) == 0
    cert = _subcubic(w, [[0, 0, 0, 0]], {**PLAIN_PAPER, "logit": "paper-mean-query"},
                     direction=_direction(w), mean_attention=[[2, 0], [0, 0], [0, 0]])
    with pytest.raises(Reject, match="case q=0, m=0, c=0, g=0"):
        subcubic.rule(cert, w)
    t = subcubic.tables(cert, w)
    assert (t.exact.p_R[0], t.exact.p_Emin[0]) == (0, -2)
    assert not t.case_holds(0, 0, 0, 0)
    assert not t.filter(np.array([[0, 0, 0, 0]]))[0]


def test_the_paper_case_is_refused_where_it_fails_only_at_the_largest_evou_difference():
    """SOUNDNESS. The paper-plain case (0, 0, 0, 0) (input (0, 0), a = 1, abar = 0: it needs gap + S
    + k < 0 for k = R and k = Emin) on a V = 3 model wrong on every input: D = 0, EVOU[t] = w_t (0,
    2, -5) with w = (1, 0, 2), PVOU = (0, -1, 3) (logits s (0, 2, -5) + (0, -1, 3), s the mean of w:
    output 1 for s = 1, 0 for s <= 1/2, 0 or 2 never right for s >= 1). For m = 0: S = max L =
    max(-1, 3) = 3, R = 2, Emin = -5: at R 5 > 0 (the true logit_1 - logit_0 = 1), at Emin -2. The
    checker refuses; with R = Emin it would prove 1/9 of a model whose accuracy is 0. Catches R
    computed as a min (then R = Emin)."""
    w = _table_model(D=[[0] * 3] * 3, EVOU=[[0, 2, -5], [0, 0, 0], [0, 4, -10]], P=[[0, -1, 3], [0, -1, 3]])
    assert count_correct(exact_paths(w)) == 0
    cert = _subcubic(w, [[0, 0, 0, 0]], PLAIN_PAPER, direction=_direction(w))
    with pytest.raises(Reject, match="case q=0, m=0, c=0, g=0"):
        subcubic.rule(cert, w)
    t = subcubic.tables(cert, w)
    assert (t.exact.p_S[0, 0], t.exact.p_R[0], t.exact.p_Emin[0]) == (3, 2, -5)


@pytest.mark.parametrize("x_pen, holds", [(Fraction(1, 2), True), (1, False), (3, False)])
def test_the_paper_case_with_a_non_max_token_charges_its_evou_penalty(x_pen, holds):
    """SOUNDNESS. V = 2, K = 2, uniform attention, D = PVOU = 0, EVOU = [[x_pen, 0], [0, 1]]. The
    paper case (1, 1, 1, 1) (input (0, 1): the non-max token 0 and the query 1 = m, a = 1/2 exactly)
    with Wn = max(wq, pref[0, 1]) = max(0, x_pen) (query q = m: wq = 0; token 0's eterm EVOU[0, 0] -
    EVOU[0, 1] = x_pen), k = R = Emin = E[1, 0] = -1: C0 + a C1 at a_lb = 1/2 is (k + Wn) / 2, < 0
    iff x_pen < 1; the true logit_0 - logit_1 = (x_pen - 1) / 2 too. With the cases (0, 0, 0, 0) and
    (1, 1, 0, 0) (inputs (0, 0), (1, 1), correct) the certificate claims 3/4: right for x_pen = 1/2
    (accuracy 1), false for x_pen = 1 and 3 (accuracy 2/4), refused there. Catches the penalty
    charged only for c > 1 or c <= 0 (Wn = wq = 0: the false 3/4 proven), a minimum for the maximum
    (no number type has one: AttributeError on every paper case with c > 0), and Wn = 1 for q = m
    (the true 3/4 refused)."""
    w = _table_model(D=[[0, 0], [0, 0]], EVOU=[[x_pen, 0], [0, 1]], P=[[0, 0], [0, 0]])
    assert count_correct(exact_paths(w)) == (4 if holds else 2)  # (0, 1) and (1, 0) alike
    cert = _subcubic(w, [[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]], PLAIN_PAPER, direction=_direction(w))
    if holds:
        assert subcubic.rule(cert, w) == Fraction(3, 4)
    else:
        with pytest.raises(Reject, match="case q=1, m=1, c=1, g=1"):
            subcubic.rule(cert, w)


# ---------------------------------------------------------------- subcubic.py: the filter's c = 0 term

def _c0_model() -> Weights:
    """V = 2, K = 2, d_head = 1: Q = b_Q = 32 for every query, position 0's key 32 (W_pos[0] W_K),
    position 1's 0 (so EQKP[q, 0] - EQKP[q, 1] = 1024 > 700); the direct path D[q] = (1, -1) for q = 0."""
    return _weights(2, 2, 2, 1, W_E=[[1, 0], [-1, 0]], W_pos=[[0, 1], [0, 0]], W_K=[[0], [32]], b_Q=[32],
                    W_U=[[1, -1], [0, 0]])


def test_the_filter_drops_the_non_max_term_of_a_c0_case_whatever_its_weight():
    """A c = 0 case's non-max term has coefficient exactly 0 (`N.where(c > 0, -c * pen, 0)`): the
    filter skips it even when its weight's enclosure is unbounded. On _c0_model pmax - pmin =
    EQKP[q, 0] - EQKP[q, 1] = 1024 > 700, so the weight exp(a_x + pmax - pmin) encloses to [..,
    inf]; the direct path D[q] = (1, -1) for q = 0 decides case (0, 0, 0, 0) (good = 2 > 0, OV = 0).
    Computing -0 * pen instead (an interval rounded outward, [-2^-1074, 2^-1074]) multiplies it by
    inf: the filter is left undecided and the case goes to the exact fallback (same verdict, more
    ops). Catches the term kept for c = 0 (c > -1 or c >= 0)."""
    w = _c0_model()
    cert = _subcubic(w, [[0, 0, 0, 0]], {"eupu": "exact", "attn": "plain", "err": "maxdiff"}, direction=[1])
    t = subcubic.tables(cert, w)
    assert (t.exact.pmax[0] - t.exact.pmin[0], t.exact.gmin_all[0] - t.exact.dpen[0, 0]) == (1024, 2)
    assert t.filter(np.array([[0, 0, 0, 0]])).tolist() == [True]
    assert subcubic.rule(cert, w) == Fraction(1, 4)


# ---------------------------------------------------------------- subcubic_paper.py: eupu_parts' direct-path gap

def test_paper_global_max_diff_takes_the_largest_row_span():
    """SOUNDNESS. eupu=global-max-diff under the paper's logit reasoning: gap[q] is the largest row
    span of D over all queries. V = 2, K = 2, uniform attention, D = [[0, 0], [4, 0]] (spans 0, 4),
    EVOU = [[0, 0], [0, 1]], PVOU = 0: accuracy 1/4 (only (1, 0) is right). The case (1, 1, 0, 0)
    (input (1, 1): logit_0 - logit_1 = 4 - 1 = 3) needs gap + E[1, 0] = 4 - 1 < 0: refused. With the
    smallest span (0) for gap, it and (0, 1, 0, 0) would both hold: 2/4 proven of a 1/4 model.
    Catches the smallest span taken."""
    w = _table_model(D=[[0, 0], [4, 0]], EVOU=[[0, 0], [0, 1]], P=[[0, 0], [0, 0]])
    assert count_correct(exact_paths(w)) == 1
    cert = _subcubic(w, [[1, 1, 0, 0], [0, 1, 0, 0]], {**PLAIN_PAPER, "eupu": "global-max-diff"},
                     direction=_direction(w))
    with pytest.raises(Reject, match="case q=1, m=1, c=0, g=0"):
        subcubic.rule(cert, w)
    t = subcubic.tables(cert, w)
    assert (t.exact.p_gap[0], t.exact.p_gap[1]) == (4, 4)


def test_paper_factored_direct_path_adds_the_bias_row():
    """SOUNDNESS. A factored eupu option under the paper's logit reasoning: L0 = c U + bias (bias =
    b_O W_U + b_U; factored-max-diff: c = 0, so L0 = b_U and gap = 0 for D = 0). V = 2, K = 2,
    uniform attention, b_U = (0, 2), EVOU = [[0, -1], [5, 0]], PVOU = 0: logits b_U + the mean EVOU
    row, wrong on all 4 inputs. The case (0, 0, 0, 0) needs L[0, 1] + E[0, 1] = (2 - 0) - 1 < 0 (the
    true logit_1 - logit_0): refused; with L0 = c U - bias it would hold (-3): 1/4 proven of an
    accuracy-0 model. Catches the bias subtracted."""
    w = _table_model(D=[[0, 0], [0, 0]], EVOU=[[0, -1], [5, 0]], P=[[0, 0], [0, 0]], b_U=[0, 2])
    assert count_correct(exact_paths(w)) == 0
    cert = _subcubic(w, [[0, 0, 0, 0]], {**PLAIN_PAPER, "eupu": "factored-max-diff"}, direction=_direction(w))
    with pytest.raises(Reject, match="case q=0, m=0, c=0, g=0"):
        subcubic.rule(cert, w)
    t = subcubic.tables(cert, w)
    assert (t.exact.p_gap[0], t.exact.p_S[0, 0], t.exact.p_R[0]) == (0, 2, -1)


def test_the_subcubic_obligation_of_a_c0_case_has_no_non_max_term():
    """`_Tables.sums` (the exact obligation the fallback decides and the exporters write) leaves out
    the query term if q = m and the non-max term if c = 0: case (0, 0, 0, 0) of the c = 0 model
    above is the one term ((K - 1 - c + 1) good, 0) = (4, 0), case (0, 1, 0, 0) adds only the query
    term. Catches a zero-coefficient term in every c = 0 obligation (c >= 0 or c > -1) and one in
    every q = m obligation (q <= m)."""
    w = _c0_model()
    cert = _subcubic(w, [], {"eupu": "exact", "attn": "plain", "err": "maxdiff"}, direction=[1])
    t = subcubic.tables(cert, w)
    assert t.sums(0, 0, 0, 0) == [[(Fraction(4), Fraction(0))]]
    assert [len(s) for s in t.sums(0, 1, 0, 0)] == [2]


def test_paper_obligations_weigh_positions_by_eqkp_with_the_key_bias_added():
    """EQKP[q, i] = Q[q] . (W_pos[i] W_K + b_K), which the paper's sums read as absolute weights
    exp(EQKP / sqrt(d_head)). The x_pen = 1/2 model of the Wn test with Q = b_Q = 64 e_0 and every
    position's key W_pos[i] W_K = -b_K = -16 e_0: EQKP = 0, so case (1, 1, 1, 1)'s sums have the
    arguments 0 (a_x = b_q = 0 too) and the float filter decides it. With W_pos W_K - b_K the keys
    are -32 e_0 and EQKP = -2048: every weight exp(-1024) underflows, the filter is undecided (the
    exact verdict is the same, the ops not) and the obligations differ. Catches the key bias
    subtracted."""
    w = _table_model(D=[[0, 0], [0, 0]], EVOU=[[Fraction(1, 2), 0], [0, 1]], P=[[0, 0], [0, 0]])
    W_K = np.zeros((w.d_model, w.d_head))
    W_K[2:4, 0] = -16  # the position one-hot's rows
    t = dict(w.tensors)
    t.update({"blocks.0.attn.W_K": W_K[None].astype(np.float32),
              "blocks.0.attn.b_K": np.array([[16, 0, 0, 0]], dtype=np.float32),
              "blocks.0.attn.b_Q": np.array([[64, 0, 0, 0]], dtype=np.float32)})
    w = Weights(w.sha256, t, w.k, w.d_vocab, w.d_model, w.d_head)
    cert = _subcubic(w, [[1, 1, 1, 1]], PLAIN_PAPER, direction=_direction(w))
    tab = subcubic.tables(cert, w)
    assert [[a for _, a in s] for s in tab.sums(1, 1, 1, 1)] == [[0, 0], [0], [0, 0], [0]]
    assert tab.filter(np.array([[1, 1, 1, 1]])).tolist() == [True]
    assert subcubic.rule(cert, w) == Fraction(1, 4)


def test_the_residual_chain_multiplies_out_at_w_ep_exponent_minus_one(monkeypatch):
    """The chain's ones column [W_EP | 1] holds 1 at W_EP's exponent: here W_EP's entries are halves
    (exponent -1, some odd), the chain product eq1 @ wq must be Q = W_EP W_Q + b_Q exactly (b_Q !=
    0). Catches the ones column placed at exponent -1 only when W_EP's is below -1 (1 * 2^-1 = 1/2:
    b_Q halved in the residual the spread bounds)."""
    w = _weights(2, 2, 2, 2, W_E=[[0.5, 1], [-1.5, 0]], W_Q=[[1, 2], [-1, 1]], b_Q=[3, -2], W_K=[[1, 0], [0, 1]])
    seen = []
    cert = _subcubic(w, [], {"eupu": "exact", "attn": "plain", "err": "maxdiff-subproduct"}, direction=[1, 0])
    spread = sb.spread
    monkeypatch.setattr(sb, "spread", lambda err, qres, kres, chain: seen.append((qres, chain)) or
                        spread(err, qres, kres, chain))
    subcubic.tables(cert, w)
    (qres, (eq1, wq, _, _)), = seen
    assert eq1.e == -1
    val = lambda d: [[Fraction(int(v)) * Fraction(2) ** d.e for v in row] for row in d.n]
    assert val(eq1 @ wq) == val(qres) == [[Fraction(5, 2), 0], [Fraction(3, 2), -5]]


# ---------------------------------------------------------------- subcubic_bounds.py

def test_spread_refuses_an_err_option_it_has_no_bound_for():
    """sb.spread's last line: an err option none of its branches bounds is refused (Reject), never
    answered with nothing (the rule validates err before, so only a direct call reaches it). Catches
    the refusal dropped."""
    one = Dyadic(np.array([[1]], dtype=object), 0)
    with pytest.raises(Reject, match="no residual bound 'exact-eqke'"):
        sb.spread("exact-eqke", one, one, [one, one, one, one])


def test_the_paper_case_of_a_max_query_charges_no_query_penalty():
    """Wn bounds the non-max tokens' max_x EVOU[t, x] - EVOU[t, m]; the query is one only if q < m.
    V = 3, K = 2, uniform attention, D = 0, EVOU = [[0, 0, 0], [0, 0, 0], [2, -2, 0]], PVOU = (-7/2,
    0, 0) at both positions, paper-mean-query with abar[2][1] = 1. Case (2, 2, 1, 2) (input (0, 2),
    right: logits (-5/2, -1, 0)): E[2] = (2, -2), so R = 2, Emin = -2, L[2] = (-7/2, 0), S = max(L +
    E) = -3/2; Wn = pref[0, 2] = 0. At a = 1, gap + S + (1 - abar) k = -3/2; at a_lb = 1/2, S + (Wn
    - k) / 2 = -5/2 (k = R) and -1/2 (k = Emin): the case holds, 1/9. Charging the query's own eterm
    EVOU[2]'s max - EVOU[2, 2] = 2 (q = m) makes Wn = 2 and the Emin sum +1/2: refused. So does +
    abar k for - abar k in C0 (at a = 1, k = R: -3/2 + 4). Catches q <= m for q < m and + abar k for
    - abar k."""
    w = _table_model(D=[[0] * 3] * 3, EVOU=[[0, 0, 0], [0, 0, 0], [2, -2, 0]],
                     P=[[-3.5, 0, 0], [-3.5, 0, 0]])
    cert = _subcubic(w, [[2, 2, 1, 2]], {**PLAIN_PAPER, "logit": "paper-mean-query"},
                     direction=_direction(w), mean_attention=[[0, 0], [0, 0], [0, 1]])
    t = subcubic.tables(cert, w)
    assert (t.exact.p_S[2, 1], t.exact.p_R[2], t.exact.p_Emin[2], t.exact.pref[0, 2]) == (Fraction(-3, 2), 2, -2, 0)
    assert subcubic.rule(cert, w) == Fraction(1, 9)


# ---------------------------------------------------------------- subcubic.py: the direct path's bias row

@pytest.mark.parametrize("eupu", ["exact", "factored-max-diff", "mean-query-max-diff"])
def test_subcubic_direct_path_adds_the_bias_row(eupu):
    """SOUNDNESS. The accuracy-0 model of the paper bias test (V = 2, K = 2, uniform attention, D's
    embedding part 0, b_U = (0, 2), EVOU = [[0, -1], [5, 0]]) under the subcubic rule's own logit
    reasoning: case (0, 0, 0, 0) needs good = (OV[0,i,0] - OV[0,i,1]) - dpen[0, 0] = 1 - 2 > 0 (dpen
    = b_U[1] - b_U[0] exactly, by every option here: D's rows are the bias row): refused. With the
    bias subtracted (D = W_EP W_U - b_U for eupu=exact; dm = c U - bias for the factored options)
    dpen = -2 and the case holds: 1/4 proven of an accuracy-0 model. Catches the bias subtracted, in
    D (eupu=exact) and in dm (the factored options)."""
    w = _table_model(D=[[0, 0], [0, 0]], EVOU=[[0, -1], [5, 0]], P=[[0, 0], [0, 0]], b_U=[0, 2])
    assert count_correct(exact_paths(w)) == 0
    cert = _subcubic(w, [[0, 0, 0, 0]], {"eupu": eupu, "attn": "plain", "err": "maxdiff"}, direction=_direction(w))
    assert subcubic.tables(cert, w).exact.dpen[0, 0] == 2
    with pytest.raises(Reject, match="case q=0, m=0, c=0, g=0"):
        subcubic.rule(cert, w)
