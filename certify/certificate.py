"""Writing certificates (format version 1, docs/certificate.md): deterministic bytes, atomic write."""
from __future__ import annotations

import json
import os
from pathlib import Path

from certify import __version__
from certify.strategies.base import Proof, fraction_str
from certify.weights import atomic_write_bytes


def certificate_dict(proof: Proof, k: int, d_vocab: int, sha256: str, model_ref: str) -> dict:
    return {
        "format": "certify-certificate",
        "version": 1,
        "claim": {"task": "max-of-k", "k": k, "d_vocab": d_vocab, "semantics": proof.semantics,
                  "accuracy_lower_bound": fraction_str(proof.bound)},
        "model": {"sha256": sha256, "path": model_ref},
        "strategy": {"name": proof.strategy, "parameters": proof.parameters},
        "evidence": proof.evidence,
        "producer": {"name": "certify", "version": __version__},
    }


def model_reference(weights: str | Path, cert_path: str | Path, zoo_name: str | None) -> str:
    """'zoo:NAME' for shipped models, else the weights' path relative to the certificate's folder."""
    if zoo_name:
        return f"zoo:{zoo_name}"
    return os.path.relpath(Path(weights).resolve(), Path(cert_path).resolve().parent)


def write_certificate(path: str | Path, cert: dict) -> None:
    atomic_write_bytes(path, (dumps(cert) + "\n").encode())


def dumps(value: object, indent: str = "") -> str:
    """Readable and compact: objects one field a line, flat lists on one line, one row a line."""
    inner = indent + " "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {dumps(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return "[\n" + ",\n".join(inner + json.dumps(v, separators=(",", ":")) for v in value) + "\n" + indent + "]"
    return json.dumps(value, separators=(",", ":"))
