"""A strict, stdlib-only safetensors reader: little-endian float32 tensors with TransformerLens names.

Format: 8-byte little-endian header length N, N bytes of JSON header, then the raw data buffer.
Anything unexpected (other dtypes, overlapping or uncovered bytes, NaN/Inf, wrong shapes) is refused.
"""
from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import dataclass

import numpy as np

from checker.errors import OutOfBudget, Reject
from checker.files import read_file

MAX_FILE_BYTES = 1 << 26   # 64 MiB
MAX_HEADER_BYTES = 1 << 20
MAX_PARAMETERS = 1 << 22   # float32 values in all tensors together (16 MiB)

# Every tensor and its shape: V = d_vocab, K = positions, M = d_model, H = d_head (one layer, one head).
SHAPES = {"embed.W_E": "V M", "pos_embed.W_pos": "K M", "blocks.0.attn.W_Q": "1 M H", "blocks.0.attn.W_K": "1 M H",
          "blocks.0.attn.W_V": "1 M H", "blocks.0.attn.W_O": "1 H M", "blocks.0.attn.b_Q": "1 H",
          "blocks.0.attn.b_K": "1 H", "blocks.0.attn.b_V": "1 H", "blocks.0.attn.b_O": "M", "unembed.W_U": "M V",
          "unembed.b_U": "V"}
NAMES = tuple(SHAPES)


@dataclass(frozen=True)
class Weights:
    sha256: str
    tensors: dict[str, np.ndarray]  # float32, shapes validated
    k: int
    d_vocab: int
    d_model: int
    d_head: int


def read_weights(path: str, sha256: str | None = None) -> Weights:
    """The model in the file; with sha256, a file with another SHA-256 is rejected before it is parsed.
    Unreadable: Malformed (exit 2); larger than MAX_FILE_BYTES: OutOfBudget; not a model: Reject."""
    data = read_file(path, MAX_FILE_BYTES, "weights", cap=OutOfBudget)
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256:
        raise Reject(f"weights {path} have SHA-256 {digest}, the certificate names {sha256}")
    return parse_weights(data, digest)


def parse_weights(data: bytes, digest: str | None = None) -> Weights:
    """The model in `data` (whose SHA-256 is `digest`, if already computed), or Reject: the file
    read, so whatever is wrong with it means it is not a model this checker understands."""
    digest = digest or hashlib.sha256(data).hexdigest()
    if len(data) < 8:
        raise Reject("weights file truncated (no header length)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise Reject("weights file truncated or header length invalid")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or an integer past int's digit limit
        raise Reject("weights header is not valid JSON") from None
    if not isinstance(header, dict):
        raise Reject("weights header is not a JSON object")
    header.pop("__metadata__", None)
    if set(header) != set(NAMES):
        extra, missing = set(header) - set(NAMES), set(NAMES) - set(header)
        raise Reject(f"unsupported architecture: unexpected tensors {sorted(extra)}, "
                     f"missing {sorted(missing)}")
    buf = data[8 + n:]
    size = sum(math.prod(_shape(name, header[name], len(buf))) for name in NAMES)
    spans = sorted(tuple(info["data_offsets"]) for info in header.values())
    if [b for b, _ in spans] != [0] + [e for _, e in spans[:-1]]:
        raise Reject("tensor data overlaps or leaves gaps in the buffer")
    if spans[-1][1] != len(buf):
        raise Reject("trailing bytes after the tensor data")
    if size > MAX_PARAMETERS:
        raise OutOfBudget(f"the model has {size:,} parameters, more than the checker's cap of {MAX_PARAMETERS:,}")
    t = {name: np.frombuffer(buf[slice(*header[name]["data_offsets"])], dtype="<f4").reshape(header[name]["shape"])
         .astype(np.float32) for name in NAMES}
    for name, arr in t.items():
        if not np.all(np.isfinite(arr)):
            raise Reject(f"{name}: contains NaN or infinite values")
    return _validated(digest, t)


def _shape(name: str, info: object, size: int) -> list[int]:
    if not isinstance(info, dict) or info.get("dtype") != "F32":
        raise Reject(f"{name}: only float32 (F32) tensors are accepted")
    shape, offsets = info.get("shape"), info.get("data_offsets")
    if (not isinstance(shape, list) or len(shape) > 3 or not all(type(s) is int and s >= 0 for s in shape)
            or not isinstance(offsets, list) or len(offsets) != 2
            or not all(type(o) is int for o in offsets)):
        raise Reject(f"{name}: malformed shape or data_offsets")
    begin, end = offsets
    if not 0 <= begin <= end <= size or end - begin != 4 * math.prod(shape):
        raise Reject(f"{name}: data_offsets do not match shape or file is truncated")
    return shape


def _validated(digest: str, t: dict[str, np.ndarray]) -> Weights:
    if t["embed.W_E"].ndim != 2 or t["pos_embed.W_pos"].ndim != 2:
        raise Reject("W_E and W_pos must be matrices")
    (d_vocab, d_model), k = t["embed.W_E"].shape, t["pos_embed.W_pos"].shape[0]
    d_head = t["blocks.0.attn.W_Q"].shape[-1] if t["blocks.0.attn.W_Q"].ndim == 3 else -1
    dims = {"1": 1, "V": d_vocab, "K": k, "M": d_model, "H": d_head}
    for name, spec in SHAPES.items():
        if t[name].shape != (shape := tuple(dims[d] for d in spec.split())):
            raise Reject(f"unsupported architecture: {name} has shape {t[name].shape}, "
                         f"expected {shape} (one layer, one head)")
    if min(d_vocab, d_model, d_head, k) < 1:
        raise Reject("empty dimension")
    return Weights(digest, t, k, d_vocab, d_model, d_head)
