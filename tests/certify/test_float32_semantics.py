"""The float32 semantics: the error bound really bounds float32 executions, and what a float32
certificate counts correct is classified correctly by torch's float32 model."""
from __future__ import annotations

import itertools
import json
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import torch

from certify.cli import main
from certify.model import Config, MaxOfK
from checker.check import check_file
from checker.errors import Reject
from checker.float32 import float32_paths, logit_error, ov_abs_max
from checker.paths import exact_paths
from checker.rules.brute_force import _exact_gap_sign, count_correct
from checker.safetensors import read_weights
from conftest import ZOO, config_of, random_state, write_state


def _exact_logits(state: dict[str, np.ndarray], toks: tuple[int, ...]) -> list:
    """The real model at 50 digits (float32 errors are ~1e-7 relative: far above this precision)."""
    mp = lambda a: mpmath.matrix(np.atleast_2d(np.asarray(a, dtype=np.float64)).tolist())
    s = {k: mp(v[0] if k.endswith(("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V")) else v)
         for k, v in state.items()}
    dh = state["blocks.0.attn.W_Q"].shape[-1]
    with mpmath.workdps(50):
        res = [s["embed.W_E"][t, :] + s["pos_embed.W_pos"][i, :] for i, t in enumerate(toks)]
        q = res[-1] * s["blocks.0.attn.W_Q"] + s["blocks.0.attn.b_Q"]
        sc = [(q * (r * s["blocks.0.attn.W_K"] + s["blocks.0.attn.b_K"]).T)[0] / mpmath.sqrt(dh) for r in res]
        w = [mpmath.exp(x - max(sc)) for x in sc]
        z = sum(((wi / sum(w)) * (r * s["blocks.0.attn.W_V"] + s["blocks.0.attn.b_V"])
                 for wi, r in zip(w, res)), mpmath.zeros(1, dh))
        out = res[-1] + z * s["blocks.0.attn.W_O"] + s["blocks.0.attn.b_O"]
        return list(out * s["unembed.W_U"] + s["unembed.b_U"])


def _torch_logits(state: dict[str, np.ndarray], toks: np.ndarray) -> np.ndarray:
    model = MaxOfK.from_state(config_of(state), {k: torch.from_numpy(v) for k, v in state.items()})
    with torch.no_grad():
        return model(torch.from_numpy(toks)).numpy()


def _sequential_logits(state: dict[str, np.ndarray], toks: tuple[int, ...]) -> np.ndarray:
    """Another conforming float32 execution: every sum accumulated one term at a time, backwards."""
    f32 = np.float32
    s = {k: v.astype(f32) for k, v in state.items()}

    def affine(x, W, b):
        out = np.empty(W.shape[1], dtype=f32)
        for c in range(W.shape[1]):
            acc = f32(b[c])
            for r in reversed(range(W.shape[0])):
                acc = f32(acc + f32(x[r] * W[r, c]))
            out[c] = acc
        return out

    res = [f32(s["embed.W_E"][t] + s["pos_embed.W_pos"][i]) for i, t in enumerate(toks)]
    q = affine(res[-1], s["blocks.0.attn.W_Q"][0], s["blocks.0.attn.b_Q"][0])
    keys = [affine(r, s["blocks.0.attn.W_K"][0], s["blocks.0.attn.b_K"][0]) for r in res]
    vals = [affine(r, s["blocks.0.attn.W_V"][0], s["blocks.0.attn.b_V"][0]) for r in res]
    scale = f32(np.sqrt(f32(len(q))))
    sc = np.array([affine(q, k[:, None], np.zeros(1, f32))[0] / scale for k in keys], dtype=f32)
    e = np.exp(sc - sc.max()).astype(f32)
    a = e / f32(e[::-1].sum(dtype=f32))
    z = affine(a, np.stack(vals), np.zeros(len(q), f32))
    out = res[-1] + affine(z, s["blocks.0.attn.W_O"][0], s["blocks.0.attn.b_O"])
    return affine(out.astype(f32), s["unembed.W_U"], s["unembed.b_U"])


@pytest.mark.parametrize("seed,scale", [(0, 1.0), (1, 4.0), (2, 8.0)])
def test_error_bound_covers_float32_executions(tmp_path, seed, scale):
    """|float32 logit - exact logit| <= E[q, j] for torch and a sequential summation, every input."""
    state = random_state(Config(k=3, d_vocab=4, d_model=8, d_head=4), seed, scale=scale, biases=True)
    w = read_weights(str(write_state(state, tmp_path / "m.safetensors")))
    E = logit_error(w.tensors, ov_abs_max(exact_paths(w)))
    toks = np.array(list(itertools.product(range(4), repeat=3)))
    torch_l = _torch_logits(state, toks)
    worst = 0.0
    for n, t in enumerate(toks):
        exact = np.array([float(x) for x in _exact_logits(state, tuple(t))])
        for got in (torch_l[n], _sequential_logits(state, tuple(t))):
            err = np.abs(got.astype(np.float64) - exact)
            assert np.all(err <= E[t[-1]]), (t, err, E[t[-1]])
            worst = max(worst, float((err / E[t[-1]]).max()))
    assert worst > 0  # the executions do differ from the exact model: the comparison has teeth


def test_float32_count_is_below_exact_count():
    w = read_weights(str(ZOO / "k4-v64-s123.safetensors"))
    exact = count_correct(exact_paths(w))
    f32 = count_correct(float32_paths(w))
    assert exact - 1000 < f32 < exact  # a few near-threshold inputs are given up, no more


def test_overflowing_model_refuses_float32_claims(tmp_path):
    state = random_state(Config(k=2, d_vocab=3, d_model=4, d_head=4), 0, scale=1e18)
    w = read_weights(str(write_state(state, tmp_path / "huge.safetensors")))
    with pytest.raises(Reject):
        float32_paths(w)


@pytest.fixture()
def tiny_model(tmp_path, tiny_trained_state):
    return write_state(tiny_trained_state, tmp_path / "tiny.safetensors")


def _run(model, tmp_path, strategy: str, semantics: str = "float32") -> dict:
    out = tmp_path / "certs"
    assert main(["run", "--model", str(model), "--strategy", strategy, "--semantics", semantics,
                 "--out", str(out)]) == 0
    (path,) = out.glob("*.json")
    return json.loads(path.read_text()) | {"_path": str(path)}


@pytest.mark.parametrize("strategy", ["brute-force", "cubic"])
def test_float32_certificates_check_and_claim_no_more_than_exact(tmp_path, tiny_model, strategy):
    f32 = _run(tiny_model, tmp_path / "f32", strategy)
    exact = _run(tiny_model, tmp_path / "exact", strategy, "exact-real")
    assert f32["claim"]["semantics"] == "float32"
    assert Fraction(f32["claim"]["accuracy_lower_bound"]) <= Fraction(exact["claim"]["accuracy_lower_bound"])
    assert check_file(f32["_path"]).verdict == "accepted"


def test_float32_brute_force_count_inflated_is_rejected(tmp_path, tiny_model):
    cert = _run(tiny_model, tmp_path, "brute-force")
    path = cert.pop("_path")
    cert["evidence"]["correct_inputs"] += 1
    cert["claim"]["accuracy_lower_bound"] = "0/1"
    with open(path, "w") as f:
        json.dump(cert, f)
    assert check_file(path).verdict == "rejected"


def test_subcubic_makes_no_float32_claim(tmp_path, tiny_model, capsys):
    assert main(["run", "--model", str(tiny_model), "--strategy", "subcubic", "--semantics", "float32",
                 "--out", str(tmp_path / "certs")]) == 2  # nothing written (issue #15 item 6)
    assert "claims exact-real semantics only" in capsys.readouterr().out
    assert not (tmp_path / "certs").exists()


@pytest.mark.slow
def test_torch_agrees_on_every_input_a_float32_certificate_counts():
    """Every input torch's float32 model misclassifies on the default model is one the float32
    semantics does not count (decided exactly, as the checker's brute-force rule decides it)."""
    path = ZOO / "k4-v64-s123.safetensors"
    w = read_weights(str(path))
    state = {k: v.copy() for k, v in w.tensors.items()}
    model = MaxOfK.from_state(config_of(state), {k: torch.from_numpy(v) for k, v in state.items()})
    V, K = w.d_vocab, w.k
    wrong = []
    with torch.no_grad():
        for q in range(V):
            rest = np.array(list(itertools.product(range(V), repeat=K - 1)))
            toks = np.concatenate([rest, np.full((len(rest), 1), q)], axis=1)
            logits = model(torch.from_numpy(toks)).numpy()
            m = toks.max(axis=1)
            right = logits[np.arange(len(toks)), m].copy()
            logits[np.arange(len(toks)), m] = -np.inf
            wrong.extend(toks[~(right > logits.max(axis=1))])
    p = float32_paths(w)
    for toks in wrong:
        q, m = int(toks[-1]), int(toks.max())
        counted = all(_exact_gap_sign(p, q, toks, m, j) > 0 for j in range(V) if j != m)
        assert not counted, toks
    assert 0 < len(wrong) <= V ** K - count_correct(p)


def test_smt_rechecks_float32_cubic_obligations(tmp_path, tiny_model, capsys):
    cert = _run(tiny_model, tmp_path, "cubic")
    assert main(["check", cert["_path"], "--smt", "z3"]) == 0
    assert " 0 sat" in capsys.readouterr().out
