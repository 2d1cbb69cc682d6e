"""The shipped model zoo: small safetensors files in certify/zoo/ and a manifest."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

ZOO_DIR = Path(__file__).parent / "zoo"
MANIFEST = ZOO_DIR / "manifest.json"
DEFAULT_MODEL = "k4-v64-s123"


@dataclass(frozen=True)
class ZooEntry:
    name: str
    k: int
    d_vocab: int
    seed: int
    steps: int
    sha256: str
    accuracy: str | None  # exact, "p/q"; None where brute force is out of reach
    mode: str  # how it was trained (certify/train.py MODES), as its metadata says

    @property
    def path(self) -> Path:
        return ZOO_DIR / f"{self.name}.safetensors"


def zoo_name(k: int, d_vocab: int, seed: int) -> str:
    return f"k{k}-v{d_vocab}-s{seed}"


def entries(folder: Path = ZOO_DIR) -> list[ZooEntry]:
    """The models listed in `folder`/manifest.json (the shipped zoo, or a `train --seeds` folder)."""
    manifest = Path(folder) / "manifest.json"
    if not manifest.exists():
        return []
    items = json.loads(manifest.read_text())["models"]
    return [ZooEntry(**{"mode": e.get("mode") or training_mode(Path(folder) / f"{e['name']}.safetensors"), **e})
            for e in items]


def training_mode(path: Path) -> str:
    """The mode in a model file's metadata; files from before #17 have none: torch mode. (Manifests
    from before #17 name no mode either, so it is read from the file.)"""
    from certify.weights import read_metadata
    return _training(read_metadata(path)).get("mode", "torch")


def _training(meta: dict) -> dict:
    return meta.get("training", meta["config"].get("training", {}))  # two keys before the metadata had one


def lookup(name: str) -> ZooEntry | None:
    name = name.removeprefix("zoo:")
    return next((e for e in entries() if e.name == name), None)


def resolve(model: str) -> tuple[Path, str | None]:
    """A zoo name or a path -> (weights path, zoo name or None)."""
    entry = lookup(model)
    if entry is not None:
        return entry.path, entry.name
    path = Path(model)
    if not path.exists():
        known = ", ".join(e.name for e in entries()[:5])
        raise FileNotFoundError(f"no model {model!r}: not a file and not a zoo name (e.g. {known}, ...)")
    return path, None


def save_manifest(items: list[ZooEntry], folder: Path = ZOO_DIR) -> None:
    from certify.weights import atomic_write_bytes
    items = sorted(items, key=lambda e: (e.k, e.d_vocab, e.seed))
    text = json.dumps({"models": [asdict(e) for e in items]}, indent=1) + "\n"
    atomic_write_bytes(Path(folder) / "manifest.json", text.encode())


def accuracy(entry: ZooEntry) -> Fraction | None:
    return None if entry.accuracy is None else Fraction(entry.accuracy)


def train_entry(k: int, d_vocab: int, seed: int, steps: int, folder: Path = ZOO_DIR) -> ZooEntry:
    """Train with the paper's recipe into `folder`; exact accuracy by the checker's brute force."""
    from checker.paths import exact_paths
    from checker.rules.brute_force import MAX_INPUTS, count_correct
    from checker.safetensors import read_weights
    from certify.model import Config
    from certify.train import DEFAULT_MODE, RECIPE, environment, train
    from certify.weights import save_model
    name = zoo_name(k, d_vocab, seed)
    model, _ = train(Config(k, d_vocab), seed, steps=steps, progress=False)
    path = Path(folder) / f"{name}.safetensors"
    digest = save_model(model, path, {**RECIPE, "steps": steps, "seed": seed, **environment(DEFAULT_MODE)})
    acc = None
    if d_vocab ** k <= MAX_INPUTS:
        exact = Fraction(count_correct(exact_paths(read_weights(str(path)))), d_vocab ** k)
        acc = f"{exact.numerator}/{exact.denominator}"
    return ZooEntry(name, k, d_vocab, seed, steps, digest, acc, DEFAULT_MODE)


@dataclass(frozen=True)
class Verification:
    name: str
    mode: str
    expected: str  # the manifest's SHA-256
    actual: str  # the retrained file's

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


def verify(name: str, out: str | Path, progress: bool = False, folder: Path = ZOO_DIR) -> Verification:
    """Retrain a zoo model from its own metadata (config, seed, steps, batch size, mode; files without a
    mode predate #17: torch mode) and write it to `out` under the zoo file's own header (names, shapes,
    metadata), so the SHA-256s agree exactly when every retrained tensor is bit-identical."""
    from certify.model import Config
    from certify.train import train
    from certify.weights import atomic_write_bytes, read_metadata, sha256_file
    entry = next((e for e in entries(folder) if e.name == name.removeprefix("zoo:")), None)
    if entry is None:
        raise ValueError(f"{name!r} is not in the zoo (`certify zoo` lists it)")
    path = Path(folder) / f"{entry.name}.safetensors"
    meta = read_metadata(path)
    config = meta["config"]
    training = _training(meta)
    if not isinstance(training, dict) or "seed" not in training or "steps" not in training:
        raise ValueError(f"{path}: no training recipe in its metadata")
    cfg = Config(*(config[f] for f in ("k", "d_vocab", "d_model", "d_head")))
    mode = training.get("mode", "torch")
    model, _ = train(cfg, training["seed"], steps=training["steps"], batch_size=training["batch_size"],
                     progress=progress, mode=mode, threads=training.get("threads", 1))
    atomic_write_bytes(out, _with_tensors(path.read_bytes(), model.state()))
    return Verification(entry.name, mode, entry.sha256, sha256_file(out))


def _with_tensors(original: bytes, state: dict) -> bytes:
    """The safetensors file `original` with every tensor's bytes replaced by `state`'s; refuses
    unless the tensors tile the data section exactly (no original byte survives)."""
    size = int.from_bytes(original[:8], "little")
    header = json.loads(original[8:8 + size])
    data = bytearray(len(original) - 8 - size)
    spans = []
    for tensor, info in header.items():
        if tensor == "__metadata__":
            continue
        start, end = info["data_offsets"]
        new = state[tensor].numpy().astype("<f4").tobytes()
        if info["dtype"] != "F32" or end - start != len(new):
            raise ValueError(f"{tensor}: the zoo file's layout does not match the retrained model")
        data[start:end] = new
        spans.append((start, end))
    spans.sort()
    if [s for s, _ in spans] != [0] + [e for _, e in spans[:-1]] or spans[-1][1] != len(data):
        raise ValueError("the zoo file's tensors do not tile its data section")
    return original[:8 + size] + bytes(data)


def train_many(k: int, d_vocab: int, seeds: list[int], steps: int, scheduler: str | None = None,
               workers: int | None = None, folder: Path = ZOO_DIR) -> list[ZooEntry]:
    """Train seeds in parallel on Dask into `folder`; seeds already in its manifest are skipped
    (resumable). Only this process writes the manifest, after each model."""
    from certify.sweep import run_all
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    listed = entries(folder)
    done = {e.seed for e in listed if (e.k, e.d_vocab, e.steps) == (k, d_vocab, steps)
            and (folder / f"{e.name}.safetensors").exists()}
    items = {e.name: e for e in listed}

    def describe(entry: ZooEntry) -> str:
        items[entry.name] = entry
        save_manifest(list(items.values()), folder)
        return f"{entry.name} {entry.accuracy}"
    todo = [(k, d_vocab, s, steps, folder) for s in seeds if s not in done]
    return run_all(train_entry, todo, describe, scheduler, workers, "train", len(seeds))
