"""Both command lines end to end, through subprocesses: exit codes, JSON output, never a traceback."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

CHECKER = [sys.executable, "-m", "checker"]
CERTIFY = [sys.executable, "-c", "import sys; from certify.cli import main; sys.exit(main())"]


def run(cmd: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in p.stderr, p.stderr
    assert "Traceback" not in p.stdout, p.stdout
    return p


def as_json(p: subprocess.CompletedProcess) -> dict:
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1, p.stdout
    return json.loads(lines[0])


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """`certify train` run twice with the same arguments (K=3, vocab 5, 50 steps)."""
    d = tmp_path_factory.mktemp("train")
    outs = []
    for name in ("a", "b"):
        out = d / f"{name}.safetensors"
        p = run(CERTIFY + ["train", "--k", "3", "--d-vocab", "5", "--steps", "50", "--seed", "1",
                           "--out", str(out)], cwd=d)
        assert p.returncode == 0, p.stderr
        assert "sha256" in p.stdout
        outs.append(out)
    return outs[0], outs[1]


@pytest.fixture(scope="module")
def cert(trained, tmp_path_factory) -> Path:
    """`certify run --strategy brute-force` on the trained model: a certificate next to nothing else."""
    d = tmp_path_factory.mktemp("run")
    model = d / "m.safetensors"
    shutil.copy(trained[0], model)
    p = run(CERTIFY + ["run", "--model", str(model), "--strategy", "brute-force", "--out", str(d / "certs")],
            cwd=d)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "accepted" in p.stdout
    certs = list((d / "certs").glob("*.json"))
    assert len(certs) == 1
    return certs[0]


def test_train_is_bit_identical(trained):
    a, b = trained
    assert a.read_bytes() == b.read_bytes()


def test_train_tensors_identical(trained):
    """The training itself is deterministic: same tensors, bit for bit."""
    from checker.safetensors import read_weights
    a, b = (read_weights(str(p)) for p in trained)
    assert (a.k, a.d_vocab, a.d_model, a.d_head) == (3, 5, 32, 32)
    for name, t in a.tensors.items():
        assert t.tobytes() == b.tensors[name].tobytes(), name


def test_run_writes_certificate_checker_accepts(cert, tmp_path):
    doc = json.loads(cert.read_text())
    assert doc["model"]["path"] == "../m.safetensors"
    p = run(CHECKER + [str(cert), "--json"], cwd=tmp_path)
    assert p.returncode == 0, p.stdout
    out = as_json(p)
    assert out["verdict"] == "accepted"
    assert out["bound"] == doc["claim"]["accuracy_lower_bound"]
    num, den = out["bound"].split("/")
    assert Fraction(int(num), int(den)) == Fraction(doc["evidence"]["correct_inputs"], 5 ** 3)
    assert out["strategy"] == "brute-force" and out["ops"] > 0


def test_certify_check_json(cert, tmp_path):
    p = run(CERTIFY + ["check", str(cert), "--json"], cwd=tmp_path)
    assert p.returncode == 0
    out = as_json(p)
    assert out["verdict"] == "accepted" and "/" in out["bound"]


def test_console_script(cert, tmp_path):
    exe = shutil.which("certify") or str(Path(sys.executable).parent / "certify")
    if not Path(exe).exists():
        pytest.skip("console script not installed")
    p = run([exe, "check", str(cert), "--json"], cwd=tmp_path)
    assert p.returncode == 0 and as_json(p)["verdict"] == "accepted"


def test_text_output(cert, tmp_path):
    p = run(CHECKER + [str(cert)], cwd=tmp_path)
    assert p.returncode == 0
    assert p.stdout.startswith("ACCEPTED: accuracy >= ")


@pytest.mark.parametrize("cli", ["checker", "certify"])
def test_min_accuracy_above_bound_exits_1(cert, tmp_path, cli):
    bound = Fraction(json.loads(cert.read_text())["claim"]["accuracy_lower_bound"])
    assert bound < 1
    higher = bound + (1 - bound) / 2
    cmd = (CHECKER if cli == "checker" else CERTIFY + ["check"]) + [
        str(cert), "--json", "--min-accuracy", f"{higher.numerator}/{higher.denominator}"]
    p = run(cmd, cwd=tmp_path)
    assert p.returncode == 1
    assert as_json(p)["verdict"] == "rejected"
    # at (or below) the bound it passes; decimals are read exactly
    p = run(CHECKER + [str(cert), "--json", "--min-accuracy", f"{bound.numerator}/{bound.denominator}"],
            cwd=tmp_path)
    assert p.returncode == 0
    p = run(CHECKER + [str(cert), "--json", "--min-accuracy", "0.0"], cwd=tmp_path)
    assert p.returncode == 0


@pytest.mark.parametrize("content", [b"garbage", b"", b"{\"format\": ", b"\xff\xfe\x00", b"[" * 100000,
                                     b"{\"k\": 1" + b"0" * 5000 + b"}"])
@pytest.mark.parametrize("cli", ["checker", "certify"])
def test_garbage_exits_2(tmp_path, content, cli):
    f = tmp_path / "garbage.json"
    f.write_bytes(content)
    cmd = (CHECKER if cli == "checker" else CERTIFY + ["check"]) + [str(f), "--json"]
    p = run(cmd, cwd=tmp_path)
    assert p.returncode == 2
    out = as_json(p)
    assert out["verdict"] == "error" and out["bound"] is None


def test_missing_file_and_bad_arguments_exit_2(tmp_path):
    p = run(CHECKER + [str(tmp_path / "none.json"), "--json"], cwd=tmp_path)
    assert p.returncode == 2 and as_json(p)["verdict"] == "error"
    p = run(CHECKER + [str(tmp_path / "none.json"), "--min-accuracy", "1.5"], cwd=tmp_path)
    assert p.returncode == 2
    p = run(CHECKER + [], cwd=tmp_path)
    assert p.returncode == 2
    p = run(CHECKER + [str(tmp_path / "x"), "--min-accuracy", "abc"], cwd=tmp_path)
    assert p.returncode == 2


def test_false_claim_exits_1(cert, tmp_path):
    doc = json.loads(cert.read_text())
    doc["claim"]["accuracy_lower_bound"] = 1
    doc["evidence"]["correct_inputs"] = doc["evidence"]["total_inputs"]
    shutil.copy(cert.parent.parent / "m.safetensors", tmp_path / "m.safetensors")
    f = tmp_path / "sub" / "false.json"
    f.parent.mkdir()
    f.write_text(json.dumps(doc))
    p = run(CHECKER + [str(f), "--json"], cwd=tmp_path)
    assert p.returncode == 1
    assert as_json(p)["verdict"] == "rejected"


def test_zoo_lists_default(tmp_path):
    p = run(CERTIFY + ["zoo"], cwd=tmp_path)
    assert p.returncode == 0
    assert "k4-v64-s123" in p.stdout and "(default)" in p.stdout


def test_strategies_lists_brute_force(tmp_path):
    p = run(CERTIFY + ["strategies"], cwd=tmp_path)
    assert p.returncode == 0 and "brute-force" in p.stdout


def test_run_unknown_model_exits_2(tmp_path):
    p = run(CERTIFY + ["run", "--model", str(tmp_path / "nope.safetensors"), "--out", str(tmp_path)],
            cwd=tmp_path)
    assert p.returncode == 2
    assert "no model" in p.stderr


def test_run_unknown_strategy_exits_2(trained, tmp_path):
    p = run(CERTIFY + ["run", "--model", str(trained[0]), "--strategy", "nope", "--out", str(tmp_path)],
            cwd=tmp_path)
    assert p.returncode == 2


def test_check_writes_junit_report(tmp_path):
    import xml.etree.ElementTree as ET
    from certify import zoo as _zoo
    from certify.certificate import certificate_dict, write_certificate
    from certify.paths import load_float_model
    from certify.strategies import cubic
    from certify.weights import sha256_file
    entry = _zoo.lookup(_zoo.DEFAULT_MODEL)
    proof = cubic.prove(load_float_model(entry.path))
    good = tmp_path / "good.json"
    write_certificate(good, certificate_dict(proof, 4, 64, sha256_file(entry.path), f"zoo:{entry.name}"))
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    report = tmp_path / "report.xml"
    result = subprocess.run(CERTIFY + ["check", str(good), str(bad), "--min-accuracy", "0.9", "--junit", str(report)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    suite = ET.parse(report).getroot()
    assert suite.get("tests") == "2" and suite.get("errors") == "1" and suite.get("failures") == "0"


def test_single_position_model_runs_brute_force_and_skips_compact_strategies(tmp_path, capsys):
    """K = 1 has no non-query positions: brute force certifies it, the compact strategies say why not."""
    from certify.cli import main
    from certify.model import Config
    from conftest import random_state, write_state
    model = write_state(random_state(Config(k=1, d_vocab=4, d_model=4, d_head=4), 0), tmp_path / "k1.safetensors")
    assert main(["run", "--model", str(model), "--out", str(tmp_path / "certs")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^cubic +skipped: needs K >= 2", out, re.M)
    assert re.search(r"^subcubic +skipped: needs K >= 2", out, re.M)
    assert "accepted" in out
