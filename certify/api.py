"""The Python API: prove a bound on a model, write the certificate, check it; read verdict and bound.

    from certify import api
    run = api.prove("k4-v64-s123", "cubic", out="certs")   # zoo name or .safetensors path
    run.verdict, run.bound, run.path                        # 'accepted', Fraction(...), Path(...)
    api.check(run.path).bound                               # re-check any certificate later

The command line (`certify run`, `certify check`) is built on these functions. Nothing here needs
torch: proving and checking use numpy; only training and importing state dicts need torch.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from certify import zoo
from certify.paths import FloatModel
from certify.strategies.base import Strategy

SEMANTICS = ("exact-real", "float32")


class ModelError(ValueError):
    """The file is not a model certify can prove anything about (the checker would refuse it)."""


@dataclass(frozen=True)
class Model:
    """A validated model: where its weights are, how certificates name it, its sizes."""
    weights: Path
    zoo_name: str | None
    sha256: str
    float_model: FloatModel

    @property
    def label(self) -> str:
        """The model's name in certificate file names: the zoo name or the file's stem."""
        return self.zoo_name or self.weights.stem

    @property
    def k(self) -> int:
        return self.float_model.k

    @property
    def d_vocab(self) -> int:
        return self.float_model.d_vocab


@dataclass(frozen=True)
class Run:
    """One strategy's proof, written to `path` and re-checked there by the independent checker."""
    strategy: str
    semantics: str
    path: Path
    prove_seconds: float
    result: "checker.check.Result"  # noqa: F821 (the checker's verdict, bound, reason, ops, seconds)
    parameters: dict = dataclasses.field(default_factory=dict)  # e.g. the variant `subcubic` chose

    @property
    def variant(self) -> str | None:
        """For `subcubic` (a search), the variant it chose, by its full name."""
        p = self.parameters
        if self.strategy == "subcubic" and {"eupu", "attn", "err"} <= set(p):
            return f"subcubic:eupu={p['eupu']},attn={p['attn']},err={p['err']}"
        return None

    @property
    def verdict(self) -> str:
        return self.result.verdict

    @property
    def bound(self) -> Fraction | None:
        """The certified lower bound on the exact accuracy, if the checker accepted the claim."""
        return self.result.bound

    @property
    def accepted(self) -> bool:
        return self.result.verdict == "accepted"


def load(model: str | Path) -> Model:
    """A zoo name (`k4-v64-s123`, `zoo:k4-v64-s123`) or a .safetensors path, validated by the
    checker's own strict reader, so that nothing is proved about a model the checker refuses."""
    from checker.errors import CheckFailure
    from checker.safetensors import read_weights
    weights, name = zoo.resolve(str(model))
    try:
        w = read_weights(str(weights))
    except CheckFailure as e:
        raise ModelError(f"{weights}: not a model certify can prove: {e}") from None
    t = {n: a.astype(np.float64) for n, a in w.tensors.items()}
    return Model(Path(weights), name, w.sha256, FloatModel(w.k, w.d_vocab, w.d_head, t))


def strategy(name: str) -> Strategy:
    """A strategy by name: `brute-force`, `cubic`, `subcubic`, or a variant (`certify strategies`);
    a subcubic variant may be given short, as `subcubic:EUPU/ATTN/ERR`."""
    from certify.strategies import get
    return get(full_name(name))


def full_name(name: str) -> str:
    """`subcubic:A/B/C` -> `subcubic:eupu=A,attn=B,err=C`; other names unchanged."""
    head, _, rest = name.partition(":")
    parts = rest.split("/")
    if head == "subcubic" and len(parts) == 3 and "=" not in rest:
        return f"subcubic:eupu={parts[0]},attn={parts[1]},err={parts[2]}"
    return name


def short_name(name: str) -> str:
    """`subcubic:eupu=A,attn=B,err=C` -> `subcubic:A/B/C` (for tables; `full_name` inverts it)."""
    head, _, rest = name.partition(":")
    fields = [f.partition("=") for f in rest.split(",")] if rest else []
    if head == "subcubic" and [f[0] for f in fields] == ["eupu", "attn", "err"]:
        return "subcubic:" + "/".join(f[2] for f in fields)
    return name


def default_strategies() -> list[Strategy]:
    from certify.strategies import all_strategies
    return [s for s in all_strategies().values() if s.default]


def skip_reason(model: Model, strat: Strategy, semantics: str = "exact-real") -> str | None:
    """Why `strat` cannot prove anything about `model` under `semantics`, or None if it can."""
    if semantics not in strat.semantics:
        return f"claims {', '.join(strat.semantics)} semantics only"
    return strat.applies(dataclasses.replace(model.float_model, semantics=semantics))


def certificate_path(out: str | Path, model: Model, strat: Strategy, semantics: str) -> Path:
    from certify.certificate import file_name
    return Path(out) / file_name(model.label, strat.name, semantics)


def prove(model: str | Path | Model, strategy_name: str = "cubic", *, semantics: str = "exact-real",
          out: str | Path = "certs", force: bool = False,
          on_phase: Callable[[str], None] | None = None) -> Run:
    """Prove with one strategy, write the certificate into `out`, check it with the checker.

    The certificate appears under its final name only once checked (an interrupted run leaves
    nothing), and never replaces a different certificate unless `force`
    (certify.certificate.publish). Raises ValueError if the strategy does not apply.
    `on_phase(name)` is told when the "prove" and "check" phases start (progress display)."""
    from checker.check import check_file
    from certify.certificate import certificate_dict, model_reference, publish, refuse_other_claim
    if semantics not in SEMANTICS:
        raise ValueError(f"unknown semantics {semantics!r}; one of {', '.join(SEMANTICS)}")
    m = model if isinstance(model, Model) else load(model)
    strat = strategy(strategy_name)
    reason = skip_reason(m, strat, semantics)
    if reason:
        raise ValueError(f"{strat.name} does not apply to {m.label}: {reason}")
    path = certificate_path(out, m, strat, semantics)
    if not force:
        refuse_other_claim(path, m.sha256, semantics)  # before the (long) proof
    phase = on_phase or _ignore
    phase("prove")
    t0 = time.perf_counter()
    proof = strat.prove(dataclasses.replace(m.float_model, semantics=semantics,
                                            progress=lambda done, total: phase(f"prove {done}/{total}")))
    prove_s = time.perf_counter() - t0
    cert = certificate_dict(proof, m.k, m.d_vocab, m.sha256, model_reference(m.weights, path, m.zoo_name))

    def check(tmp: Path):
        phase("check")
        return check_file(str(tmp))
    result = publish(path, cert, check, force)
    return Run(strat.name, semantics, path, prove_s, result, dict(proof.parameters))


def check(certificate: str | Path, weights: str | Path | None = None,
          min_accuracy: Fraction | str | None = None, time_limit: float | None = None):
    """Check a certificate with the independent checker; the checker's Result (verdict, bound,
    reason, strategy, seconds, ops, exit_code). `min_accuracy` is read exactly: "0.9", "9/10", a
    Fraction, or a float taken as the decimal it prints as (0.9 -> 9/10)."""
    from checker.check import check_file
    if isinstance(min_accuracy, float):
        min_accuracy = repr(min_accuracy)  # 0.9 means 9/10, not the binary float nearest to it
    threshold = None if min_accuracy is None else Fraction(min_accuracy)
    return check_file(str(certificate), None if weights is None else str(weights), threshold, time_limit)


def _ignore(phase: str) -> None:
    pass
