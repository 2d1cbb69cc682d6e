"""The paper's training recipe: online uniform sequences, AdamW 1e-3, batch 128, 3000 steps."""
from __future__ import annotations

import sys

import torch
from torch.nn import functional as F

from certify.model import Config, MaxOfK

RECIPE = {"optimizer": "AdamW", "lr": 1e-3, "betas": [0.9, 0.999], "weight_decay": 0.01,
          "batch_size": 128, "steps": 3000}


def train(cfg: Config, seed: int, steps: int = 3000, batch_size: int = 128,
          progress: bool = True) -> tuple[MaxOfK, float]:
    """Deterministic for a given seed on CPU: one thread, highest matmul precision, seeded streams."""
    torch.set_num_threads(1)
    torch.set_float32_matmul_precision("highest")
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    model = MaxOfK(cfg)
    data = torch.Generator().manual_seed(seed + 1)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=RECIPE["lr"], betas=tuple(RECIPE["betas"]),
                            weight_decay=RECIPE["weight_decay"])
    bar = _progress(steps, f"train k={cfg.k} vocab={cfg.d_vocab} seed={seed}") if progress else None
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
    if bar is not None:
        bar.close()
    return model, loss_value


def sampled_accuracy(model: MaxOfK, n: int = 100_000, seed: int = 0) -> float:
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, model.cfg.d_vocab, (n, model.cfg.k), generator=gen)
    with torch.no_grad():
        pred = model(tokens).argmax(dim=-1)
    return (pred == tokens.max(dim=1).values).float().mean().item()


def _progress(total: int, desc: str):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, mininterval=0.5)
