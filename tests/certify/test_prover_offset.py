"""The prover on models whose logits all carry a common offset (issue #11): b_U = 2**60 for every
logit, or a row of W_U at 2**60 for every logit, shifts every logit of an input alike, so the exact
accuracy and every bound are those of the model without it. The prover's float64 paths remove the
offset before rounding (FloatModel.unembed), so `certify run` writes the same certificates and the
checker accepts them (before: the cubic prover claimed too much and was rejected). All-zero weights:
every input a tie, every certificate accepted with bound 0."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from certify.cli import main
from conftest import write_state

STRATEGIES = ["brute-force", "cubic", "subcubic"]


def _run(weights: Path, out: Path) -> dict[str, dict]:
    args = ["run", "--model", str(weights), "--out", str(out)]
    for s in STRATEGIES:
        args += ["--strategy", s]
    assert main(args) == 0  # every certificate written and accepted
    return {s: json.loads((out / f"{weights.stem}.{s}.json").read_text()) for s in STRATEGIES}


@pytest.mark.parametrize("shift", ["b_U", "W_U row"])
def test_offset_model_certificates_accepted_with_the_same_bounds(tmp_path, tiny_trained_state, shift):
    plain = {**tiny_trained_state, "unembed.b_U": np.zeros(5, dtype=np.float32),
             "unembed.W_U": tiny_trained_state["unembed.W_U"].copy()}
    plain["unembed.W_U"][0] = 0
    shifted = {**plain, "unembed.b_U": plain["unembed.b_U"].copy(), "unembed.W_U": plain["unembed.W_U"].copy()}
    (shifted["unembed.b_U"] if shift == "b_U" else shifted["unembed.W_U"][0])[:] = 2.0 ** 60
    certs = [_run(write_state(state, tmp_path / f"{name}.safetensors"), tmp_path / name)
             for name, state in (("plain", plain), ("shifted", shifted))]
    for s in STRATEGIES:
        assert certs[0][s]["claim"]["accuracy_lower_bound"] == certs[1][s]["claim"]["accuracy_lower_bound"], s
        assert certs[0][s]["evidence"] == certs[1][s]["evidence"], s
    assert certs[1]["brute-force"]["evidence"]["correct_inputs"] > 0


def test_all_zero_weights_certificates_accepted(tmp_path, tiny_trained_state):
    zero = {k: np.zeros_like(v) for k, v in tiny_trained_state.items()}
    certs = _run(write_state(zero, tmp_path / "zero.safetensors"), tmp_path / "zero")
    assert all(c["claim"]["accuracy_lower_bound"] in (0, "0", "0/1") for c in certs.values()), \
        {s: c["claim"]["accuracy_lower_bound"] for s, c in certs.items()}


def test_brute_force_prover_refuses_what_the_checker_caps(tmp_path):
    """The d_vocab = 1024, K = 2 file: the brute-force prover's [V, K, V, V] table would be 16 GiB
    (certify run was killed for memory); it does not apply, with the checker's cap as the reason."""
    from certify.model import Config
    from certify.paths import load_float_model
    from certify.strategies.brute_force import too_large
    from conftest import zero_state
    path = write_state(zero_state(Config(2, 1024, 1, 1)), tmp_path / "v1024.safetensors")
    reason = too_large(load_float_model(path))
    assert reason and "d_vocab^3 K" in reason and "16,777,216" in reason, reason
