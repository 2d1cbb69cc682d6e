"""Float64 path terms for the prover (the checker recomputes its own, exactly).

Shapes follow checker/paths.py: qk [V, V, K] raw scores (before / sqrt(d_head)), ov [V, K, V],
direct [V, V]; plus the paper's factors for compact strategies.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file


@dataclass(frozen=True)
class FloatModel:
    k: int
    d_vocab: int
    d_head: int
    t: dict[str, np.ndarray]  # float64 copies of the TransformerLens tensors

    @property
    def resid(self) -> np.ndarray:
        """[V, K, d_model]: W_E[t] + W_pos[i]."""
        return self.t["embed.W_E"][:, None, :] + self.t["pos_embed.W_pos"][None, :, :]

    def query(self) -> np.ndarray:
        return self.resid[:, -1] @ self.t["blocks.0.attn.W_Q"][0] + self.t["blocks.0.attn.b_Q"][0]

    def qk(self) -> np.ndarray:
        keys = self.resid @ self.t["blocks.0.attn.W_K"][0] + self.t["blocks.0.attn.b_K"][0]
        return np.einsum("qh,tih->qti", self.query(), keys)

    def ov(self) -> np.ndarray:
        vals = self.resid @ self.t["blocks.0.attn.W_V"][0] + self.t["blocks.0.attn.b_V"][0]
        return vals @ self.t["blocks.0.attn.W_O"][0] @ self.t["unembed.W_U"]

    def direct(self) -> np.ndarray:
        U = self.t["unembed.W_U"]
        return self.resid[:, -1] @ U + self.t["blocks.0.attn.b_O"] @ U + self.t["unembed.b_U"]


def load_float_model(path: str | Path) -> FloatModel:
    t = {name: a.astype(np.float64) for name, a in load_file(str(path)).items()}
    d_vocab = t["embed.W_E"].shape[0]
    return FloatModel(t["pos_embed.W_pos"].shape[0], d_vocab, t["blocks.0.attn.W_Q"].shape[-1], t)
