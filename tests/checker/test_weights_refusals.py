"""The weights reader's refusals, each by its own reason, at the documented limits (checker-only,
hand-made safetensors bytes). Each test kills the mutants named in its docstring (applied by hand)."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from checker.errors import OutOfBudget, Reject
from checker.safetensors import SHAPES, parse_weights
from test_mutant_kills import _safetensors


def _model(V: int, M: int, K: int = 2, H: int = 1) -> dict[str, np.ndarray]:
    dims = {"1": 1, "V": V, "K": K, "M": M, "H": H}
    return {n: np.zeros([dims[d] for d in s.split()], dtype=np.float32) for n, s in SHAPES.items()}


def _with_header(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def test_the_parameter_cap_is_2_to_the_22_values():
    """4,194,304 float32 values in all: d_vocab 1000 x d_model 2048 (2 V M about 4.1M) is read, d_vocab
    1024 (2 V M = 2^22 alone) is OutOfBudget. Kills safetensors.py:21's `1 << 22` -> 21, 23."""
    assert parse_weights(_safetensors(_model(1000, 2048))).d_vocab == 1000
    with pytest.raises(OutOfBudget, match="parameters"):
        parse_weights(_safetensors(_model(1024, 2048)))


def test_too_short_for_a_header_length():
    """Fewer than 8 bytes: Reject "no header length" (7 bytes included). Kills safetensors.py:55's
    8 -> 7."""
    for n in (0, 7):
        with pytest.raises(Reject, match="no header length"):
            parse_weights(b"\0" * n)


def test_a_header_length_is_checked_against_the_file():
    """A header length past the file's end is "truncated or header length invalid"; one that ends
    exactly at the file's end is read (and its JSON judged). Kills safetensors.py:58's `+` -> `-` and
    `>` -> `>=`."""
    text = json.dumps({"a": 1}).encode()
    with pytest.raises(Reject, match="header length invalid"):
        parse_weights(struct.pack("<Q", len(text) + 1) + text)
    with pytest.raises(Reject, match="unsupported architecture"):
        parse_weights(struct.pack("<Q", len(text)) + text)


@pytest.mark.parametrize("shape", [[1, 1, 1, 1], 5])
def test_a_shape_must_be_a_list_of_at_most_3_dims(shape):
    """Kills safetensors.py:92's `or` -> `and` and `> 3` -> `> 4`: the refusal is _shape's own."""
    data = _safetensors(_model(4, 2))
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header["embed.W_E"]["shape"] = shape
    with pytest.raises(Reject, match="malformed shape or data_offsets"):
        parse_weights(_with_header(header, data[8 + n:]))


def test_offsets_outside_the_buffer_are_refused_by_name():
    """A tensor whose offsets match its size but lie past the buffer: Reject "data_offsets do not match
    shape or file is truncated". Kills safetensors.py:97's `or` -> `and`."""
    data = _safetensors(_model(4, 2))
    (n,) = struct.unpack("<Q", data[:8])
    header, buf = json.loads(data[8:8 + n]), data[8 + n:]
    b, e = header["unembed.b_U"]["data_offsets"]
    header["unembed.b_U"]["data_offsets"] = [b + len(buf), e + len(buf)]
    with pytest.raises(Reject, match="data_offsets do not match shape or file is truncated"):
        parse_weights(_with_header(header, buf))
