"""The checker's weights reader: bit-exact, hashed, and strict about everything else."""
from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save

from certify.model import Config
from checker.check import check_file
from checker.errors import Malformed, Reject
from checker.safetensors import NAMES, parse_weights, read_weights
from conftest import make_certificate, random_state, write_state


def _bytes(state: dict[str, np.ndarray]) -> bytes:
    return save({k: np.ascontiguousarray(v) for k, v in state.items()})


def _header(data: bytes) -> tuple[dict, int]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), 8 + n


def _with_header(header: dict, buf: bytes) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + buf


@pytest.fixture()
def state():
    return random_state(Config(3, 5, 6, 4), 3, biases=True)


def test_parse_valid_is_bit_exact(tiny_weights: Path, tiny_trained_state):
    data = tiny_weights.read_bytes()
    w = parse_weights(data)
    assert w.sha256 == hashlib.sha256(data).hexdigest()
    assert (w.k, w.d_vocab, w.d_model, w.d_head) == (3, 5, 6, 4)
    for name in NAMES:
        assert w.tensors[name].dtype == np.float32
        assert np.array_equal(w.tensors[name].view(np.uint32), tiny_trained_state[name].view(np.uint32))
    assert read_weights(str(tiny_weights)).sha256 == w.sha256


def test_tampered_byte_rejected_sha(tmp_path, tiny_cert, tiny_weights):
    cert_path, _ = tiny_cert
    data = bytearray(tiny_weights.read_bytes())
    _, start = _header(bytes(data))
    data[start + 5] ^= 0x01  # low mantissa bit of one weight: still a valid model
    tiny_weights.write_bytes(bytes(data))
    parse_weights(bytes(data))  # the file itself is fine ...
    r = check_file(str(cert_path))
    assert (r.verdict, r.exit_code) == ("rejected", 1)
    assert "SHA-256" in r.reason  # ... but it is not the certified one


def test_tampered_metadata_rejected_sha(tiny_cert, tiny_weights):
    """Even bytes that do not change any weight change the hash: the file is what is certified."""
    cert_path, _ = tiny_cert
    data = tiny_weights.read_bytes()
    padded = _pad_header(data)
    assert padded != data
    assert all(np.array_equal(parse_weights(padded).tensors[n], parse_weights(data).tensors[n])
               for n in NAMES)
    tiny_weights.write_bytes(padded)
    r = check_file(str(cert_path))
    assert r.verdict == "rejected" and "SHA-256" in r.reason


def _pad_header(data: bytes) -> bytes:
    header, start = _header(data)
    return _with_header(header, data[start:])  # re-serialised header: same tensors, new bytes


@pytest.mark.parametrize("cut", [0, 4, 8, 20, -1, -4])
def test_truncated_rejected(tmp_path, tiny_cert, tiny_weights, cut):
    cert_path, _ = tiny_cert
    data = tiny_weights.read_bytes()
    short = data[:cut] if cut >= 0 else data[:cut]
    with pytest.raises(Reject, match="truncated|header|JSON|offsets|trailing"):
        parse_weights(short)
    tiny_weights.write_bytes(short)
    r = check_file(str(cert_path))
    assert (r.verdict, r.exit_code) == ("rejected", 1)
    assert r.reason


def test_swapped_weights_rejected(tmp_path, tiny_cert, state):
    cert_path, _ = tiny_cert
    other = write_state(state, tmp_path / "other.safetensors")  # same shapes, different model
    r = check_file(str(cert_path), weights=str(other))
    assert (r.verdict, r.exit_code) == ("rejected", 1)
    assert "SHA-256" in r.reason


def test_swapped_weights_with_matching_claim_still_checked(tmp_path, state):
    """A certificate made for model A, re-pointed (sha and all) at model B with A's count: rejected
    unless B happens to have the same count."""
    a = write_state(state, tmp_path / "a.safetensors")
    cert_path = tmp_path / "a.json"
    cert = make_certificate(a, cert_path)
    state2 = {k: v.copy() for k, v in state.items()}
    state2["unembed.W_U"] = -state2["unembed.W_U"]
    b = write_state(state2, tmp_path / "b.safetensors")
    cert["model"] = {"sha256": hashlib.sha256(b.read_bytes()).hexdigest(), "path": "b.safetensors"}
    cert_path.write_text(json.dumps(cert))
    r = check_file(str(cert_path))
    assert (r.verdict, r.exit_code) == ("rejected", 1)
    assert "evidence.correct_inputs" in r.reason


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_weight_rejected(tmp_path, state, bad):
    state["blocks.0.attn.W_V"][0, 2, 1] = bad
    data = _bytes(state)
    with pytest.raises(Reject, match="NaN"):
        parse_weights(data)
    # end to end: a certificate whose sha names exactly this file
    p = tmp_path / "nan.safetensors"
    p.write_bytes(data)
    cert = _fake_cert(p, 3, 5)
    r = check_file(str(cert))
    assert (r.verdict, r.exit_code) == ("rejected", 1)
    assert "NaN" in r.reason


def _fake_cert(weights: Path, k: int, v: int) -> Path:
    c = {"format": "certify-certificate", "version": 1,
         "claim": {"task": "max-of-k", "k": k, "d_vocab": v, "semantics": "exact-real",
                   "accuracy_lower_bound": 0},
         "model": {"sha256": hashlib.sha256(weights.read_bytes()).hexdigest(), "path": weights.name},
         "strategy": {"name": "brute-force", "parameters": {}},
         "evidence": {"correct_inputs": 0, "total_inputs": v ** k}}
    p = weights.with_suffix(".json")
    p.write_text(json.dumps(c))
    return p


def test_extra_tensor_rejected_as_unsupported(tmp_path, state):
    state["blocks.0.mlp.W_in"] = np.ones((6, 8), dtype=np.float32)
    data = _bytes(state)
    with pytest.raises(Reject, match="unsupported"):
        parse_weights(data)
    p = tmp_path / "mlp.safetensors"
    p.write_bytes(data)
    r = check_file(str(_fake_cert(p, 3, 5)))
    assert (r.verdict, r.exit_code) == ("rejected", 1) and "unsupported" in r.reason


def test_missing_tensor_rejected(state):
    del state["unembed.b_U"]
    with pytest.raises(Reject, match="unsupported"):
        parse_weights(_bytes(state))


@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.int32])
def test_other_dtype_rejected(tmp_path, state, dtype):
    state["embed.W_E"] = state["embed.W_E"].astype(dtype)
    data = _bytes(state)
    with pytest.raises(Reject, match="float32"):
        parse_weights(data)
    p = tmp_path / "f16.safetensors"
    p.write_bytes(data)
    r = check_file(str(_fake_cert(p, 3, 5)))
    assert (r.verdict, r.exit_code) == ("rejected", 1) and "float32" in r.reason


def test_two_heads_rejected_as_unsupported(state):
    for n in "QKV":
        state[f"blocks.0.attn.W_{n}"] = np.concatenate([state[f"blocks.0.attn.W_{n}"]] * 2)
        state[f"blocks.0.attn.b_{n}"] = np.concatenate([state[f"blocks.0.attn.b_{n}"]] * 2)
    state["blocks.0.attn.W_O"] = np.concatenate([state["blocks.0.attn.W_O"]] * 2)
    with pytest.raises(Reject, match="unsupported architecture"):
        parse_weights(_bytes(state))


def test_overlapping_offsets_rejected(state):
    data = _bytes(state)
    header, start = _header(data)
    buf = data[start:]
    a, b = "unembed.b_U", "blocks.0.attn.b_O"
    # point b_U at the first bytes of b_O's data and append 20 junk bytes to keep the size
    size = header[a]["data_offsets"][1] - header[a]["data_offsets"][0]
    header[a]["data_offsets"] = [header[b]["data_offsets"][0], header[b]["data_offsets"][0] + size]
    with pytest.raises(Reject):
        parse_weights(_with_header(header, buf))


def test_trailing_bytes_rejected(state):
    with pytest.raises(Reject, match="trailing"):
        parse_weights(_bytes(state) + b"\0\0\0\0")


@pytest.mark.parametrize("n", [2 ** 63, 2 ** 20 + 1])
def test_bad_header_length_rejected(state, n):
    data = _bytes(state)
    with pytest.raises(Reject):
        parse_weights(struct.pack("<Q", n) + data[8:])


def test_header_not_object_rejected():
    with pytest.raises(Reject):
        parse_weights(_with_header([], b""))  # type: ignore[arg-type]
    with pytest.raises(Reject):
        parse_weights(struct.pack("<Q", 3) + b"\xff\xfe{")


def test_missing_weights_file(tmp_path):
    with pytest.raises(Malformed, match="cannot read"):
        read_weights(str(tmp_path / "nope.safetensors"))
