"""Issue #17: ieee-v1 training gives the same bits under every CPU dispatch and thread count.

Other machines are stood in for by the settings that change which kernels run here: torch's CPU
capability, MKL's code path, numpy's SIMD dispatch, the thread count (each only acts at start-up, so
each run is a subprocess). The pinned SHA-256s were computed when ieee-v1 was written; a machine
that computes other bits fails them, which is the cross-machine test CI gives on every runner.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
import torch

from certify import ieee, zoo
from certify.model import PARAM_SHAPES, Config, MaxOfK
from certify.train import _WEIGHTS, _loss_and_grads, _shape, train
from certify.weights import load_model, read_metadata, sha256_file

NUMPY_BASELINE = "X86_V3 X86_V4 AVX512_ICL AVX512_SPR"
PORTABLE = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "NPY_DISABLE_CPU_FEATURES": NUMPY_BASELINE,
            "OMP_NUM_THREADS": "1"}
NATIVE = {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"}  # this CPU's best kernels; 2 threads below
SMALL = (3, 16, 150)  # k, vocab, steps: a second per run
SMALL_SHA256 = "ddb4efdff489bf62cd5cba02a05b665cadcf75bdeedf384e7d84f6755744732f"
K4_V64_S123_SHA256 = "c066f269f3e316d8589b2427a8b04d82926feca8618718789917e39908c306ac"  # 3000 steps, seed 123
CLI = [sys.executable, "-c", "import sys; from certify.cli import main; sys.exit(main())"]

_CHILD = """
import hashlib, json, sys
import torch
from certify.model import Config
from certify.train import train
k, v, steps, mode, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
model, _ = train(Config(k, v), 123, steps=steps, progress=False, mode=mode, threads=threads)
print(json.dumps([hashlib.sha256(b"".join(t.numpy().tobytes() for t in model.state().values())).hexdigest(),
                  torch.backends.cpu.get_cpu_capability(), threads]))
"""


def _env(env: dict[str, str]) -> dict[str, str]:
    return {**{key: val for key, val in os.environ.items() if key not in PORTABLE}, **env}


def _train_in(env: dict[str, str], k: int, v: int, steps: int, mode: str = "ieee-v1") -> tuple[str, str, int]:
    threads = env["OMP_NUM_THREADS"] if mode == "ieee-v1" else "1"  # torch mode: threads are its recipe
    p = subprocess.run([sys.executable, "-c", _CHILD, str(k), str(v), str(steps), mode, threads],
                       env=_env(env), capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stderr
    digest, capability, threads = json.loads(p.stdout.strip().splitlines()[-1])
    return digest, capability, threads


def test_ieee_same_bits_portable_and_native_kernels():
    portable, native = _train_in(PORTABLE, *SMALL), _train_in(NATIVE, *SMALL)
    assert (portable[1], portable[2]) == ("DEFAULT", 1)  # the proxies did take effect
    assert native[2] == 2
    assert portable[0] == native[0]
    assert portable[0] == SMALL_SHA256


def test_torch_mode_depends_on_the_kernels():
    """The same comparison fails for the torch mode: the proxies really change the kernels."""
    if torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        pytest.skip("this CPU has no vector kernels to compare with")
    assert _train_in(PORTABLE, *SMALL, mode="torch")[0] != _train_in(NATIVE, *SMALL, mode="torch")[0]


@pytest.mark.slow
@pytest.mark.parametrize("env", [PORTABLE, NATIVE], ids=["portable-kernels-1-thread", "native-kernels-2-threads"])
def test_zoo_default_model_reproduces(env, tmp_path):
    """Issue #17's test: `certify train --verify-zoo k4-v64-s123` retrains the default model (3000 steps)
    from its own metadata and writes a file whose SHA-256 is the manifest's: under the portable kernels
    on one thread, and under this CPU's best on two."""
    out = tmp_path / "retrained.safetensors"
    p = subprocess.run(CLI + ["train", "--verify-zoo", zoo.DEFAULT_MODEL, "--out", str(out)], env=_env(env),
                       capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"identical to the manifest's {zoo.lookup(zoo.DEFAULT_MODEL).sha256}" in p.stdout
    assert sha256_file(out) == zoo.lookup(zoo.DEFAULT_MODEL).sha256


def test_zoo_is_ieee_v1_and_its_recipe_is_in_the_metadata():
    """Every shipped model says how to retrain it: mode ieee-v1 (manifest and metadata agree), and the
    manifest's seed and steps are the metadata's; the default model's tensors are the pinned hash."""
    for e in zoo.entries():
        meta = read_metadata(e.path)
        training = meta["config"]["training"]
        assert e.mode == training["mode"] == "ieee-v1", e.name
        assert (training["seed"], training["steps"]) == (e.seed, e.steps), e.name
        assert (meta["config"]["k"], meta["config"]["d_vocab"]) == (e.k, e.d_vocab), e.name
    state = load_model(zoo.lookup(zoo.DEFAULT_MODEL).path).state()
    assert hashlib.sha256(b"".join(t.numpy().tobytes() for t in state.values())).hexdigest() == K4_V64_S123_SHA256


def test_verify_detects_a_changed_model(tmp_path):
    """zoo.verify on a one-model zoo: the genuine file verifies, a retrained-elsewhere one does not."""
    from certify.weights import save_model
    from certify.train import RECIPE, environment
    model, _ = train(Config(2, 5, 4, 4), 3, steps=20, progress=False)
    path = tmp_path / "k2-v5-s3.safetensors"
    digest = save_model(model, path, {**RECIPE, "steps": 20, "seed": 3, **environment("ieee-v1")})
    zoo.save_manifest([zoo.ZooEntry("k2-v5-s3", 2, 5, 3, 20, digest, None, "ieee-v1")], tmp_path)
    assert zoo.verify("k2-v5-s3", tmp_path / "again.safetensors", folder=tmp_path).ok
    zoo.save_manifest([zoo.ZooEntry("k2-v5-s3", 2, 5, 3, 20, "0" * 64, None, "ieee-v1")], tmp_path)
    assert not zoo.verify("k2-v5-s3", tmp_path / "again.safetensors", folder=tmp_path).ok
    with pytest.raises(ValueError, match="not in the zoo"):
        zoo.verify("k9-v9-s9", tmp_path / "x.safetensors", folder=tmp_path)


# ------------------------------------------------------------ the arithmetic itself

def _exact_matmul(a: np.ndarray, b: np.ndarray) -> list[list[Fraction]]:
    fa = [[Fraction(float(x)) for x in row] for row in a]
    fb = [[Fraction(float(x)) for x in row] for row in b]
    return [[sum((fa[i][l] * fb[l][j] for l in range(a.shape[1])), Fraction(0)) for j in range(b.shape[1])]
            for i in range(a.shape[0])]


@pytest.mark.parametrize("spread", [0, 20, 60])
def test_matmul_pieces_are_exact_and_result_is_close(spread):
    """Every piece product the BLAS computes is exact, so its order cannot matter; the result is within
    one float32 rounding (plus the dropped terms, far smaller) of the exact product."""
    rng = np.random.default_rng(spread)
    a = (rng.standard_normal((5, 37)) * 2.0 ** rng.integers(-spread, 1, (5, 37))).astype(np.float32)
    b = (rng.standard_normal((37, 4)) * 2.0 ** rng.integers(-spread, 1, (37, 4))).astype(np.float32)
    bits = (53 - 6) // 2
    a_hi, a_lo = ieee._split(a.astype(np.float64), 1, bits)
    b_hi, b_lo = ieee._split(b.astype(np.float64), 0, bits)
    for x, y in [(a_hi, b_hi), (a_hi, b_lo), (a_lo, b_hi)]:
        assert [[Fraction(float(v)) for v in row] for row in ieee._mm(x, y)] == _exact_matmul(x, y)
        assert np.array_equal(ieee._mm(x, y), x[:, ::-1] @ y[::-1])  # another order: the same bits
    exact = _exact_matmul(a, b)
    got = ieee.matmul(a, b)
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            scale = float(np.max(np.abs(a[i])) * np.max(np.abs(b[:, j])))
            assert abs(Fraction(float(got[i, j])) - exact[i][j]) <= abs(exact[i][j]) * 2 ** -24 + scale * 2 ** -40


def test_tree_sum_order_is_the_documented_one():
    """Halves pairwise, odd last carried: ((x0 + x2) + (x1 + x3)) + x4 = 5, where left to right gives 4."""
    x = np.array([2.0 ** 30, 1.0, -(2.0 ** 30), 1.0, 3.0], dtype=np.float32)
    assert ieee.tree_sum(x) == np.float32(5.0)
    assert np.float32(np.float32(np.float32(2.0 ** 30) + np.float32(1)) - np.float32(2.0 ** 30)) == 0.0
    columns = np.stack([x, x[::-1]], axis=1)
    assert list(ieee.tree_sum(columns, axis=0)) == [5.0, ieee.tree_sum(x[::-1])]


def test_exp_and_log_are_accurate():
    x = np.linspace(-119.0, 0.0, 20001)
    assert np.max(np.abs(ieee.exp64(x) / np.exp(x) - 1)) < 5e-16
    y = np.exp(np.linspace(-700.0, 700.0, 20001))
    assert np.max(np.abs(ieee.log64(y) - np.log(y))) < 1e-15 * 700


def test_random_streams():
    z = ieee.normals(1, 0, 100_000)
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    assert np.array_equal(ieee.normals(1, 0, 10), z[:10])  # prefix-stable
    t = ieee.uniform_ints(1, 7, 0, 64_000, 64)
    assert t.min() == 0 and t.max() == 63 and np.bincount(t).min() > 850


def test_gradients_match_torch_autograd():
    cfg = Config(3, 11, 8, 6)
    rng = np.random.default_rng(0)
    w = {n: (rng.standard_normal(_shape(cfg, n)) * 0.5).astype(np.float32) for n in _WEIGHTS}
    tokens = rng.integers(0, cfg.d_vocab, (16, cfg.k))
    grads, loss = _loss_and_grads(w, tokens, cfg)
    state = {n: torch.zeros(PARAM_SHAPES[n](cfg), dtype=torch.float64) for n in PARAM_SHAPES}
    full = {n: next(f for f in PARAM_SHAPES if f.endswith("." + n)) for n in _WEIGHTS}
    for n in _WEIGHTS:
        state[full[n]] = torch.from_numpy(w[n].reshape(PARAM_SHAPES[full[n]](cfg)).astype(np.float64))
    model = MaxOfK.from_state(cfg, state).double()
    t = torch.from_numpy(tokens)
    ref = torch.nn.functional.cross_entropy(model(t), t.max(dim=1).values)
    ref.backward()
    assert abs(loss - ref.item()) < 1e-5
    for n in _WEIGHTS:
        expected = model.p(full[n]).grad.numpy().reshape(grads[n].shape)
        assert np.max(np.abs(grads[n] - expected)) <= 1e-5 * np.max(np.abs(expected)), n


def test_metadata_records_the_mode(tmp_path):
    from certify.cli import main
    from certify.weights import read_metadata
    out = tmp_path / "m.safetensors"
    assert main(["train", "--k", "2", "--d-vocab", "4", "--steps", "5", "--out", str(out)]) == 0
    assert read_metadata(out)["config"]["training"]["mode"] == "ieee-v1"
    assert main(["train", "--k", "2", "--d-vocab", "4", "--steps", "5", "--mode", "torch", "--out", str(out)]) == 0
    training = read_metadata(out)["config"]["training"]
    assert training["mode"] == "torch" and training["torch"] == torch.__version__ and training["threads"] == 1
    assert training["capability"] == torch.backends.cpu.get_cpu_capability()


def test_rebuild_refuses_a_layout_mismatch(tmp_path):
    from certify.weights import save_model
    model, _ = train(Config(2, 5, 4, 4), 3, steps=2, progress=False)
    path = tmp_path / "m.safetensors"
    save_model(model, path)
    state = model.state()
    assert zoo._with_tensors(path.read_bytes(), state) == path.read_bytes()
    state["unembed.W_U"] = state["unembed.W_U"][:, :4]
    with pytest.raises(ValueError, match="layout"):
        zoo._with_tensors(path.read_bytes(), state)
