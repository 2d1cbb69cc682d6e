"""Writing certificates (format version 1, docs/certificate.md): deterministic bytes, a file name
per claim (model, strategy or variant, semantics), and publication that never races or overwrites."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Callable, TypeVar

from certify import __version__
from certify.strategies.base import Proof, fraction_str
from certify.weights import atomic_write_bytes, write_temp


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


class CertificateExists(ValueError):
    """The target file holds a different certificate; it is never replaced silently."""


def file_name(label: str, strategy: str, semantics: str) -> str:
    """`MODEL.STRATEGY.json`, `.float32.json` for float32 claims. In the strategy's name `:`, `/`
    and `,` become `_` (a variant's options are joined by `_`; `subcubic:eupu=A,attn=B,err=C` is
    `subcubic_A_B_C`), so the name is one file name; tests/test_newuser.py checks that no two
    strategies share one."""
    slug = re.sub(r"[:/,]", "_", strategy)
    slug = "_".join(part.partition("=")[2] or part for part in slug.split("_"))
    return f"{label}.{slug}{'' if semantics == 'exact-real' else '.' + semantics}.json"


def refuse_other_claim(path: Path, sha256: str, semantics: str) -> None:
    """Before proving: fail fast if `path` already holds a certificate about other weights or
    another semantics (e.g. two models with the same file stem written into one folder). The
    strategy is in the file name; `publish` compares the final bytes in any case."""
    try:
        old = json.loads(path.read_bytes())
        same = (old["model"]["sha256"], old["claim"]["semantics"]) == (sha256, semantics)
    except FileNotFoundError:
        return
    except (OSError, ValueError, KeyError, TypeError):
        same = False
    if not same:
        raise CertificateExists(f"{path} already holds a different certificate (other weights or "
                                "semantics, or not a certificate); pass --force to replace it, or "
                                "choose another --out")


T = TypeVar("T")


def publish(path: Path, cert: dict, check: Callable[[Path], T], force: bool = False) -> T:
    """Write `cert` to a temporary file beside `path`, run `check` on it there (model paths are
    relative to the folder, so they resolve the same), then give it its name atomically:
    os.link fails if the name exists, so of two runs racing for one name exactly one creates it.
    An existing identical file is kept (same claim, same bytes); a different one is an error
    unless `force` (then os.replace). An interrupted check leaves no file behind."""
    data = (dumps(cert) + "\n").encode()
    if path.is_dir():
        raise CertificateExists(f"{path} is a directory")
    tmp = write_temp(path, data)
    try:
        result = check(tmp)
        if force:
            os.replace(tmp, path)
            return result
        try:
            _create_exclusively(tmp, path, data)
        except FileExistsError:
            if path.read_bytes() != data:
                raise CertificateExists(f"{path} already holds a different certificate (written "
                                        "meanwhile, or by another prover version); pass --force to "
                                        "replace it, or choose another --out") from None
        return result
    finally:
        tmp.unlink(missing_ok=True)


def _create_exclusively(tmp: Path, path: Path, data: bytes) -> None:
    """Give `tmp`'s content the name `path`, raising FileExistsError if the name is taken."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system: an exclusive create (O_EXCL) instead
        with open(path, "xb") as f:
            f.write(data)


def dumps(value: object, indent: str = "") -> str:
    """Readable and compact: objects one field a line, flat lists on one line, one row a line."""
    inner = indent + " "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {dumps(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return "[\n" + ",\n".join(inner + json.dumps(v, separators=(",", ":")) for v in value) + "\n" + indent + "]"
    return json.dumps(value, separators=(",", ":"))
