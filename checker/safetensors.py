"""A strict, stdlib-only safetensors reader: little-endian float32 tensors with TransformerLens names.

Format: 8-byte little-endian header length N, N bytes of JSON header, then the raw data buffer.
Anything unexpected (other dtypes, overlapping or uncovered bytes, NaN/Inf, wrong shapes) is refused.
"""
from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass

import numpy as np

MAX_FILE_BYTES = 1 << 30
MAX_HEADER_BYTES = 1 << 20

NAMES = ("embed.W_E", "pos_embed.W_pos", "blocks.0.attn.W_Q", "blocks.0.attn.W_K",
         "blocks.0.attn.W_V", "blocks.0.attn.W_O", "blocks.0.attn.b_Q", "blocks.0.attn.b_K",
         "blocks.0.attn.b_V", "blocks.0.attn.b_O", "unembed.W_U", "unembed.b_U")


class WeightsError(Exception):
    """The weights file is unreadable or not a model this checker understands."""


@dataclass(frozen=True)
class Weights:
    sha256: str
    tensors: dict[str, np.ndarray]  # float32, shapes validated
    k: int
    d_vocab: int
    d_model: int
    d_head: int


def read_weights(path: str) -> Weights:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise WeightsError(f"cannot read weights {path!r}: {e.strerror or e}") from None
    if len(data) > MAX_FILE_BYTES:
        raise WeightsError("weights file larger than 1 GiB")
    return parse_weights(data)


def parse_weights(data: bytes) -> Weights:
    digest = hashlib.sha256(data).hexdigest()
    if len(data) < 8:
        raise WeightsError("weights file truncated (no header length)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise WeightsError("weights file truncated or header length invalid")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise WeightsError("weights header is not valid JSON") from None
    if not isinstance(header, dict):
        raise WeightsError("weights header is not a JSON object")
    header.pop("__metadata__", None)
    if set(header) != set(NAMES):
        extra, missing = set(header) - set(NAMES), set(NAMES) - set(header)
        raise WeightsError(f"unsupported architecture: unexpected tensors {sorted(extra)}, "
                           f"missing {sorted(missing)}")
    buf = data[8 + n:]
    tensors = {name: _tensor(name, header[name], buf) for name in NAMES}
    _check_coverage(header, len(buf))
    return _validated(digest, tensors)


def _tensor(name: str, info: object, buf: bytes) -> np.ndarray:
    if not isinstance(info, dict) or info.get("dtype") != "F32":
        raise WeightsError(f"{name}: only float32 (F32) tensors are accepted")
    shape, offsets = info.get("shape"), info.get("data_offsets")
    if (not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape)
            or not isinstance(offsets, list) or len(offsets) != 2
            or not all(type(o) is int for o in offsets)):
        raise WeightsError(f"{name}: malformed shape or data_offsets")
    begin, end = offsets
    if not 0 <= begin <= end <= len(buf) or end - begin != 4 * int(np.prod(shape, dtype=np.int64)):
        raise WeightsError(f"{name}: data_offsets do not match shape or file is truncated")
    arr = np.frombuffer(buf[begin:end], dtype="<f4").reshape(shape).astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise WeightsError(f"{name}: contains NaN or infinite values")
    return arr


def _check_coverage(header: dict, size: int) -> None:
    spans = sorted(tuple(info["data_offsets"]) for info in header.values())
    pos = 0
    for begin, end in spans:
        if begin != pos:
            raise WeightsError("tensor data overlaps or leaves gaps in the buffer")
        pos = end
    if pos != size:
        raise WeightsError("trailing bytes after the tensor data")


def _validated(digest: str, t: dict[str, np.ndarray]) -> Weights:
    if t["embed.W_E"].ndim != 2 or t["pos_embed.W_pos"].ndim != 2:
        raise WeightsError("W_E and W_pos must be matrices")
    d_vocab, d_model = t["embed.W_E"].shape
    k = t["pos_embed.W_pos"].shape[0]
    d_head = t["blocks.0.attn.W_Q"].shape[-1] if t["blocks.0.attn.W_Q"].ndim == 3 else -1
    expected = {
        "embed.W_E": (d_vocab, d_model), "pos_embed.W_pos": (k, d_model),
        "blocks.0.attn.W_Q": (1, d_model, d_head), "blocks.0.attn.W_K": (1, d_model, d_head),
        "blocks.0.attn.W_V": (1, d_model, d_head), "blocks.0.attn.W_O": (1, d_head, d_model),
        "blocks.0.attn.b_Q": (1, d_head), "blocks.0.attn.b_K": (1, d_head),
        "blocks.0.attn.b_V": (1, d_head), "blocks.0.attn.b_O": (d_model,),
        "unembed.W_U": (d_model, d_vocab), "unembed.b_U": (d_vocab,),
    }
    for name, shape in expected.items():
        if t[name].shape != shape:
            raise WeightsError(f"unsupported architecture: {name} has shape {t[name].shape}, "
                               f"expected {shape} (one layer, one head)")
    if min(d_vocab, d_model, d_head, k) < 1:
        raise WeightsError("empty dimension")
    return Weights(digest, t, k, d_vocab, d_model, d_head)
