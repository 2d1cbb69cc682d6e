"""Weight import: round trip to identical bytes; unsupported architectures refused clearly."""
from __future__ import annotations

import pytest
import torch

from certify.model import Config
from certify.train import train
from certify.weights import save_model
from certify.weights_import import ImportErrorWithReason, import_weights


@pytest.fixture(scope="module")
def trained():
    model, _ = train(Config(3, 6, 8, 4), 1, steps=20, progress=False)
    return model


def _state(model) -> dict:
    state = {k: v.clone() for k, v in model.state().items()}
    state["blocks.0.attn.mask"] = torch.ones(3, 3)           # TransformerLens buffers are dropped
    state["blocks.0.attn.IGNORE"] = torch.tensor(-1e5)
    return state


def test_round_trip_gives_identical_bytes(trained, tmp_path):
    torch.save(_state(trained), tmp_path / "sd.pt")
    direct = tmp_path / "direct.safetensors"
    save_model(trained, direct, {"imported_from": "sd.pt"})
    import_weights(tmp_path / "sd.pt", tmp_path / "imported.safetensors")
    assert (tmp_path / "imported.safetensors").read_bytes() == direct.read_bytes()


@pytest.mark.parametrize("edit,message", [
    (lambda s: s.__setitem__("blocks.0.ln1.w", torch.ones(8)), "LayerNorm or MLP"),
    (lambda s: s.__setitem__("blocks.0.mlp.W_in", torch.ones(8, 16)), "LayerNorm or MLP"),
    (lambda s: s.__setitem__("blocks.1.attn.W_Q", torch.ones(1, 8, 4)), "layers"),
    (lambda s: s.__setitem__("blocks.0.attn.W_Q", torch.ones(2, 8, 4)), "one head"),
    (lambda s: s.__setitem__("unembed.W_U", torch.ones(8, 5)), "shape"),
    (lambda s: s.__setitem__("embed.W_E", torch.full((6, 8), float("nan"))), "NaN"),
])
def test_unsupported_or_broken_state_dicts_are_refused(trained, tmp_path, edit, message):
    state = _state(trained)
    edit(state)
    torch.save(state, tmp_path / "sd.pt")
    with pytest.raises(ImportErrorWithReason, match=message):
        import_weights(tmp_path / "sd.pt", tmp_path / "out.safetensors")


def test_not_a_state_dict(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a pickle")
    with pytest.raises(ImportErrorWithReason, match="cannot load"):
        import_weights(tmp_path / "junk.pt", tmp_path / "out.safetensors")
