"""Differential: checker's exact count == certify's prover == an independent 60-digit mpmath oracle."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certify.model import Config
from certify.train import train
from conftest import (checker_count, model_state, oracle_count, prover_count, random_state,
                      write_state)


def _all_three(state, path: Path) -> tuple[int, int, int]:
    write_state(state, path)
    return oracle_count(state), checker_count(path), prover_count(path)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(v=st.integers(5, 8), k=st.integers(2, 3), d_model=st.integers(4, 8), d_head=st.integers(4, 8),
       seed=st.integers(0, 2**31), biases=st.booleans(), scale=st.sampled_from([0.5, 1.0, 3.0]))
def test_random_models_agree_with_oracle(tmp_path, v, k, d_model, d_head, seed, biases, scale):
    state = random_state(Config(k, v, d_model, d_head), seed, scale=scale, biases=biases)
    oracle, checked, proved = _all_three(state, tmp_path / f"r{seed}.safetensors")
    assert checked == oracle
    assert proved == oracle


@pytest.mark.parametrize("k,v,d_model,d_head,seed,biases", [
    (2, 8, 8, 8, 1, False),
    (3, 6, 4, 4, 2, True),
    (4, 5, 6, 4, 3, False),
    (4, 6, 8, 8, 4, True),
])
def test_fixed_random_models(tmp_path, k, v, d_model, d_head, seed, biases):
    state = random_state(Config(k, v, d_model, d_head), seed, biases=biases)
    oracle, checked, proved = _all_three(state, tmp_path / "m.safetensors")
    assert 0 < oracle < v ** k  # non-degenerate: some right, some wrong
    assert (checked, proved) == (oracle, oracle)


@pytest.mark.parametrize("k,v,d,steps,seed,biases", [
    (2, 8, 8, 200, 0, False),
    (3, 7, 6, 300, 1, False),
    (3, 6, 8, 300, 2, True),
    (4, 5, 8, 300, 3, True),
])
def test_briefly_trained_models(tmp_path, k, v, d, steps, seed, biases):
    model, _ = train(Config(k, v, d, d), seed, steps=steps, progress=False)
    state = model_state(model)
    if biases:  # trained biases are frozen at zero; make them non-zero before saving
        rng = np.random.default_rng(seed)
        for name in state:
            if ".b_" in name:
                state[name] = (rng.normal(size=state[name].shape) * 0.1).astype(np.float32)
    oracle, checked, proved = _all_three(state, tmp_path / "t.safetensors")
    assert (checked, proved) == (oracle, oracle)


def test_trained_8_to_the_4(tmp_path):
    """The largest size the brief allows: 8**4 = 4096 inputs through the oracle."""
    model, _ = train(Config(4, 8, 8, 8), 5, steps=400, progress=False)
    state = model_state(model)
    oracle, checked, proved = _all_three(state, tmp_path / "big.safetensors")
    assert 0 < oracle
    assert (checked, proved) == (oracle, oracle)


def test_large_attention_scores_agree_with_oracle(tmp_path):
    """Regression: checker/rules/brute_force.py _per_logit used to treat the j == m column as a
    competitor; when every attention-weight enclosure of an input underflows (w_lo <= 0) its bounds
    are inf * w_lo = -inf / NaN, it became 'undecided' and _exact_gap_sign(j = m) == 0 counted a
    correct input wrong (checker 13 vs exact 33 on this model)."""
    state = random_state(Config(3, 5, 6, 4), 4)
    state["blocks.0.attn.W_Q"] *= 60  # scores spread over thousands: exp underflows float64
    state["blocks.0.attn.W_K"] *= 60
    oracle, checked, proved = _all_three(state, tmp_path / "sharp.safetensors")
    assert proved == oracle
    assert checked == oracle


def test_partly_zero_bias_agrees_with_oracle(tmp_path):
    state = random_state(Config(2, 5, 4, 4), 9)
    state["unembed.b_U"] = np.array([0.1, 0.0, -0.2, 0.0, 0.3], dtype=np.float32)
    oracle, checked, proved = _all_three(state, tmp_path / "zb.safetensors")
    assert (checked, proved) == (oracle, oracle)
