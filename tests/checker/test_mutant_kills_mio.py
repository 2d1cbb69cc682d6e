"""Behaviour of the checker's parser, file loader, driver, CLI and op counter that mutation testing
showed untested, or tested only by slow tests (benchmarks/mutate_checker.py; which test kills which
mutant: benchmarks/mutation/classes.txt). Committed fixtures or models built here, no prover.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import struct
import types
from fractions import Fraction
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from checker.certificate import parse_certificate
from checker.check import Result, check_file, resolve_model_path, zoo_dir
from checker.cli import main, parse_fraction, write_junit
from checker.errors import Malformed, OutOfBudget, Reject
from checker.files import read_file
from checker.rules import brute_force
from checker.safetensors import parse_weights, read_weights
from conftest import FIXTURES, checker_shapes, safetensors_bytes
from test_mutant_kills import _cert, _parse
from test_mutant_kills_core import _zeros
from test_pinned import check_beside_its_model


# ---------------------------------------------------------------- certificate.py: every refusal by its reason

@pytest.mark.parametrize("changes, message", [
    ({"version": 2}, "unsupported certificate version 2"),
    ({"version": True}, "unsupported certificate version True"),      # == 1, but not an int
    ({"version": "1"}, "unsupported certificate version '1'"),
    ({"claim__task": "min-of-k"}, "unsupported task 'min-of-k'"),
    ({"claim__accuracy_lower_bound": "-1/2"}, r"must lie in \[0, 1\]"),
    ({"claim__accuracy_lower_bound": -1}, r"must lie in \[0, 1\]"),
    ({"claim__accuracy_lower_bound": "3/2"}, r"must lie in \[0, 1\]"),
    ({"claim__accuracy_lower_bound": 2}, r"must lie in \[0, 1\]"),
    ({"model__sha256": "42990958FAFC3B2D17F9CB334E87291C02665A364745CCA273E3A44AF0D913F5"},
     "model.sha256 must be 64 lowercase hex digits"),
    ({"model__sha256": 5}, "model.sha256 must be 64 lowercase hex digits"),
    ({"claim__extra": 1}, r"claim: unknown field\(s\) \['extra'\]"),
    ({"model__size": 1}, r"model: unknown field\(s\) \['size'\]"),
    ({"claim__k": 0}, "claim.k: expected a positive integer"),
    ({"claim__k": "3"}, "claim.k: expected a positive integer"),
    ({"claim__d_vocab": -5}, "claim.d_vocab: expected a positive integer"),
    ({"claim__d_vocab": True}, "claim.d_vocab: expected a positive integer"),
])
def test_each_bad_claim_or_model_field_is_refused_by_its_reason(changes, message):
    """The parser refuses each bad field itself, with its own reason (never a later check's, a
    crash, or an accepted parse). Catches a check that needs both of its conditions (a version 2 or
    true, k = 0 then parsed; k = "3" crashed comparing a str with 1), a refusal dropped, and a bound
    of -1/2 parsed."""
    with pytest.raises(Malformed, match=message):
        _parse(_cert(**changes))


def test_a_claim_about_one_token_and_one_position_parses():
    """k = 1 and d_vocab = 1 are positive integers: the parser takes them (whether a rule can prove
    anything about such a model is the rule's business). Catches the smallest claim refused (`value
    < 2`)."""
    cert = _parse(_cert(claim__k=1, claim__d_vocab=1))
    assert (cert.k, cert.d_vocab) == (1, 1)


# ---------------------------------------------------------------- check.py: the driver

def test_a_claim_about_other_dimensions_than_the_weights_is_rejected_by_name(tmp_path):
    """The weights must be a model of the claimed k and d_vocab: a certificate naming the tiny model
    (k 3, vocabulary 5) but claiming k 4 or vocabulary 6 is rejected for exactly that, before any
    rule runs. Catches the refusal dropped: the rule then ran on a model the claim is not about, and
    a claim of k 2 (or 1) passed, the brute-force rule dividing the tiny model's 49 correct inputs
    by d_vocab^k = 25 (5) of the claim: "proved >= 49/25", a false certificate."""
    for changes, claimed in [({"claim__k": 4}, "k=4, d_vocab=5"), ({"claim__d_vocab": 6}, "k=3, d_vocab=6"),
                             ({"claim__k": 2}, "k=2, d_vocab=5"), ({"claim__k": 1, "claim__d_vocab": 4}, "k=1, d_vocab=4")]:
        r = check_beside_its_model(_cert(**changes), tmp_path)
        assert (r.verdict, r.exit_code, r.bound) == ("rejected", 1, None)
        assert r.reason == f"certificate claims {claimed}; the weights have k=3, d_vocab=5"


def test_the_brute_force_bound_divides_by_the_weights_inputs_whatever_the_claim():
    """A second guard behind that refusal: the brute-force rule, run on the tiny model (k 3,
    vocabulary 5) for a certificate claiming k 2, counts over the weights' 5^3 inputs. Catches the
    rule dividing by the claim's d_vocab^k (49/25, a bound above 1, once check.py's refusal is gone)."""
    cert = _parse(_cert(claim__k=2))
    assert brute_force.rule(cert, read_weights(str(FIXTURES / cert.model_path))) == Fraction(49, 125)


def test_a_zoo_model_path_names_the_zoo_file_and_another_is_beside_the_certificate(tmp_path):
    """'zoo:NAME' is zoo_dir()/NAME.safetensors; any other path is relative to the certificate's
    folder. Catches the prefix cut one character short (':NAME.safetensors': no such file)."""
    cert = str(tmp_path / "c.json")
    assert resolve_model_path("zoo:tiny-k3", cert) == str(zoo_dir() / "tiny-k3.safetensors")
    assert resolve_model_path("m.safetensors", cert) == str(tmp_path.resolve() / "m.safetensors")


def test_min_accuracy_is_met_by_the_bound_itself_and_not_by_less(tmp_path, capsys):
    """--min-accuracy X accepts a verified bound >= X and rejects (exit 1) one below it; the tiny
    certificate's bound is 49/125. Catches the comparison reversed."""
    cert = str(FIXTURES / "tiny.brute-force.json")
    at = check_file(cert, min_accuracy=Fraction(49, 125))
    above = check_file(cert, min_accuracy=Fraction(50, 125))
    assert (at.verdict, at.exit_code, at.bound) == ("accepted", 0, Fraction(49, 125))
    assert (above.verdict, above.exit_code, above.bound) == ("rejected", 1, Fraction(49, 125))
    assert above.reason == "certified bound 49/125 (0.392000) is below the required 2/5 (0.400000)"
    assert main([cert, "--min-accuracy", "0.392"]) == 0 and main([cert, "--min-accuracy", "0.4"]) == 1
    capsys.readouterr()


# ---------------------------------------------------------------- cli.py: arguments, JUnit

def test_a_min_accuracy_lies_in_0_to_1_both_included():
    """parse_fraction reads 0 and 1 (and 0.9 exactly) and refuses anything outside [0, 1]. Catches
    the range test negated, 1 excluded, and 2 allowed."""
    assert (parse_fraction("0"), parse_fraction("1"), parse_fraction(" 0.9 ")) == (0, 1, Fraction(9, 10))
    for bad in ("2", "1.5", "1.0000000001", "-0.1", "-1/3"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"must lie in \[0, 1\]"):
            parse_fraction(bad)


def test_a_bad_command_line_exits_2(capsys):
    """A usage error (unknown option, no certificate, a threshold out of range) is exit 2, as
    argparse's own; --help is 0. Catches a usage error reported as exit 3 and --help as non-zero."""
    cert = str(FIXTURES / "tiny.brute-force.json")
    assert main(["--no-such-option", cert]) == 2
    assert main([]) == 2
    assert main([cert, "--min-accuracy", "2"]) == 2
    assert main(["--help"]) == 0
    capsys.readouterr()


def test_junit_counts_failures_and_errors_apart(tmp_path):
    """The testsuite's failures are the rejected certificates, its errors the ones in error (exit 2
    or 3). Catches the results not in error counted as errors."""
    results = [("a.json", Result("accepted", Fraction(1, 2), "ok", "cubic", 0.25, 5)),
               ("b.json", Result("rejected", None, "no", "cubic", 0.5, 5)),
               ("c.json", Result("rejected", Fraction(1, 3), "below", "cubic", 0.5, 5)),
               ("d.json", Result("error", None, "unreadable", None, 0.0, 0)),
               ("e.json", Result("error", None, "budget", "cubic", 1.0, 9, out_of_budget=True)),
               ("f.json", Result("accepted", Fraction(1, 4), "ok", "cubic", 0.125, 5))]
    write_junit(str(tmp_path / "r.xml"), results)
    suite = ET.parse(tmp_path / "r.xml").getroot()
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "time")} == \
        {"tests": "6", "failures": "2", "errors": "2", "time": "2.375"}
    assert [[child.tag for child in case] for case in suite] == \
        [["system-out"], ["failure"], ["failure"], ["error"], ["error"], ["system-out"]]


# ---------------------------------------------------------------- files.py: reading at most the cap

def test_a_file_of_exactly_the_cap_is_read_whole_and_one_byte_more_is_refused(tmp_path):
    """read_file returns every byte of a file no longer than the limit, and refuses a longer one
    with the cap's exception. Catches a read of limit - 1 bytes (a file of the limit's length then
    came back one byte short, as if within the cap)."""
    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789")
    assert read_file(str(path), 10, "weights") == b"0123456789"
    assert read_file(str(path), 11, "weights") == b"0123456789"
    with pytest.raises(OutOfBudget, match="^weights file larger than the cap of 9 bytes$"):
        read_file(str(path), 9, "weights", cap=OutOfBudget)
    path.write_bytes(b"")
    assert read_file(str(path), 0, "weights") == b""


def test_a_read_error_is_reported_by_its_os_reason(tmp_path, monkeypatch):
    """An OSError while reading an opened regular file (an I/O error: a failing disk, a network file
    system) is Malformed and names the file and the OS's reason, not the errno's repr. Catches the
    errno's repr reported instead of its reason."""
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"x" * 16)

    def failing(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")
    monkeypatch.setattr(os, "fdopen", failing)
    with pytest.raises(Malformed) as e:
        read_file(str(path), 100, "weights")
    assert str(e.value) == f"cannot read weights {str(path)!r}: Input/output error"


# ---------------------------------------------------------------- ops.py: the deadline and the counter

def _clock(monkeypatch, now: float) -> types.SimpleNamespace:
    """checker.ops' clock replaced by one that reads clock.now (only ops.py's view of `time`)."""
    import checker.ops
    clock = types.SimpleNamespace(now=now)
    monkeypatch.setattr(checker.ops, "time", types.SimpleNamespace(monotonic=lambda: clock.now))
    return clock


def test_the_time_limit_is_exceeded_only_after_its_last_instant(monkeypatch):
    """Ops(s): the deadline is s seconds after its creation; poll() fails (OutOfBudget) only once
    the clock is past it, at the deadline itself not yet; Ops() has no deadline. Catches the
    deadline set without a limit or before the start, and the deadline instant itself taken as past."""
    from checker.ops import Ops
    clock = _clock(monkeypatch, 1000.0)
    ops, free = Ops(2.5), Ops()
    assert (ops.deadline, free.deadline) == (1002.5, None)
    clock.now = 1002.5
    ops.poll()
    free.poll()
    clock.now = 1002.75
    with pytest.raises(OutOfBudget, match=r"^time limit of 2.5 s exceeded: the check did not finish"):
        ops.poll()
    free.poll()


def test_the_module_poll_polls_the_active_counter_only(monkeypatch):
    """checker.ops.poll() polls the counter of the enclosing `with ops:` and does nothing outside
    one (the exporters' use). Catches the test for an active counter reversed (no active counter
    then crashed, an active one was never polled)."""
    from checker.ops import Ops, poll
    clock = _clock(monkeypatch, 50.0)
    ops = Ops(1.0)
    clock.now = 52.0
    poll()  # no active counter
    with ops:
        with pytest.raises(OutOfBudget, match="time limit of 1 s exceeded"):
            poll()
    poll()


def test_a_ufunc_into_an_out_array_returns_that_array_and_counts():
    """A counted ufunc with out= writes into the out array and returns that very array (as numpy
    does), and charges one op per entry. Catches a Counted out array handed back to its own
    __array_ufunc__ (endless recursion) and a one-tuple returned instead of the array."""
    from checker.ops import Ops, counted
    x, out = counted(np.array([1.0, 2.0, 3.0])), counted(np.zeros(3))
    plain = np.zeros(3)
    with Ops() as ops:
        r = np.add(x, x, out=out)
        s = np.multiply(x, 3.0, out=plain)
    assert r is out and list(out) == [2.0, 4.0, 6.0] and s is plain and list(plain) == [3.0, 6.0, 9.0]
    assert ops.count == 6


def test_a_product_of_object_matrices_charges_two_ops_per_term():
    """np.dot of exact (object) matrices [2, 3] @ [3, 4]: a multiply and an add per term, 2 * 3 * 8
    = 48 ops. Catches one or three ops a term, and the left factor's rows counted instead of its
    columns (2 * 2 * 8)."""
    from checker.ops import Ops, counted
    a = counted(np.array([[1, 2, 3], [4, 5, 6]], dtype=object))
    b = counted(np.array([[1, 0, 0, 1], [0, 1, 0, 1], [0, 0, 1, 1]], dtype=object))
    with Ops() as ops:
        p = np.dot(a, b)
    assert p.tolist() == [[1, 2, 3, 6], [4, 5, 6, 15]] and ops.count == 48


def test_a_partition_charges_a_pass_per_order_statistic():
    """np.partition / np.argpartition: one pass over the array per kth, kth positional or keyword,
    an axis given positionally not counted as a kth. Catches a pass charged as the kth instead of the
    array's size, and the array or the axis read as a kth."""
    from checker.ops import Ops, counted
    x = counted(np.array([[5, 1, 4, 2, 3], [9, 7, 8, 6, 0]]))
    for call, charged in [(lambda: np.argpartition(x, 2, axis=-1), 10), (lambda: np.partition(x, 1, -1), 10),
                          (lambda: np.partition(x, [1, 3]), 20), (lambda: np.argpartition(x, kth=(0, 1, 2)), 30)]:
        with Ops() as ops:
            call()
        assert ops.count == charged
    with Ops():
        assert np.partition(x, 2, -1)[:, 2].tolist() == [3, 7]


# ---------------------------------------------------------------- safetensors.py: shapes

def _split(data: bytes) -> tuple[dict, bytes]:
    """A safetensors file's header (parsed) and data buffer."""
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def _rebuilt(header: dict, buf: bytes) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + buf


def _with_shape(name: str, shape) -> bytes:
    """A zero model (V 3, K 2, d_model = d_head = 2) whose header gives tensor name this shape."""
    header, buf = _split(_zeros(checker_shapes(3, 2, 2, 2)))
    header[name]["shape"] = shape
    return _rebuilt(header, buf)


@pytest.mark.parametrize("shape", [[-1, 2], [3, -2], [-3, -2], [3, 2.0], [3, True]])
def test_a_negative_or_non_int_axis_is_a_malformed_shape(shape):
    """An axis must be an int >= 0 (JSON's true and 2.0 are not): refused as a malformed shape, not
    later as a span that does not match it. Catches a check that needs only one of int and >= 0, and
    -1 allowed."""
    with pytest.raises(Reject, match="^embed.W_E: malformed shape or data_offsets$"):
        parse_weights(_with_shape("embed.W_E", shape))


def test_a_model_with_dimensions_of_one_is_read():
    """d_vocab, k, d_model and d_head of 1 are dimensions (only an empty one is refused). Catches
    dimensions of 1 refused as empty."""
    shapes = checker_shapes(1, 1, 1, 1)
    w = parse_weights(safetensors_bytes({n: np.full(s, 0.5, dtype=np.float32) for n, s in shapes.items()}))
    assert (w.d_vocab, w.k, w.d_model, w.d_head) == (1, 1, 1, 1)
    w = parse_weights(_zeros(checker_shapes(2, 3, 1, 1)))
    assert (w.d_vocab, w.k, w.d_model, w.d_head) == (2, 3, 1, 1)


# ---------------------------------------------------------------- safetensors.py: each check of a weights file

_DIMS = (3, 2, 4, 5)  # V, K, d_model, d_head: all different, so no axis can stand in for another


def _model() -> dict[str, np.ndarray]:
    """A model of _DIMS whose every value is distinct (so a misread byte shows)."""
    shapes, out, at = checker_shapes(*_DIMS), {}, 1
    for name, shape in shapes.items():
        size = int(np.prod(shape))
        out[name] = (np.arange(at, at + size, dtype=np.float32) / 64).reshape(shape)
        at += size
    return out


def test_a_weights_file_is_read_value_by_value():
    """A well-formed file is read exactly: its dimensions from W_E, W_pos and W_Q, every tensor's
    values from its own span. Catches every off-by-one in the header length, the header's and the
    buffer's slices and the spans' ends, each span check negated or loosened (0 < begin, begin >
    end, 3 bytes a value), the shape checks' ranks (3-D, 2-D) and k or the head axis read from the
    wrong axis."""
    model = _model()
    w = parse_weights(safetensors_bytes(model))
    assert (w.d_vocab, w.k, w.d_model, w.d_head) == _DIMS
    assert all(np.array_equal(w.tensors[name], a) and w.tensors[name].shape == a.shape for name, a in model.items())


def test_a_weights_file_is_hashed_and_the_hash_must_match(tmp_path):
    """read_weights with the certificate's SHA-256: the file's own hash reads it, any other is a
    Reject naming both. Catches the hash comparison reversed."""
    import hashlib
    from checker.safetensors import read_weights
    data = safetensors_bytes(_model())
    path = tmp_path / "m.safetensors"
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    assert read_weights(str(path), digest).sha256 == digest
    other = "0" * 64
    with pytest.raises(Reject, match=f"have SHA-256 {digest}, the certificate names {other}$"):
        read_weights(str(path), other)


def test_a_weights_file_is_refused_at_each_of_its_checks():
    """Each malformed file is refused by its own check, with its reason (not a crash, not a later
    check). Catches the length check needing both conditions, the JSON-object refusal dropped (no
    header then), the unknown-tensor set built with + (a TypeError), and an empty axis refused as a
    malformed shape rather than as an empty dimension."""
    data = safetensors_bytes(_model())
    header, buf = _split(data)
    with pytest.raises(Reject, match=r"^weights file truncated or header length invalid$"):
        parse_weights(data[:8 + len(json.dumps(header)) - 1])   # the header's last byte missing
    with pytest.raises(Reject, match=r"^weights header is not valid JSON$"):
        parse_weights(struct.pack("<Q", 2) + b"{]")
    with pytest.raises(Reject, match=r"^weights header is not a JSON object$"):
        parse_weights(struct.pack("<Q", 2) + b"[]")
    del header["unembed.b_U"]
    header["unembed.b"] = {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}
    with pytest.raises(Reject, match=r"^unsupported architecture: unexpected tensors \['unembed.b'\], "
                                     r"missing \['unembed.b_U'\]$"):
        parse_weights(_rebuilt(header, buf))
    with pytest.raises(Reject, match="^empty dimension$"):
        parse_weights(_zeros(checker_shapes(3, 2, 4, 0)))


def test_tensor_data_must_tile_the_buffer_without_gaps_or_overlaps():
    """The tensors' spans must cover the data buffer exactly: a gap of 4 unused bytes between two
    tensors, or two tensors sharing one span, is refused as such, even when the last span ends at
    the buffer's end. Catches the refusal dropped (both files were then read)."""
    header, buf = _split(safetensors_bytes(_model()))
    first = min(header, key=lambda n: header[n]["data_offsets"][0])
    cut = header[first]["data_offsets"][1]
    gap = {n: {**v, "data_offsets": [o + 4 * (v["data_offsets"][0] >= cut) for o in v["data_offsets"]]}
           for n, v in header.items()}
    with pytest.raises(Reject, match="^tensor data overlaps or leaves gaps in the buffer$"):
        parse_weights(_rebuilt(gap, buf[:cut] + bytes(4) + buf[cut:]))
    b_q, b_k = header["blocks.0.attn.b_Q"]["data_offsets"], header["blocks.0.attn.b_K"]["data_offsets"]
    assert b_k[0] == b_q[1]  # adjacent, of the same size
    size = b_k[1] - b_k[0]
    shared = {n: {**v, "data_offsets": [o - size * (v["data_offsets"][0] >= b_k[1]) for o in v["data_offsets"]]}
              for n, v in header.items()}
    shared["blocks.0.attn.b_K"]["data_offsets"] = list(b_q)
    with pytest.raises(Reject, match="^tensor data overlaps or leaves gaps in the buffer$"):
        parse_weights(_rebuilt(shared, buf[:b_k[0]] + buf[b_k[1]:]))


def test_weights_caps_at_their_exact_values(tmp_path):
    """The caps of docs/certificate.md#resource-caps, each at its exact value: a file of 2^26 bytes
    (sparse) is read (then it is no model: Reject), one byte more is OutOfBudget; 2^22 parameters
    pass the cap, one more does not; a 1-D W_E among 2-D tensors is refused as no matrix. Catches
    either cap halved, the parameter cap reached taken as exceeded, and a 1-D W_E passed when W_pos
    is 2-D. (The header's cap at 2^20 bytes: test_mutant_kills_core's
    test_weights_header_length_at_its_edges.)"""
    from checker.safetensors import read_weights
    for size, error, message in [(1 << 26, Reject, "^weights header is not valid JSON$"),  # zeros: a 0-byte header
                                 ((1 << 26) + 1, OutOfBudget, "^weights file larger than the cap of 67,108,864 bytes$")]:
        path = tmp_path / f"{size}.safetensors"
        with open(path, "wb") as f:
            f.truncate(size)
        with pytest.raises(error, match=message):
            read_weights(str(path))
    shapes = {name: (1, 1) for name in checker_shapes(*_DIMS)}
    shapes["embed.W_E"] = ((1 << 22) - (len(shapes) - 1),)
    with pytest.raises(Reject, match="^W_E and W_pos must be matrices$"):
        parse_weights(_zeros(shapes))
    shapes["embed.W_E"] = ((1 << 22) - (len(shapes) - 2),)
    with pytest.raises(OutOfBudget, match="^the model has 4,194,305 parameters, more than the checker's cap of 4,194,304$"):
        parse_weights(_zeros(shapes))


def test_a_tensor_not_float32_not_finite_or_misshapen_is_refused_by_name():
    """Only F32 tensors, finite values and the one-layer one-head shapes are read; each refusal
    names the tensor. Catches each refusal dropped (F16 bytes read as float32, a NaN or an infinity
    read, a b_U of the wrong length read)."""
    model = _model()
    header, buf = _split(safetensors_bytes(model))
    header["unembed.W_U"]["dtype"] = "F16"
    with pytest.raises(Reject, match=r"^unembed.W_U: only float32 \(F32\) tensors are accepted$"):
        parse_weights(_rebuilt(header, buf))
    for bad in (np.nan, np.inf, -np.inf):
        broken = {**model, "unembed.W_U": model["unembed.W_U"].copy()}
        broken["unembed.W_U"][1, 2] = bad
        with pytest.raises(Reject, match="^unembed.W_U: contains NaN or infinite values$"):
            parse_weights(safetensors_bytes(broken))
    longer = {**model, "unembed.b_U": np.zeros(4, dtype=np.float32)}
    with pytest.raises(Reject, match=r"^unsupported architecture: unembed.b_U has shape \(4,\), expected \(3,\) "
                                     r"\(one layer, one head\)$"):
        parse_weights(safetensors_bytes(longer))


def test_a_certificate_that_is_not_utf8_or_not_json_is_refused_as_such():
    """Bytes that are not UTF-8, or text that is not one JSON document, are Malformed with that
    reason. Catches either refusal dropped (the undecoded text or the unparsed document then read: a
    crash)."""
    with pytest.raises(Malformed, match="^certificate is not UTF-8$"):
        parse_certificate(b'{"format": "\xff"}')
    for text in (b"", b"{", b'{"a": 1,}', b"[1] [2]"):
        with pytest.raises(Malformed, match="^certificate is not valid JSON: "):
            parse_certificate(text)
