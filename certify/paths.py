"""Float64 path terms for the prover (the checker recomputes its own, exactly).

Shapes follow checker/paths.py: qk [V, V, K] raw scores (before / sqrt(d_head)), ov [V, K, V],
direct [V, V]; plus the paper's factors for compact strategies.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from safetensors.numpy import load_file


SAFETY = 1 + 2.0 ** -20


@dataclass(frozen=True)
class FloatModel:
    k: int
    d_vocab: int
    d_head: int
    t: dict[str, np.ndarray]  # float64 copies of the TransformerLens tensors
    semantics: str = "exact-real"  # or "float32": what the proofs' claims are about
    progress: Callable[[int, int], None] | None = field(default=None, compare=False, repr=False)

    def tick(self, done: int, total: int) -> None:
        """Tell the front end how far a long proof has got (certify run's progress line)."""
        if self.progress is not None:
            self.progress(done, total)

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

    def direct_win_rival(self) -> tuple[np.ndarray, np.ndarray]:
        """The direct path as the answer's logit and as a rival logit count it (checker/paths.py):
        both DIRECT for exact-real; DIRECT -/+ E for float32, E bounding the float32 logit error."""
        D = self.direct()
        if self.semantics == "exact-real":
            return D, D
        E = self.float32_slack()
        return D - E, D + E

    def float32_slack(self) -> np.ndarray:
        """The checker's float32 error bound (checker/float32.py, which specifies that semantics),
        enlarged by 2**-20 so that this float64 evaluation never claims more than the checker proves."""
        from checker.errors import Reject
        from checker.float32 import logit_error
        try:
            return logit_error(self.t, np.abs(self.ov()).max(axis=(0, 1)) * SAFETY) * SAFETY
        except Reject as e:
            raise ValueError(f"no float32 claim is possible: {e}") from None


def load_float_model(path: str | Path) -> FloatModel:
    t = {name: a.astype(np.float64) for name, a in load_file(str(path)).items()}
    d_vocab = t["embed.W_E"].shape[0]
    return FloatModel(t["pos_embed.W_pos"].shape[0], d_vocab, t["blocks.0.attn.W_Q"].shape[-1], t)
