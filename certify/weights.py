"""Reading and writing model weights as safetensors with the config in the metadata."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from typing import TYPE_CHECKING

from safetensors import safe_open

if TYPE_CHECKING:  # torch only where models are built (train, import): run and check need numpy only
    from certify.model import MaxOfK


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_temp(path: Path, data: bytes) -> Path:
    """Write `data` to a new temporary file beside `path` (same folder, so renaming it is atomic),
    flushed to disk, with the usual file mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(name, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write via a temp file in the same directory and rename, so readers never see a partial file."""
    tmp = write_temp(Path(path), data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_model(model: MaxOfK, path: str | Path, extra: dict[str, object] | None = None) -> str:
    """Save float32 TransformerLens-named tensors; returns the file's SHA-256."""
    from safetensors.torch import save
    config = {**model.cfg.as_dict(), **({"training": extra} if extra else {})}
    # one metadata key: safetensors writes several keys in an unstable order (bytes would vary)
    atomic_write_bytes(path, save(model.state(), metadata={"config": json.dumps(config, sort_keys=True)}))
    return sha256_file(path)


def load_model(path: str | Path) -> MaxOfK:
    from certify.model import PARAM_SHAPES, Config, MaxOfK
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        if "config" not in meta:
            raise ValueError(f"{path}: no 'config' in safetensors metadata")
        raw = json.loads(meta["config"])
        cfg = Config(**{name: raw[name] for name in ("k", "d_vocab", "d_model", "d_head")})
        state = {name: f.get_tensor(name) for name in f.keys()}
    missing = set(PARAM_SHAPES) - set(state)
    if missing:
        raise ValueError(f"{path}: missing tensors {sorted(missing)}")
    return MaxOfK.from_state(cfg, state)


def read_metadata(path: str | Path) -> dict[str, object]:
    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata() or {}
    return {k: json.loads(v) for k, v in meta.items()}
