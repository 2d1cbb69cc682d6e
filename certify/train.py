"""The paper's training recipe: online uniform sequences, AdamW 1e-3, batch 128, 3000 steps.

Two implementations of the one recipe (docs/zoo.md):
- "ieee-v1" (default): numpy, every rounding fixed by IEEE 754 (certify/ieee.py), so the weights are
  bit-identical on any CPU, instruction set, BLAS and thread count;
- "torch": PyTorch autograd and AdamW, one thread. Deterministic on one machine only: its kernels
  depend on the CPU's instruction set. The zoo shipped before issue #17 was trained this way.
"""
from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

import numpy as np

from certify import ieee

if TYPE_CHECKING:  # torch is an extra: importing this module (the CLI does) must not need it
    from certify.model import Config, MaxOfK

RECIPE = {"optimizer": "AdamW", "lr": 1e-3, "betas": [0.9, 0.999], "weight_decay": 0.01,
          "batch_size": 128, "steps": 3000}
ADAM_EPS = 1e-8  # torch.optim.AdamW's default, used by both modes
MODES = ("ieee-v1", "torch")
DEFAULT_MODE = "ieee-v1"
_WEIGHTS = ("W_E", "W_pos", "W_Q", "W_K", "W_V", "W_O", "W_U")


def train(cfg: Config, seed: int, steps: int = 3000, batch_size: int = 128, progress: bool = True,
          mode: str = DEFAULT_MODE, threads: int = 1) -> tuple[MaxOfK, float]:
    """Train with the recipe; returns the model and the last batch's loss. torch's thread count is
    set to `threads` meanwhile: part of a torch-mode model's recipe, only speed for ieee-v1 (these
    products are too small to gain from a second thread, and spinning ones lose badly when shared)."""
    import torch
    if mode not in MODES:
        raise ValueError(f"unknown training mode {mode!r}; choose from {', '.join(MODES)}")
    bar = _progress(steps, f"train k={cfg.k} vocab={cfg.d_vocab} seed={seed}") if progress else None
    run = _train_ieee if mode == "ieee-v1" else _train_torch
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model, loss = run(cfg, seed, steps, batch_size, bar)
    finally:
        torch.set_num_threads(before)
        if bar is not None:
            bar.close()
    return model, loss


def environment(mode: str, threads: int = 1) -> dict[str, object]:
    """What the weights' bits depend on, for the safetensors metadata. ieee-v1 files record nothing
    machine-specific, so their SHA-256 is the same everywhere; torch files record the machine."""
    if mode == "ieee-v1":
        return {"mode": mode}
    import torch
    return {"mode": mode, "torch": torch.__version__, "capability": torch.backends.cpu.get_cpu_capability(),
            "threads": threads}


def machine() -> str:
    """The actual machine, for the user (not stored: an ieee-v1 model does not depend on it)."""
    import platform
    import torch
    return f"{platform.machine()}/{torch.backends.cpu.get_cpu_capability()}"


def _train_ieee(cfg: Config, seed: int, steps: int, batch_size: int, bar) -> tuple[MaxOfK, float]:
    """Hand-written forward and backward pass and AdamW (torch's single-tensor update written out)
    in float32; biases stay at zero as in the torch recipe. Streams: one per weight, one for data."""
    import torch
    from certify.model import PARAM_SHAPES, MaxOfK
    torch.set_flush_denormal(False)  # subnormals are IEEE's; a library may have set FTZ/DAZ
    ieee.keep_heap()
    std = 0.8 / math.sqrt(cfg.d_model)
    params = {}
    for stream, name in enumerate(_WEIGHTS):
        shape = _shape(cfg, name)
        draws = ieee.normals(seed, stream, math.prod(shape)) * std
        params[name] = draws.astype(ieee.F32).reshape(shape)
    adam = _Adam(params)
    loss = float("nan")
    for step in range(steps):
        tokens = ieee.uniform_ints(seed, len(_WEIGHTS), step * batch_size * cfg.k, batch_size * cfg.k,
                                   cfg.d_vocab).reshape(batch_size, cfg.k)
        grads, loss = _loss_and_grads(params, tokens, cfg)
        adam.step(params, grads)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
    state = {name: torch.zeros(PARAM_SHAPES[name](cfg)) for name in PARAM_SHAPES}
    for name in _WEIGHTS:
        full = next(n for n in PARAM_SHAPES if n.endswith("." + name))
        state[full] = torch.from_numpy(params[name].reshape(PARAM_SHAPES[full](cfg)).copy())
    return MaxOfK.from_state(cfg, state), loss


def _shape(cfg: Config, name: str) -> tuple[int, int]:
    return {"W_E": (cfg.d_vocab, cfg.d_model), "W_pos": (cfg.k, cfg.d_model), "W_Q": (cfg.d_model, cfg.d_head),
            "W_K": (cfg.d_model, cfg.d_head), "W_V": (cfg.d_model, cfg.d_head),
            "W_O": (cfg.d_head, cfg.d_model), "W_U": (cfg.d_model, cfg.d_vocab)}[name]


def _loss_and_grads(w: dict[str, np.ndarray], tokens: np.ndarray,
                    cfg: Config) -> tuple[dict[str, np.ndarray], float]:
    """Mean cross-entropy of the max and its gradient, model.py's forward by hand (queries are
    computed at every position in one product with keys and values; only the last one is used)."""
    mm, tsum = ieee.matmul, ieee.tree_sum
    b, k = tokens.shape
    h = cfg.d_head
    scale = ieee.F32(math.sqrt(h))
    resid = (w["W_E"][tokens] + w["W_pos"][None, :k]).reshape(b * k, -1)     # [b k, d]
    w_qkv = np.concatenate([w["W_Q"], w["W_K"], w["W_V"]], axis=1)           # [d, 3h]
    qkv = mm(resid, w_qkv).reshape(b, k, 3 * h)
    q, keys, vals = qkv[:, -1, :h], qkv[:, :, h:2 * h], qkv[:, :, 2 * h:]
    attn = ieee.softmax32(tsum(keys * q[:, None, :], axis=2) / scale)        # [b, k]
    z = tsum(attn[:, :, None] * vals, axis=1)                                # [b, h]
    x = resid.reshape(b, k, -1)[:, -1]
    out = x + mm(z, w["W_O"])                                                # [b, d]
    probs = ieee.softmax32(mm(out, w["W_U"]))                                # [b, v]
    target = tokens.max(axis=1)
    picked = probs[np.arange(b), target].astype(np.float64)
    loss = float(-ieee.log64(np.maximum(picked, 1e-300)).mean())  # reported only: no weight uses it
    g_logits = probs.copy()
    g_logits[np.arange(b), target] -= ieee.F32(1)
    g_logits = g_logits / ieee.F32(b)
    g = {"W_U": mm(out.T, g_logits)}
    g_out = mm(g_logits, w["W_U"].T)
    g["W_O"] = mm(z.T, g_out)
    g_z = mm(g_out, w["W_O"].T)
    g_attn = tsum(vals * g_z[:, None, :], axis=2)                           # [b, k]
    g_scores = attn * (g_attn - tsum(attn * g_attn, axis=1)[:, None]) / scale
    g_qkv = np.zeros_like(qkv)
    g_qkv[:, -1, :h] = tsum(g_scores[:, :, None] * keys, axis=1)
    g_qkv[:, :, h:2 * h] = g_scores[:, :, None] * q[:, None, :]
    g_qkv[:, :, 2 * h:] = attn[:, :, None] * g_z[:, None, :]
    g_qkv = g_qkv.reshape(b * k, 3 * h)
    g["W_Q"], g["W_K"], g["W_V"] = np.split(mm(resid.T, g_qkv), 3, axis=1)
    g_resid = mm(g_qkv, w_qkv.T).reshape(b, k, -1)
    g_resid[:, -1] += g_out
    g["W_pos"] = tsum(g_resid, axis=0)
    g["W_E"] = _scatter_rows(tokens.reshape(-1), g_resid.reshape(b * k, -1), cfg.d_vocab)
    return g, loss


def _scatter_rows(index: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """out[i] = sum of rows[j] with index[j] == i, added in increasing j: round r adds every
    index's r-th occurrence (distinct targets within a round, so fancy-index += is exact)."""
    out = np.zeros((n, rows.shape[1]), dtype=rows.dtype)
    order = np.argsort(index, kind="stable")
    sorted_index = index[order]
    first = np.searchsorted(sorted_index, sorted_index, side="left")
    rank = np.arange(index.size) - first
    for r in range(int(rank.max()) + 1 if index.size else 0):
        pick = order[rank == r]
        out[index[pick]] += rows[pick]
    return out


class _Adam:
    """torch.optim.AdamW's single-tensor step, one correctly rounded float32 operation at a time
    (torch fuses some of them with FMA in its vectorised kernels, which is why it is not portable)."""

    def __init__(self, params: dict[str, np.ndarray]) -> None:
        self.m = {n: np.zeros_like(p) for n, p in params.items()}
        self.v = {n: np.zeros_like(p) for n, p in params.items()}
        self.beta_powers = (1.0, 1.0)

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        lr, wd = RECIPE["lr"], RECIPE["weight_decay"]
        b1, b2 = RECIPE["betas"]
        self.beta_powers = (self.beta_powers[0] * b1, self.beta_powers[1] * b2)  # no libm pow
        step_size = ieee.F32(lr / (1.0 - self.beta_powers[0]))
        bias2_sqrt = ieee.F32(math.sqrt(1.0 - self.beta_powers[1]))
        decay, one_b1, one_b2 = ieee.F32(1.0 - lr * wd), ieee.F32(1.0 - b1), ieee.F32(1.0 - b2)
        for n, g in grads.items():
            params[n] = params[n] * decay
            self.m[n] = self.m[n] + (g - self.m[n]) * one_b1
            self.v[n] = self.v[n] * ieee.F32(b2) + (g * g) * one_b2
            denom = np.sqrt(self.v[n]) / bias2_sqrt + ieee.F32(ADAM_EPS)
            params[n] = params[n] - (self.m[n] / denom) * step_size


def _train_torch(cfg: Config, seed: int, steps: int, batch_size: int, bar) -> tuple[MaxOfK, float]:
    """Deterministic on one machine and thread count: highest matmul precision, seeded streams."""
    import torch
    from torch.nn import functional as F
    from certify.model import MaxOfK
    torch.set_float32_matmul_precision("highest")
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    model = MaxOfK(cfg)
    data = torch.Generator().manual_seed(seed + 1)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=RECIPE["lr"], betas=tuple(RECIPE["betas"]),
                            weight_decay=RECIPE["weight_decay"], eps=ADAM_EPS)
    loss_value = float("nan")
    for _ in range(steps):
        tokens = torch.randint(0, cfg.d_vocab, (batch_size, cfg.k), generator=data)
        loss = F.cross_entropy(model(tokens), tokens.max(dim=1).values)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_value = loss.item()
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
    return model, loss_value


def sampled_accuracy(model: MaxOfK, n: int = 100_000, seed: int = 0) -> float:
    import torch
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, model.cfg.d_vocab, (n, model.cfg.k), generator=gen)
    with torch.no_grad():
        pred = model(tokens).argmax(dim=-1)
    return (pred == tokens.max(dim=1).values).float().mean().item()


def _progress(total: int, desc: str):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, mininterval=0.5)
