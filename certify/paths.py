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

    def ov(self, shifted: bool = True) -> np.ndarray:
        """[V, K, V]; shifted (the default): each row OV[t, i] less a constant (see unembed)."""
        vals = self.resid @ self.t["blocks.0.attn.W_V"][0] + self.t["blocks.0.attn.b_V"][0]
        return vals @ self.t["blocks.0.attn.W_O"][0] @ (self.unembed()[0] if shifted else self.t["unembed.W_U"])

    def direct(self) -> np.ndarray:
        """[V, V]; each row DIRECT[q] less a constant (see unembed)."""
        U, b_U = self.unembed()
        return self.resid[:, -1] @ U + self.t["blocks.0.attn.b_O"] @ U + b_U

    def unembed(self) -> tuple[np.ndarray, np.ndarray]:
        """W_U less each row's max, b_U less its max. Every logit of an input then moves by the same
        amount (h . max-row + max(b_U) for residual h), which changes no logit difference, hence no
        claim; but a large offset common to the logits (b_U = 2**60, a constant row of W_U) is
        removed before float64 rounds it into the differences the proofs decide by. (float32
        entries: the subtractions are exact in float64 unless exponents differ by > 29.)"""
        U, b_U = self.t["unembed.W_U"], self.t["unembed.b_U"]
        return U - U.max(axis=1, keepdims=True), b_U - b_U.max()

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
            return logit_error(self.t, np.abs(self.ov(shifted=False)).max(axis=(0, 1)) * SAFETY) * SAFETY
        except Reject as e:
            raise ValueError(f"no float32 claim is possible: {e}") from None


def load_float_model(path: str | Path) -> FloatModel:
    t = {name: a.astype(np.float64) for name, a in load_file(str(path)).items()}
    d_vocab = t["embed.W_E"].shape[0]
    return FloatModel(t["pos_embed.W_pos"].shape[0], d_vocab, t["blocks.0.attn.W_Q"].shape[-1], t)
