"""Strict parsing of certificate files (format version 1). Anything unexpected is an error.

Numbers are ints or "p/q" strings in lowest terms; JSON floats, NaN, Infinity, duplicate keys,
unknown fields, deep nesting, huge integers and oversized files are all refused.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from itertools import accumulate
from typing import Any

from checker.errors import Malformed

FORMAT = "certify-certificate"
VERSION = 1
SEMANTICS = ("exact-real", "float32")  # docs/semantics.md
MAX_BYTES = 64 << 20
MAX_DEPTH = 32
MAX_INT_DIGITS = 400
_RATIONAL = re.compile(r"(0|-?[1-9][0-9]{0,%d})/([1-9][0-9]{0,%d})" % (MAX_INT_DIGITS - 1, MAX_INT_DIGITS - 1))
_SHA256 = re.compile(r"[0-9a-f]{64}")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*+"?', re.S)  # a JSON string (_nesting)


@dataclass(frozen=True)
class Certificate:
    k: int
    d_vocab: int
    semantics: str
    bound: Fraction
    sha256: str
    model_path: str
    strategy: str
    parameters: dict[str, Any]
    evidence: dict[str, Any]


def parse_certificate(data: bytes) -> Certificate:
    if len(data) > MAX_BYTES:
        raise Malformed(f"certificate larger than {MAX_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("certificate is not UTF-8") from None
    if _nesting(text) > MAX_DEPTH:
        raise Malformed(f"certificate nested deeper than {MAX_DEPTH}")
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_no_float,
                         parse_constant=_no_float, parse_int=_int)
    except (RecursionError, ValueError) as e:  # JSONDecodeError is a ValueError; the hooks' Malformed is not
        raise Malformed(f"certificate is not valid JSON: {e}") from None
    return _certificate(doc)


def _certificate(doc: Any) -> Certificate:
    top = fields(doc, "certificate", {"format", "version", "claim", "model", "strategy", "evidence"},
                 optional={"producer"})
    if top["format"] != FORMAT:
        raise Malformed(f"not a certify certificate (format {top['format']!r})")
    if top["version"] != VERSION or type(top["version"]) is not int:
        raise Malformed(f"unsupported certificate version {top['version']!r} (this checker reads {VERSION})")
    claim = fields(top["claim"], "claim", {"task", "k", "d_vocab", "semantics", "accuracy_lower_bound"})
    if claim["task"] != "max-of-k":
        raise Malformed(f"unsupported task {claim['task']!r}")
    if claim["semantics"] not in SEMANTICS:
        raise Malformed(f"unsupported semantics {claim['semantics']!r}")
    bound = rational(claim["accuracy_lower_bound"], "claim.accuracy_lower_bound")
    if not 0 <= bound <= 1:
        raise Malformed("claim.accuracy_lower_bound must lie in [0, 1]")
    model = fields(top["model"], "model", {"sha256", "path"})
    if not isinstance(model["sha256"], str) or not _SHA256.fullmatch(model["sha256"]):
        raise Malformed("model.sha256 must be 64 lowercase hex digits")
    if not isinstance(model["path"], str) or not model["path"]:
        raise Malformed("model.path must be a non-empty string")
    strategy = fields(top["strategy"], "strategy", {"name", "parameters"})
    if not isinstance(strategy["name"], str) or not isinstance(strategy["parameters"], dict):
        raise Malformed("strategy needs a string name and an object of parameters")
    if not isinstance(top["evidence"], dict):
        raise Malformed("evidence must be an object")
    if "producer" in top:
        producer = fields(top["producer"], "producer", {"name", "version"})
        if not all(isinstance(v, str) for v in producer.values()):
            raise Malformed("producer name and version must be strings")
    return Certificate(positive_int(claim["k"], "claim.k"), positive_int(claim["d_vocab"], "claim.d_vocab"),
                       claim["semantics"], bound, model["sha256"], model["path"], strategy["name"],
                       strategy["parameters"], top["evidence"])


def fields(obj: Any, where: str, required: set[str], optional: set[str] = frozenset()) -> dict[str, Any]:
    """The object's fields, refusing missing required ones and any unknown one."""
    if not isinstance(obj, dict):
        raise Malformed(f"{where} must be an object")
    missing, unknown = required - set(obj), set(obj) - required - set(optional)
    if missing:
        raise Malformed(f"{where}: missing field(s) {sorted(missing)}")
    if unknown:
        raise Malformed(f"{where}: unknown field(s) {sorted(unknown)}")
    return obj


def rational(value: Any, where: str) -> Fraction:
    """An int, or a "p/q" string in lowest terms with q > 0."""
    if type(value) is int:
        return Fraction(value)
    if isinstance(value, str) and (match := _RATIONAL.fullmatch(value)):
        p, q = int(match.group(1)), int(match.group(2))
        if math.gcd(p, q) == 1:
            return Fraction(p, q)
    raise Malformed(f"{where}: expected an int or a \"p/q\" string in lowest terms, got {value!r:.60}")


def positive_int(value: Any, where: str) -> int:
    if type(value) is not int or value < 1:
        raise Malformed(f"{where}: expected a positive integer")
    return value


def _nesting(text: str) -> int:
    """Maximum bracket depth, ignoring brackets inside strings (checked before json recurses).

    _STRING delimits a string as json's scanner does: from its opening quote, characters other than
    a quote or a backslash, and pairs of a backslash and the character after it (any, a newline too:
    re.S), up to the closing quote; a string never closed runs to the end of the text (at most its
    last backslash is left, no bracket). Outside strings only brackets count: [ and { open, ] and }
    close (the depth may go below 0; the maximum starts at 0). Linear in the text whatever it holds:
    the possessive `*+` never backtracks, so it keeps no state per repetition (a plain `*` does:
    gigabytes on a long string; tests/checker/test_resource_caps.py)."""
    steps = (1 if ch in "[{" else -1 for ch in _STRING.sub("", text) if ch in "[]{}")
    return max(accumulate(steps, initial=0))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise Malformed(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_float(token: str) -> None:
    raise Malformed(f"JSON float or constant {token[:40]!r} not allowed: write numbers as ints or \"p/q\"")


def _int(token: str) -> int:
    if len(token.lstrip("-")) > MAX_INT_DIGITS:
        raise Malformed(f"integer with more than {MAX_INT_DIGITS} digits")
    return int(token)
