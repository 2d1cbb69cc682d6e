"""The paper's one-layer, one-head, attention-only transformer (TransformerLens names)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Config:
    k: int = 4
    d_vocab: int = 64
    d_model: int = 32
    d_head: int = 32

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


# TransformerLens state-dict key -> (parameter attribute, shape as a function of the config)
PARAM_SHAPES = {
    "embed.W_E": lambda c: (c.d_vocab, c.d_model),
    "pos_embed.W_pos": lambda c: (c.k, c.d_model),
    "blocks.0.attn.W_Q": lambda c: (1, c.d_model, c.d_head),
    "blocks.0.attn.W_K": lambda c: (1, c.d_model, c.d_head),
    "blocks.0.attn.W_V": lambda c: (1, c.d_model, c.d_head),
    "blocks.0.attn.W_O": lambda c: (1, c.d_head, c.d_model),
    "blocks.0.attn.b_Q": lambda c: (1, c.d_head),
    "blocks.0.attn.b_K": lambda c: (1, c.d_head),
    "blocks.0.attn.b_V": lambda c: (1, c.d_head),
    "blocks.0.attn.b_O": lambda c: (c.d_model,),
    "unembed.W_U": lambda c: (c.d_model, c.d_vocab),
    "unembed.b_U": lambda c: (c.d_vocab,),
}
BIASES = {name for name in PARAM_SHAPES if ".b_" in name}


class MaxOfK(nn.Module):
    """Attention-only, causal, logits read at the last position; biases frozen at zero by default."""

    def __init__(self, cfg: Config, train_biases: bool = False) -> None:
        super().__init__()
        self.cfg = cfg
        self.params = nn.ParameterDict()
        std = 0.8 / math.sqrt(cfg.d_model)  # TransformerLens' default initializer_range
        for name, shape in PARAM_SHAPES.items():
            is_bias = name in BIASES
            init = torch.zeros(shape(cfg)) if is_bias else torch.randn(shape(cfg)) * std
            self.params[_key(name)] = nn.Parameter(init, requires_grad=train_biases or not is_bias)

    def p(self, name: str) -> torch.Tensor:
        return self.params[_key(name)]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [batch, k] -> logits at the last position [batch, d_vocab]."""
        c = self.cfg
        resid = self.p("embed.W_E")[tokens] + self.p("pos_embed.W_pos")[: tokens.shape[1]]
        q = resid[:, -1] @ self.p("blocks.0.attn.W_Q")[0] + self.p("blocks.0.attn.b_Q")[0]
        keys = resid @ self.p("blocks.0.attn.W_K")[0] + self.p("blocks.0.attn.b_K")[0]
        vals = resid @ self.p("blocks.0.attn.W_V")[0] + self.p("blocks.0.attn.b_V")[0]
        scores = torch.einsum("bh,bkh->bk", q, keys) / math.sqrt(c.d_head)
        attn = torch.softmax(scores, dim=-1)  # the last position sees every position (causal)
        z = torch.einsum("bk,bkh->bh", attn, vals)
        out = resid[:, -1] + z @ self.p("blocks.0.attn.W_O")[0] + self.p("blocks.0.attn.b_O")
        return out @ self.p("unembed.W_U") + self.p("unembed.b_U")

    def state(self) -> dict[str, torch.Tensor]:
        """TransformerLens-named float32 tensors."""
        return {name: self.p(name).detach().to(torch.float32).contiguous() for name in PARAM_SHAPES}

    @classmethod
    def from_state(cls, cfg: Config, state: dict[str, torch.Tensor]) -> "MaxOfK":
        model = cls(cfg)
        with torch.no_grad():
            for name in PARAM_SHAPES:
                model.p(name).copy_(state[name])
        return model


def _key(name: str) -> str:
    return name.replace(".", "__")
