"""Shared fixtures and helpers: tiny models written to disk, an independent mpmath oracle."""
from __future__ import annotations

import itertools
import json
import re
import signal
from collections import namedtuple
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np
import pytest

try:
    import torch

    from certify.model import PARAM_SHAPES, Config, MaxOfK
    from certify.weights import save_model
except ImportError:  # the checker-only environment (numpy, pytest, hypothesis, mpmath): see below
    torch = None
    Config = namedtuple("Config", "k d_vocab d_model d_head")

REPO = Path(__file__).resolve().parents[1]
ZOO = REPO / "certify" / "zoo"
FIXTURES = REPO / "tests" / "fixtures"
NEEDS_PROVER = re.compile(r"^\s*(import torch|from (certify|exporters)[\s.]|import (certify|exporters))", re.M)


def pytest_addoption(parser):
    parser.addoption("--all", action="store_true", default=False,
                     help="also run the tests marked slow (CI does: .ci/run passes --all)")


def pytest_configure(config):
    """A shell's background job (`.ci/run &` in a script, nohup) starts with SIGINT ignored, and every
    child inherits that: the Ctrl-C tests' subprocesses would never see their Ctrl-C. A Python
    handler here is reset to the default in each child (exec), so they react as under a terminal."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config, items):
    """Locally `python -m pytest` runs the fast set; `--all` (CI) runs every test."""
    if config.getoption("--all"):
        return
    skip = pytest.mark.skip(reason="slow: run with --all (as CI does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_ignore_collect(collection_path, config):
    """Without torch, collect only the test modules that need neither the prover nor the exporters:
    the checker's own tests on committed fixtures (.ci/run runs them so, in a numpy-only venv)."""
    if torch is None and collection_path.suffix == ".py" and collection_path.name != "conftest.py":
        return bool(NEEDS_PROVER.search(collection_path.read_text())) or None
    return None


# ---------------------------------------------------------------- building models

def random_state(cfg: Config, seed: int, scale: float = 1.0, biases: bool = False,
                 bias_scale: float = 0.5) -> dict[str, np.ndarray]:
    """Random float32 TransformerLens-named tensors (biases zero unless biases=True)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in PARAM_SHAPES.items():
        shp = shape(cfg)
        if ".b_" in name:
            arr = rng.normal(size=shp) * bias_scale if biases else np.zeros(shp)
        else:
            arr = rng.normal(size=shp) * scale / np.sqrt(cfg.d_model)
        out[name] = arr.astype(np.float32)
    return out


def zero_state(cfg: Config) -> dict[str, np.ndarray]:
    return {name: np.zeros(shape(cfg), dtype=np.float32) for name, shape in PARAM_SHAPES.items()}


def config_of(state: dict[str, np.ndarray]) -> Config:
    v, d_model = state["embed.W_E"].shape
    return Config(state["pos_embed.W_pos"].shape[0], v, d_model, state["blocks.0.attn.W_Q"].shape[-1])


def write_state(state: dict[str, np.ndarray], path: Path) -> Path:
    """Save through the project's own writer (certify.weights.save_model / MaxOfK.from_state)."""
    cfg = config_of(state)
    model = MaxOfK.from_state(cfg, {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
                                    for k, v in state.items()})
    save_model(model, path)
    return path


def model_state(model: MaxOfK) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in model.state().items()}


# ---------------------------------------------------------------- the mpmath oracle

def oracle_count(state: dict[str, np.ndarray], dps: int = 60, eps_exp: int = -40) -> int:
    """Exhaustive evaluation of the full model in mpmath: correct iff logit[max]-logit[j] > 10**eps_exp.

    Independent of checker/ and certify/: the forward pass as written in the paper, with only the
    per-(token, position) linear maps memoised.
    """
    cfg = config_of(state)
    V, K, dm, dh = cfg.d_vocab, cfg.k, cfg.d_model, cfg.d_head
    with mpmath.workdps(dps):
        mp = lambda a: [[mpmath.mpf(float(x)) for x in row] for row in np.atleast_2d(a)]
        vec = lambda a: [mpmath.mpf(float(x)) for x in np.ravel(a)]
        E, P = mp(state["embed.W_E"]), mp(state["pos_embed.W_pos"])
        WQ, WK, WV = (mp(state[f"blocks.0.attn.W_{n}"][0]) for n in "QKV")
        bQ, bK, bV = (vec(state[f"blocks.0.attn.b_{n}"]) for n in "QKV")
        WO, bO = mp(state["blocks.0.attn.W_O"][0]), vec(state["blocks.0.attn.b_O"])
        WU, bU = mp(state["unembed.W_U"]), vec(state["unembed.b_U"])

        def vm(x, M, b):  # row vector x times matrix M plus b
            return [mpmath.fsum(x[r] * M[r][c] for r in range(len(x))) + b[c] for c in range(len(b))]

        resid = {(t, i): [E[t][c] + P[i][c] for c in range(dm)] for t in range(V) for i in range(K)}
        key = {ti: vm(r, WK, bK) for ti, r in resid.items()}
        val = {ti: vm(r, WV, bV) for ti, r in resid.items()}
        inv = 1 / mpmath.sqrt(dh)
        zero_b = [mpmath.mpf(0)] * dm
        thr = mpmath.mpf(10) ** eps_exp
        correct = 0
        for q in range(V):
            query = vm(resid[(q, K - 1)], WQ, bQ)
            for rest in itertools.product(range(V), repeat=K - 1):
                toks = rest + (q,)
                scores = [mpmath.fsum(a * b for a, b in zip(query, key[(t, i)])) * inv
                          for i, t in enumerate(toks)]
                top = max(scores)
                w = [mpmath.exp(s - top) for s in scores]
                z_sum = mpmath.fsum(w)
                z = [mpmath.fsum(w[i] * val[(t, i)][h] for i, t in enumerate(toks)) / z_sum
                     for h in range(dh)]
                attn = vm(z, WO, zero_b)
                out = [resid[(q, K - 1)][c] + attn[c] + bO[c] for c in range(dm)]
                logits = vm(out, WU, bU)
                m = max(toks)
                if all(logits[m] - logits[j] > thr for j in range(V) if j != m):
                    correct += 1
    return correct


def float64_count(state: dict[str, np.ndarray]) -> int:
    """Plain float64 forward pass (what a naive checker would do), for showing a test is non-trivial."""
    cfg = config_of(state)
    V, K = cfg.d_vocab, cfg.k
    s = {k: v.astype(np.float64) for k, v in state.items()}
    toks = np.array(list(itertools.product(range(V), repeat=K)))
    resid = s["embed.W_E"][toks] + s["pos_embed.W_pos"][None]
    q = resid[:, -1] @ s["blocks.0.attn.W_Q"][0] + s["blocks.0.attn.b_Q"][0]
    keys = resid @ s["blocks.0.attn.W_K"][0] + s["blocks.0.attn.b_K"][0]
    vals = resid @ s["blocks.0.attn.W_V"][0] + s["blocks.0.attn.b_V"][0]
    sc = np.einsum("bh,bkh->bk", q, keys) / np.sqrt(cfg.d_head)
    a = np.exp(sc - sc.max(axis=1, keepdims=True))
    a /= a.sum(axis=1, keepdims=True)
    out = resid[:, -1] + np.einsum("bk,bkh->bh", a, vals) @ s["blocks.0.attn.W_O"][0] + s["blocks.0.attn.b_O"]
    logits = out @ s["unembed.W_U"] + s["unembed.b_U"]
    m = toks.max(axis=1)
    right = logits[np.arange(len(toks)), m].copy()
    logits[np.arange(len(toks)), m] = -np.inf
    return int((right > logits.max(axis=1)).sum())


# ---------------------------------------------------------------- weights files without the prover

def checker_shapes(V: int, K: int, d_model: int, d_head: int) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape as checker/safetensors.py's SHAPES spells it (the head axis of 1 included)."""
    from checker.safetensors import SHAPES
    dims = {"1": 1, "V": V, "K": K, "M": d_model, "H": d_head}
    return {name: tuple(dims[d] for d in spec.split()) for name, spec in SHAPES.items()}


def safetensors_bytes(tensors: dict[str, np.ndarray]) -> bytes:
    """The safetensors bytes of these float32 tensors (header, then the data in order), written
    without the prover or torch, so checker-only tests can make any file, malformed ones included."""
    header, data, at = {}, b"", 0
    for name, a in tensors.items():
        raw = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(a)), "data_offsets": [at, at + len(raw)]}
        data, at = data + raw, at + len(raw)
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


# ---------------------------------------------------------------- the checker and prover on a file

def checker_count(path: Path) -> int:
    from checker.paths import exact_paths
    from checker.rules.brute_force import count_correct
    from checker.safetensors import read_weights
    return count_correct(exact_paths(read_weights(str(path))))


def prover_count(path: Path) -> int:
    from certify.paths import load_float_model
    from certify.strategies.brute_force import prove
    return prove(load_float_model(path)).evidence["correct_inputs"]


def write_proof(weights: Path, proof, cert_path: Path) -> dict:
    """Write a prover's proof as a certificate naming the weights relatively."""
    from certify.certificate import certificate_dict, model_reference, write_certificate
    from certify.paths import load_float_model
    from certify.weights import sha256_file
    m = load_float_model(weights)
    cert = certificate_dict(proof, m.k, m.d_vocab, sha256_file(weights),
                            model_reference(weights, cert_path, None))
    write_certificate(cert_path, cert)
    return cert


def make_certificate(weights: Path, cert_path: Path) -> dict:
    """Prove with certify's brute force and write a certificate naming the weights relatively."""
    from certify.paths import load_float_model
    from certify.strategies.brute_force import prove
    return write_proof(weights, prove(load_float_model(weights)), cert_path)


_EDITS = itertools.count()


def edited_copy(path: Path, change) -> Path:
    """A copy of the certificate at `path` with change(doc) applied (a new file each call)."""
    doc = json.loads(path.read_text())
    change(doc)
    out = path.with_name(f"edited{next(_EDITS)}.{path.name}")
    out.write_text(json.dumps(doc))
    return out


# ---------------------------------------------------------------- fixtures

TINY_CFG = Config(k=3, d_vocab=5, d_model=6, d_head=4) if torch else None


@pytest.fixture(scope="session")
def tiny_trained_state() -> dict[str, np.ndarray]:
    """A briefly trained K=3, vocab 5 model (deterministic; a few hundred ms). Without torch: the
    same model as committed in tests/fixtures (make_fixtures.py)."""
    if torch is None:
        from checker.safetensors import read_weights
        return {k: v.copy() for k, v in read_weights(str(FIXTURES / "tiny.safetensors")).tensors.items()}
    from certify.train import train
    model, _ = train(TINY_CFG, seed=7, steps=150, progress=False)
    return model_state(model)


@pytest.fixture()
def tiny_weights(tmp_path: Path, tiny_trained_state) -> Path:
    if torch is None:
        (tmp_path / "tiny.safetensors").write_bytes((FIXTURES / "tiny.safetensors").read_bytes())
        return tmp_path / "tiny.safetensors"
    return write_state(tiny_trained_state, tmp_path / "tiny.safetensors")


@pytest.fixture()
def tiny_cert(tmp_path: Path, tiny_weights: Path) -> tuple[Path, dict]:
    """(path, dict) of a valid brute-force certificate next to its weights."""
    cert_path = tmp_path / "tiny.brute-force.json"
    if torch is None:
        cert_path.write_bytes((FIXTURES / "tiny.brute-force.json").read_bytes())
        return cert_path, json.loads(cert_path.read_text())
    cert = make_certificate(tiny_weights, cert_path)
    return cert_path, cert


def dump(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj, indent=1))
    return path


def frac(s: str) -> Fraction:
    return Fraction(s)
