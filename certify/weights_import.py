"""Import weights from a torch / TransformerLens state dict (.pt) into our safetensors format.

Only the paper's architecture is accepted: one layer, one attention head, no LayerNorm, no MLP.
TransformerLens' buffers (attention masks, IGNORE) are dropped; everything else must be known.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from certify.model import PARAM_SHAPES, Config, MaxOfK
from certify.weights import save_model

IGNORED_SUFFIXES = (".attn.mask", ".attn.IGNORE")


class ImportErrorWithReason(ValueError):
    pass


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for unreadable or unsafe files
        raise ImportErrorWithReason(f"cannot load {path} as a state dict: {_first_line(e)}") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ImportErrorWithReason(f"{path}: not a state dict of tensors")
    return obj


def _first_line(e: Exception) -> str:
    """torch's message without its ANSI colour codes and its pages of advice (weights_only)."""
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(e)).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if found:
        return (f"it holds a pickled {found.group(1)} object, not only tensors (weights_only=True "
                "refuses to unpickle it); save model.state_dict() instead")
    if "WeightsUnpickler error:" in text:  # the reason is on the first line after that one
        after = text.split("WeightsUnpickler error:", 1)[1].strip().splitlines()
        return f"not a torch state-dict file ({after[0].strip() if after else 'unreadable'})"
    return lines[0] if lines else type(e).__name__


def convert(state: dict[str, torch.Tensor]) -> MaxOfK:
    """Validate names, shapes and architecture; return the model (biases default to zero if absent)."""
    keys = {k for k in state if not k.endswith(IGNORED_SUFFIXES)}
    unsupported = [k for k in keys if any(part.startswith("ln") or part == "mlp" for part in k.split("."))]
    if unsupported:
        raise ImportErrorWithReason(f"unsupported architecture: LayerNorm or MLP weights present {sorted(unsupported)[:4]}")
    layers = {k.split(".")[1] for k in keys if k.startswith("blocks.")}
    if layers - {"0"}:
        raise ImportErrorWithReason(f"unsupported architecture: {len(layers)} layers (only 1 is supported)")
    unknown = keys - set(PARAM_SHAPES)
    if unknown:
        raise ImportErrorWithReason(f"unknown tensors {sorted(unknown)[:6]}")
    for name in ("embed.W_E", "pos_embed.W_pos", "blocks.0.attn.W_Q", "unembed.W_U"):
        if name not in keys:
            raise ImportErrorWithReason(f"missing tensor {name}")
    w_q = state["blocks.0.attn.W_Q"]
    if w_q.ndim != 3 or w_q.shape[0] != 1:
        raise ImportErrorWithReason(f"unsupported architecture: W_Q has shape {tuple(w_q.shape)} "
                                    "(exactly one head [1, d_model, d_head] is supported)")
    d_vocab, d_model = state["embed.W_E"].shape
    cfg = Config(k=state["pos_embed.W_pos"].shape[0], d_vocab=d_vocab, d_model=d_model, d_head=w_q.shape[2])
    full = {}
    for name, shape in PARAM_SHAPES.items():
        tensor = state.get(name, torch.zeros(shape(cfg)) if ".b_" in name else None)
        if tuple(tensor.shape) != shape(cfg):
            raise ImportErrorWithReason(f"{name}: shape {tuple(tensor.shape)}, expected {shape(cfg)}")
        if not torch.isfinite(tensor).all():
            raise ImportErrorWithReason(f"{name}: NaN or infinite values")
        full[name] = tensor.detach().to(torch.float32)
    return MaxOfK.from_state(cfg, full)


def import_weights(src: str | Path, out: str | Path) -> str:
    """Convert and save; returns the SHA-256 of the written file."""
    return save_model(convert(load_state_dict(src)), out, {"imported_from": Path(src).name})
