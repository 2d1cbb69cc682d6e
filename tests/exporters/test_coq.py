"""Coq bridge: honest brute-force certificates become theorems Coq's kernel accepts with only Coq's
own axioms; a statement claiming one more correct input does not build; careless input is refused."""
from __future__ import annotations

import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from certify.certificate import certificate_dict, write_certificate
from certify.cli import main
from certify.model import Config
from certify.paths import load_float_model
from certify.strategies import brute_force, cubic
from certify.train import train
from certify.weights import save_model
from checker.check import check_file
from checker.safetensors import read_weights
from exporters import coq
from tests.conftest import random_state, write_state

LIBRARY = Path(coq.__file__).with_name("coq")


def _cert(root: Path, weights: Path, name: str, strategy=brute_force) -> tuple[Path, int]:
    """A checked certificate and the number of inputs its bound claims (over d_vocab^K)."""
    fm = load_float_model(weights)
    proof = strategy.prove(fm)
    path = root / f"{name}.json"
    w = read_weights(str(weights))
    write_certificate(path, certificate_dict(proof, w.k, w.d_vocab, w.sha256, str(weights)))
    assert check_file(str(path)).verdict == "accepted"
    return path, int(proof.bound * w.d_vocab ** w.k)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A partly trained K=3, V=8 model (not 100% accurate, so a forged count is a real lie), built once."""
    root = tmp_path_factory.mktemp("coq")
    model, _ = train(Config(3, 8, 8, 8), 5, steps=400, progress=False)
    save_model(model, root / "m.safetensors")
    cert, correct = _cert(root, root / "m.safetensors", "m")
    assert 0 < correct < 8 ** 3
    dev = root / "dev"
    coq.export(str(cert), str(dev))
    return cert, correct, dev, coq.build(str(dev))


@pytest.fixture(scope="module")
def built_cubic(built):
    """The same model's cubic certificate (a weaker bound than brute force), built once."""
    cert, _, dev, _ = built
    ccert, claimed = _cert(cert.parent, cert.parent / "m.safetensors", "m-cubic", cubic)
    cdev = dev.parent / "dev-cubic"
    coq.export(str(ccert), str(cdev))
    return ccert, claimed, cdev, coq.build(str(cdev))


def test_cubic_certificate_is_a_theorem(built_cubic, built):
    ccert, claimed, cdev, b = built_cubic
    assert 0 < claimed <= built[1]
    assert b.accepted and all(coq.coq_own(a) for a in b.assumptions), b.log[-2000:]
    assert "apply (cubic_check_sound" in (cdev / "Main.v").read_text()


def test_cubic_one_more_input_does_not_build(built_cubic, tmp_path):
    """Coq counts exactly the inputs the cubic cases cover, so one more does not build."""
    _, claimed, _, _ = built_cubic
    assert not _forge(built_cubic, tmp_path, f"{claimed + 1} / {8 ** 3}").accepted


def test_counting_lemma_counts_what_enumeration_counts(built_cubic):
    """Differential inside Coq: the count the theorem uses (Counting.v, C(K-1, c) |S|^c per case)
    equals the number of inputs the cases cover found by listing all V^K of them."""
    _, claimed, cdev, _ = built_cubic
    (cdev / "Same.v").write_text(
        "From Coq Require Import ZArith.\nFrom Certify Require Import Semantics Tables BruteForce Cubic Main.\n"
        "Lemma same : let tb := make_tables net in let CT := cubic_table net tb (exp_table 60 128 net tb) in\n"
        f"  (cubic_count net CT = countZ (covered net CT) (inputs (d_vocab net) (K net)) /\\\n"
        f"   cubic_count net CT = {claimed})%Z.\nProof. vm_compute. split; reflexivity. Qed.\n")
    out = subprocess.run(["coqc", "-Q", ".", "Certify", "Same.v"], cwd=cdev, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_enumeration_export(built_cubic, tmp_path):
    """`enumerate=True` (benchmarks/coq.py's comparison) states the same theorem, proved by listing inputs."""
    ccert, *_ = built_cubic
    coq.export(str(ccert), str(tmp_path / "e"), enumerate=True)
    text = (tmp_path / "e" / "Main.v").read_text()
    assert "apply (cubic_enum_check_sound" in text
    assert text.split("Theorem")[1] == (built_cubic[2] / "Main.v").read_text().split("Theorem")[1].replace(
        "cubic_check_sound", "cubic_enum_check_sound")


def test_check_coq_cli_cubic(built_cubic, capsys):
    assert main(["check", str(built_cubic[0]), "--coq"]) == 0
    assert "accepted `accuracy_bound" in capsys.readouterr().out


def test_honest_certificate_is_a_theorem(built):
    cert, correct, dev, b = built
    assert b.accepted, b.log[-2000:]
    assert b.assumptions and all(coq.coq_own(a) for a in b.assumptions)
    assert "ClassicalDedekindReals.sig_forall_dec" in b.assumptions  # the parser did read the list
    bound = Fraction(correct, 8 ** 3)
    main_v = (dev / "Main.v").read_text()
    assert f"Theorem accuracy_bound : ({bound.numerator} / {bound.denominator} <= accuracy net)%R." in main_v
    assert (dev / "_CoqProject").read_text().startswith("-Q . Certify\n")


def _forge(built, tmp_path, statement: str) -> coq.Build:
    _, _, dev, _ = built
    forged = tmp_path / "forged"
    shutil.copytree(dev, forged)  # the library stays compiled; only Main.v changes
    main_v = forged / "Main.v"
    text, n = re.subn(r"Theorem accuracy_bound : \(\d+ / \d+ ", f"Theorem accuracy_bound : ({statement} ",
                      main_v.read_text())
    assert n == 1
    main_v.write_text(text)
    return coq.build(str(forged))


def test_one_more_correct_input_does_not_build(built, tmp_path):
    _, correct, _, _ = built
    b = _forge(built, tmp_path, f"{correct + 1} / {8 ** 3}")
    assert not b.accepted and "Main.v" in b.log


def test_raised_numerator_of_the_stated_fraction_does_not_build(built, tmp_path):
    _, correct, _, _ = built
    bound = Fraction(correct, 8 ** 3)
    b = _forge(built, tmp_path, f"{bound.numerator + 1} / {bound.denominator}")
    assert not b.accepted


def test_random_model_with_biases_agrees_with_the_checker(tmp_path):
    """Differential: Coq's own reading of the semantics (all biases, K=3, d_head=4) proves exactly the
    checker's count; an error in the Coq model's definition would make it prove a different one."""
    weights = write_state(random_state(Config(3, 6, 5, 4), 11, scale=2.0, biases=True), tmp_path / "r.safetensors")
    cert, correct = _cert(tmp_path, weights, "r")
    assert 0 < correct < 6 ** 3
    b, bound = coq.check(str(cert), keep=str(tmp_path / "dev"))
    assert b.accepted and bound == Fraction(correct, 6 ** 3), b.log[-2000:]
    assert not _forge((cert, correct, tmp_path / "dev", b), tmp_path, f"{correct + 1} / {6 ** 3}").accepted


def test_sources_assume_nothing(built):
    _, _, dev, _ = built
    assert coq.forbidden_words(str(dev)) == []
    assert coq.forbidden_words(str(LIBRARY)) == []
    (dev.parent / "bad").mkdir()
    (dev.parent / "bad" / "X.v").write_text("Axiom cheat : False.\n(* Admitted *)\n")
    assert coq.forbidden_words(str(dev.parent / "bad")) == ["X.v: Axiom", "X.v: Admitted"]


def test_check_coq_cli(built, capsys):
    cert, *_ = built
    assert main(["check", str(cert), "--coq"]) == 0
    assert "accepted `accuracy_bound" in capsys.readouterr().out


def test_missing_coqc_is_a_clear_error(built, monkeypatch, capsys, tmp_path):
    cert, *_ = built
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["check", str(cert), "--coq"]) == 2
    assert "apt-get install -y coq" in capsys.readouterr().out


def test_export_cli_and_careless_input(built, tmp_path, capsys):
    cert, *_ = built
    assert main(["export", "coq", str(cert), "-o", str(tmp_path / "d")]) == 0
    assert (tmp_path / "d" / "Main.v").exists() and "coq_makefile" in capsys.readouterr().out
    assert main(["export", "coq", str(tmp_path / "missing.json"), "-o", str(tmp_path / "e")]) == 2
    (tmp_path / "bad.json").write_text("{")
    assert main(["export", "coq", str(tmp_path / "bad.json"), "-o", str(tmp_path / "e")]) == 2
    assert main(["export", "coq", str(cert), "-o", str(tmp_path / "e"), "--weights",
                 str(Path(__file__).resolve().parents[2] / "certify/zoo/k4-v64-s123.safetensors")]) == 2
    captured = capsys.readouterr()
    assert "SHA-256" in captured.out + captured.err


def test_too_many_inputs_for_brute_force_or_bad_output_dir_is_refused(built, tmp_path, monkeypatch, capsys):
    cert, *_ = built
    (tmp_path / "file").write_text("")
    assert main(["export", "coq", str(cert), "-o", str(tmp_path / "file" / "d")]) == 2
    assert "cannot create" in capsys.readouterr().out
    monkeypatch.setattr(coq, "MAX_BRUTE_INPUTS", 8 ** 3 - 1)
    assert main(["export", "coq", str(cert), "-o", str(tmp_path / "d")]) == 2
    assert main(["check", str(cert), "--coq"]) == 2
    assert "export a cubic certificate instead" in capsys.readouterr().out


@pytest.mark.parametrize("strategy", ["subcubic", "hybrid", "paper:max_diff/mean_query+diff/svd"])
def test_unsupported_strategy_is_refused(built, tmp_path, capsys, strategy):
    import json
    cert, *_ = built
    doc = json.loads(cert.read_text())
    doc["strategy"]["name"] = strategy
    doc["model"]["path"] = str(cert.parent / "m.safetensors")
    (tmp_path / "s.json").write_text(json.dumps(doc))
    assert main(["export", "coq", str(tmp_path / "s.json"), "-o", str(tmp_path / "d")]) == 2
    assert f"no Coq export for strategy '{strategy}'" in capsys.readouterr().out


@pytest.mark.slow
def test_default_model_cubic_theorem(tmp_path):
    """k4-v64-s123's cubic bound over all 64^4 inputs as a Coq theorem (a few CPU minutes)."""
    from certify import zoo
    weights = Path(zoo.resolve(zoo.DEFAULT_MODEL)[0])
    cert, claimed = _cert(tmp_path, weights, "default", cubic)
    b, bound = coq.check(str(cert), timeout=7200)
    assert b.accepted and bound == Fraction(claimed, 64 ** 4), b.log[-2000:]
