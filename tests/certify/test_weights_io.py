"""certify's own weight files and certificates: round trips and determinism."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import torch

from certify.certificate import certificate_dict, model_reference, write_certificate
from certify.model import Config, MaxOfK
from certify.paths import load_float_model
from certify.strategies.base import Proof
from certify.weights import load_model, read_metadata, save_model, sha256_file
from conftest import TINY_CFG, model_state, random_state, write_state


def test_save_model_is_deterministic(tmp_path):
    torch.manual_seed(0)
    model = MaxOfK(TINY_CFG)
    digests = {save_model(model, tmp_path / f"m{i}.safetensors", {"seed": 0, "steps": 1})
               for i in range(30)}
    assert len(digests) == 1


def test_save_load_round_trip(tmp_path):
    state = random_state(Config(3, 5, 6, 4), 1, biases=True)
    path = write_state(state, tmp_path / "m.safetensors")
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    back = model_state(load_model(path))
    for k, v in state.items():
        assert back[k].tobytes() == v.tobytes()
    fm = load_float_model(path)
    assert (fm.k, fm.d_vocab, fm.d_head) == (3, 5, 4)
    assert read_metadata(path)["config"] == {"k": 3, "d_vocab": 5, "d_model": 6, "d_head": 4}


def test_model_forward_matches_float_paths(tmp_path):
    """certify.paths' decomposition reproduces the torch model's logits up to a common offset per input
    (the float paths subtract one from the unembedding; only logit differences decide)."""
    state = random_state(Config(3, 5, 6, 4), 2, biases=True)
    path = write_state(state, tmp_path / "m.safetensors")
    model, fm = load_model(path), load_float_model(path)
    toks = torch.tensor([[0, 4, 2], [3, 3, 1], [4, 0, 0]])
    with torch.no_grad():
        ref = model(toks).double().numpy()
    qk, ov, direct = fm.qk() / np.sqrt(fm.d_head), fm.ov(), fm.direct()
    for r, t in enumerate(toks.numpy()):
        s = qk[t[-1], t, np.arange(3)]
        a = np.exp(s - s.max())
        a /= a.sum()
        logits = direct[t[-1]] + a @ ov[t, np.arange(3)]
        np.testing.assert_allclose(logits - logits[0], ref[r] - ref[r][0], rtol=1e-5, atol=1e-5)


def test_certificate_writer(tmp_path):
    from fractions import Fraction
    proof = Proof("brute-force", Fraction(6, 8), {}, {"correct_inputs": 6, "total_inputs": 8})
    w = tmp_path / "models" / "m.safetensors"
    cert_path = tmp_path / "certs" / "c.json"
    ref = model_reference(w, cert_path, None)
    assert ref == "../models/m.safetensors"
    assert model_reference(w, cert_path, "k4-v64-s123") == "zoo:k4-v64-s123"
    c = certificate_dict(proof, 3, 2, "a" * 64, ref)
    assert c["claim"]["accuracy_lower_bound"] == "3/4"
    write_certificate(cert_path, c)
    first = cert_path.read_bytes()
    write_certificate(cert_path, c)
    assert cert_path.read_bytes() == first
    assert json.loads(first) == c
