"""What a new user hits (issue #15): one test (or more) per item, through the command line where the
user meets it, and never a traceback."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from certify.cli import main
from certify.model import Config
from conftest import random_state, write_state

CERTIFY = [sys.executable, "-c", "import sys; from certify.cli import main; sys.exit(main())"]


def cli(args: list[str], cwd: Path, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(CERTIFY + args, cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw)
    assert "Traceback" not in p.stderr + p.stdout, p.stderr
    return p


@pytest.fixture()
def model(tmp_path) -> Path:
    return write_state(random_state(Config(k=3, d_vocab=5, d_model=6, d_head=4), 3), tmp_path / "m.safetensors")


# ------------------------------------------------------------------ item 1: no tracebacks

@pytest.mark.parametrize("content", ["{}", '{"format": "certify-certificate", "version": 1', "", "[]"])
def test_export_smt_of_a_broken_certificate_is_an_error_not_a_traceback(tmp_path, content):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    p = cli(["export", "smt", str(bad), "-o", str(tmp_path / "smt")], tmp_path)
    assert p.returncode == 2 and "cannot export" in p.stderr
    assert not (tmp_path / "smt").exists()


def test_export_smt_of_a_truncated_real_certificate(tmp_path, model):
    assert main(["run", "--model", str(model), "--strategy", "cubic", "--out", str(tmp_path / "c")]) == 0
    (cert,) = (tmp_path / "c").glob("*.json")
    text = cert.read_text()
    cert.write_text(text[: len(text) // 2])
    p = cli(["export", "smt", str(cert), "-o", str(tmp_path / "smt")], tmp_path)
    assert p.returncode == 2 and "cannot export" in p.stderr


@pytest.mark.parametrize("content", [b"", b"not safetensors at all", b"\x08\x00\x00\x00\x00\x00\x00\x00{}"])
def test_run_on_a_corrupt_model_file(tmp_path, content):
    f = tmp_path / "bad.safetensors"
    f.write_bytes(content)
    p = cli(["run", "--model", str(f), "--out", str(tmp_path / "certs")], tmp_path)
    assert p.returncode == 2 and "not a model certify can prove" in p.stderr
    assert not (tmp_path / "certs").exists()


def test_run_on_a_truncated_model_file(tmp_path, model):
    f = tmp_path / "cut.safetensors"
    f.write_bytes(model.read_bytes()[:-10])
    p = cli(["run", "--model", str(f), "--out", str(tmp_path / "certs")], tmp_path)
    assert p.returncode == 2 and "not a model certify can prove" in p.stderr


@pytest.mark.parametrize("command", [["strategies"], ["zoo"]])
def test_output_into_a_closed_pipe(tmp_path, command):
    """`certify strategies | head -1`: no BrokenPipeError, nothing on stderr."""
    p = subprocess.Popen(CERTIFY + command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait(timeout=60)
    assert first and "Traceback" not in err and "Broken pipe" not in err, err
    assert p.returncode in (0, 141)


def test_import_of_a_pickled_object_gives_one_short_reason(tmp_path):
    torch = pytest.importorskip("torch")
    src = tmp_path / "model.pt"
    torch.save({"model": Fraction(1, 3)}, src)  # a pickled object: weights_only refuses it
    p = cli(["import", str(src), "--out", str(tmp_path / "m.safetensors")], tmp_path)
    assert p.returncode == 2
    assert "\x1b[" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "state_dict()" in p.stderr
    assert not (tmp_path / "m.safetensors").exists()


# ------------------------------------------------------------------ item 2: names and races

def test_file_names_distinguish_semantics_and_variants():
    from certify.certificate import file_name
    from certify.strategies import all_strategies
    names = {file_name("m", s, sem) for s in all_strategies() for sem in ("exact-real", "float32")}
    assert len(names) == 2 * len(all_strategies())
    assert not [n for n in names if "/" in n or ":" in n or n.startswith(".")]  # one plain file each
    assert file_name("m", "cubic", "exact-real") == "m.cubic.json"
    assert file_name("m", "cubic", "float32") == "m.cubic.float32.json"
    assert file_name("m", "subcubic:eupu=exact,attn=rank2-query,err=l2", "exact-real") == \
        "m.subcubic_exact_rank2-query_l2.json"


def test_exact_and_float32_certificates_both_kept(tmp_path, model, capsys):
    out = tmp_path / "certs"
    for sem in ("exact-real", "float32"):
        assert main(["run", "--model", str(model), "--strategy", "cubic", "--semantics", sem, "--out", str(out)]) == 0
    assert "model m, semantics float32" in capsys.readouterr().out  # the table says what it claims
    sems = sorted(json.loads(p.read_text())["claim"]["semantics"] for p in out.glob("*.json"))
    assert sems == ["exact-real", "float32"]


def test_a_different_claim_is_never_overwritten_silently(tmp_path, capsys):
    """Two models with the same file stem written into one --out: the second is refused (exit 2),
    the first certificate is untouched; --force replaces it."""
    cfg = Config(k=3, d_vocab=5, d_model=6, d_head=4)
    a = write_state(random_state(cfg, 1), tmp_path / "a" / "m.safetensors")
    b = write_state(random_state(cfg, 2), tmp_path / "b" / "m.safetensors")
    out = tmp_path / "certs"
    assert main(["run", "--model", str(a), "--strategy", "brute-force", "--out", str(out)]) == 0
    first = (out / "m.brute-force.json").read_bytes()
    assert main(["run", "--model", str(a), "--strategy", "brute-force", "--out", str(out)]) == 0  # same claim
    assert main(["run", "--model", str(b), "--strategy", "brute-force", "--out", str(out)]) == 2
    assert "already holds a different certificate" in capsys.readouterr().err
    assert (out / "m.brute-force.json").read_bytes() == first
    assert main(["run", "--model", str(b), "--strategy", "brute-force", "--out", str(out), "--force"]) == 0
    assert (out / "m.brute-force.json").read_bytes() != first
    assert not list(out.glob(".*"))  # no temporary files left


def test_publish_race_creates_once_and_refuses_a_different_writer(tmp_path):
    """Many writers racing for one name: identical bytes all succeed, exactly one file exists; a
    writer with different content that loses the race is refused, never silently replacing."""
    from certify.certificate import CertificateExists, publish
    path = tmp_path / "x.json"
    barrier = threading.Barrier(8)
    outcomes = []

    def writer(i: int) -> None:
        def check(tmp: Path) -> str:
            barrier.wait()  # everyone has written and "checked" a temp file before anyone publishes
            return "ok"
        try:
            outcomes.append(publish(path, {"n": 1 if i < 4 else 2}, check))
        except CertificateExists:
            outcomes.append("refused")
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winner = json.loads(path.read_text())["n"]
    assert outcomes.count("ok") == 4 and outcomes.count("refused") == 4
    assert winner in (1, 2) and sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_two_runs_started_together_into_one_out(tmp_path, model):
    out = tmp_path / "certs"
    procs = [subprocess.Popen(CERTIFY + ["run", "--model", str(model), "--strategy", "cubic", "--out", str(out)],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0, 0], results
    assert [p.name for p in out.iterdir()] == ["m.cubic.json"]


# ------------------------------------------------------------------ item 3: progress

class _Terminal:
    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        pass


def test_progress_line_names_strategy_and_phase():
    import time
    from certify.cli import _ticker
    term = _Terminal()
    with _ticker("cubic", term) as phase:
        phase("prove")
        time.sleep(0.7)
        phase("check")
        time.sleep(0.7)
    assert "cubic: prove" in term.text and "cubic: check" in term.text


@pytest.mark.parametrize("strategy, steps", [("brute-force", "prove 5/5"), ("cubic", "prove 5/5"),
                                             ("subcubic", "prove ")])
def test_long_proofs_report_how_far_they_have_got(tmp_path, model, strategy, steps):
    from certify import api
    phases = []
    api.prove(model, strategy, out=tmp_path, on_phase=phases.append)
    assert phases[0] == "prove" and phases[-1] == "check" and any(p.startswith(steps) for p in phases)
    assert "prove 1/5" in phases or strategy != "brute-force"


def test_no_progress_output_when_not_a_terminal(model, tmp_path):
    p = cli(["run", "--model", str(model), "--strategy", "cubic", "--out", str(tmp_path / "c")], tmp_path)
    assert p.returncode == 0 and p.stderr == ""


def test_rows_are_printed_as_they_are_ready(tmp_path, model):
    """The header comes before the first proof starts, each row before the next proof starts."""
    p = subprocess.Popen(CERTIFY + ["run", "--model", str(model), "--strategy", "brute-force", "--strategy",
                                    "cubic", "--out", str(tmp_path / "c")],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = [p.stdout.readline() for _ in range(4)]
    p.communicate(timeout=120)
    assert lines[1].startswith("model m") and lines[2].startswith("strategy")
    assert lines[3].startswith("brute-force")


# ------------------------------------------------------------------ item 4: validate first

def _variant(model: Path, tmp_path: Path, change) -> Path:
    t = load_file(str(model))
    change(t)
    out = tmp_path / "variant.safetensors"
    save_file(t, str(out), metadata={"config": "{}"})
    return out


@pytest.mark.parametrize("change, reason", [
    (lambda t: t.update({"ln_final.w": np.ones(6, np.float32)}), "unexpected tensors"),
    (lambda t: t.update({k: v.astype(np.float16) for k, v in t.items()}), "float32"),
    (lambda t: t.update({"blocks.1.attn.W_Q": t["blocks.0.attn.W_Q"]}), "unexpected tensors"),
    (lambda t: t.update({"blocks.0.attn.W_Q": np.concatenate([t["blocks.0.attn.W_Q"]] * 2)}), "one head"),
    (lambda t: t.pop("blocks.0.attn.W_V"), "missing"),
    (lambda t: t.update({"unembed.W_U": t["unembed.W_U"][:, :3].copy()}), "shape"),
])
def test_run_refuses_what_the_checker_refuses(tmp_path, model, change, reason):
    bad = _variant(model, tmp_path, change)
    p = cli(["run", "--model", str(bad), "--out", str(tmp_path / "certs")], tmp_path)
    assert p.returncode == 2 and reason in p.stderr, p.stderr
    assert not (tmp_path / "certs").exists()


# ------------------------------------------------------------------ item 5: say what it is about

def test_check_output_names_file_and_semantics(tmp_path, model):
    out = tmp_path / "c"
    assert main(["run", "--model", str(model), "--strategy", "cubic", "--strategy", "brute-force", "--out", str(out)]) == 0
    certs = sorted(str(p) for p in out.glob("*.json"))
    p = cli(["check", *certs, "--json"], tmp_path)
    objs = [json.loads(line) for line in p.stdout.splitlines()]
    assert [o["certificate"] for o in objs] == certs
    assert all(o["semantics"] == "exact-real" for o in objs)
    p = cli(["check", *certs], tmp_path)
    for c in certs:
        assert f"certificate: {c}" in p.stdout
    assert p.stdout.count("semantics:   exact-real") == 2


def test_min_accuracy_miss_does_not_read_as_a_false_claim(tmp_path, model):
    out = tmp_path / "c"
    assert main(["run", "--model", str(model), "--strategy", "brute-force", "--out", str(out)]) == 0
    (cert,) = out.glob("*.json")
    bound = Fraction(json.loads(cert.read_text())["claim"]["accuracy_lower_bound"])
    above = (bound + 1) / 2
    p = cli(["check", str(cert), "--min-accuracy", f"{above.numerator}/{above.denominator}"], tmp_path)
    assert p.returncode == 1
    head = p.stdout.splitlines()[0]
    assert head.startswith("REJECTED: below --min-accuracy") and "certified bound is" in head


# ------------------------------------------------------------------ item 6: exit codes

def test_every_strategy_skipped_exits_2(tmp_path):
    p = cli(["run", "--model", "k10-v64-s123", "--strategy", "brute-force", "--out", str(tmp_path / "c")], tmp_path)
    assert p.returncode == 2
    assert "skipped" in p.stdout and "no certificates written" in p.stdout
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("out", ["cert.json", "existing-file"])
def test_out_must_be_a_folder(tmp_path, model, out):
    (tmp_path / "existing-file").write_text("x")
    p = cli(["run", "--model", str(model), "--strategy", "cubic", "--out", out], tmp_path)
    assert p.returncode == 2 and "folder" in p.stderr
    assert not (tmp_path / "cert.json").exists()


# ------------------------------------------------------------------ item 9: columns

def test_run_columns_stay_aligned_with_long_names_and_huge_fractions(tmp_path):
    """K = 20: the fractions have 28 digits and more; a long variant name gets its own line."""
    m = write_state(random_state(Config(k=20, d_vocab=5, d_model=6, d_head=4), 0), tmp_path / "k20.safetensors")
    variant = "subcubic:mean-query-max-diff/mean-query/mean-recursive-maxdiff-recursive"
    p = cli(["run", "--model", str(m), "--strategy", "cubic", "--strategy", variant, "--strategy", "subcubic",
             "--out", str(tmp_path / "c")], tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    header = next(line for line in lines if line.startswith("strategy"))
    rows = [line for line in lines if line.rstrip().endswith(("accepted", "rejected", "error"))]
    assert len(rows) == 3
    assert {len(r) for r in rows} <= {len(header) + len("accepted") - len("verdict")}
    assert lines[lines.index(header) + 2] == variant  # the long name, alone on its line


def test_strategies_columns_stay_aligned(tmp_path):
    p = cli(["strategies"], tmp_path)
    cost_columns = {re.search(r"O\(", line).start() for line in p.stdout.splitlines() if "O(" in line}
    assert len(cost_columns) == 1
    # the paper's own option names (issue #19) are longer: they stand on a line of their own
    assert max(len(line.split("  ")[0]) for line in p.stdout.splitlines() if not line.startswith("paper:")) <= 80


def test_rerunning_a_variant_keeps_its_certificate(tmp_path, model):
    """A named variant's certificate says strategy "subcubic" with parameters: re-running it (or
    naming it twice, short and long) is the same claim, not a collision."""
    out = tmp_path / "c"
    args = ["run", "--model", str(model), "--out", str(out), "--strategy", "subcubic:exact/plain/l2"]
    assert main(args) == 0
    assert main(args + ["--strategy", "subcubic:eupu=exact,attn=plain,err=l2"]) == 0
    assert [p.name for p in out.iterdir()] == ["m.subcubic_exact_plain_l2.json"]


def test_short_variant_names_are_accepted():
    from certify.api import full_name, short_name, strategy
    from certify.strategies import all_strategies
    for name in all_strategies():
        assert full_name(short_name(name)) == name
        assert strategy(short_name(name)).name == name


# ------------------------------------------------------------------ item 10: --help

def test_help_shows_defaults_exit_codes_and_version(tmp_path, capsys):
    def out() -> str:
        return " ".join(capsys.readouterr().out.split())
    assert main(["run", "--help"]) == 0
    text = out()
    assert "default: certs" in text and "default: k4-v64-s123" in text and "'all'" in text
    assert main(["train", "--help"]) == 0
    text = out()
    assert "default: 3000" in text and "default: 64" in text
    assert main(["sweep", "--help"]) == 0
    assert "default: zoo:k4" in out()
    assert main(["check", "--help"]) == 0
    text = out()
    assert "exit codes: 0 accepted" in text and "3 --time-limit" in text and "4 with --smt" in text
    assert main(["export", "--help"]) == 0
    assert "--smt-timeout" not in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert re.match(r"certify \d+\.\d+", capsys.readouterr().out)


def test_strategy_all_means_every_strategy():
    from certify.cli import _chosen_strategies
    from certify.strategies import all_strategies
    assert [s.name for s in _chosen_strategies(["all"])] == list(all_strategies())
    assert [s.name for s in _chosen_strategies(None)] == ["brute-force", "cubic", "subcubic"]


# ------------------------------------------------------------------ item 11: Ctrl-C

def test_interrupted_check_leaves_no_certificate(tmp_path):
    from certify.certificate import publish
    path = tmp_path / "x.json"

    def check(tmp: Path):
        assert tmp.exists() and tmp.parent == path.parent
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        publish(path, {"a": 1}, check)
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_during_the_check_phase_leaves_nothing(tmp_path):
    """SIGINT while the checker runs (the temporary certificate exists): exit 130, no certificate
    under its name, no temporary file."""
    import signal
    import time
    out = tmp_path / "c"
    p = subprocess.Popen(CERTIFY + ["run", "--strategy", "cubic", "--out", str(out)], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list(out.glob(".*.tmp")):
        assert p.poll() is None, p.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.killpg(p.pid, signal.SIGINT)
    stdout, stderr = p.communicate(timeout=60)
    if p.returncode == 0:
        pytest.skip("the check finished before the signal arrived")
    assert p.returncode == 130 and "certify: interrupted" in stderr and "Traceback" not in stderr, stderr
    assert list(out.iterdir()) == []


# ------------------------------------------------------------------ item 12: no torch needed

BLOCK_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
sys.meta_path.insert(0, _NoTorch())
from certify.cli import main
sys.exit(main())
"""


def test_run_and_check_work_without_torch(tmp_path, model):
    no_torch = [sys.executable, "-c", BLOCK_TORCH]
    out = tmp_path / "c"
    p = subprocess.run(no_torch + ["run", "--model", str(model), "--out", str(out)], capture_output=True, text=True)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stdout + p.stderr
    p = subprocess.run(no_torch + ["check", *map(str, out.glob("*.json"))], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    for args in (["zoo"], ["strategies"], ["run", "--model", "k4-v64-s123", "--strategy", "cubic", "--out", str(out)],
                 ["export", "smt", str(out / "m.cubic.json"), "-o", str(tmp_path / "smt")]):
        assert subprocess.run(no_torch + args, capture_output=True).returncode == 0
    p = subprocess.run(no_torch + ["train", "--out", str(tmp_path / "x.safetensors")], capture_output=True, text=True)
    assert p.returncode == 2 and "certify[train]" in p.stderr and "Traceback" not in p.stderr


def test_torch_is_an_exactly_pinned_extra():
    import tomllib
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith("torch")]
    for extra in ("train", "test"):
        pins = [d for d in project["optional-dependencies"][extra] if d.startswith("torch")]
        assert pins == ["torch==2.13.0"], extra


# ------------------------------------------------------------------ items 7, 8: own models, sweeps

def test_train_seeds_into_a_folder_then_sweep_and_report(tmp_path):
    """`train --seeds` writes a folder outside the package (the zoo's manifest is untouched), which
    `sweep --models DIR` and `report` use, normalising by the manifest's exact accuracies."""
    from certify import zoo
    before = zoo.MANIFEST.read_bytes()
    p = cli(["train", "--seeds", "5,6", "--k", "2", "--d-vocab", "4", "--steps", "30", "--workers", "1",
             "--out", "mine"], tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert zoo.MANIFEST.read_bytes() == before
    listed = zoo.entries(tmp_path / "mine")
    assert sorted(e.name for e in listed) == ["k2-v4-s5", "k2-v4-s6"] and all(e.accuracy for e in listed)
    p = cli(["sweep", "--models", "mine", "--strategies", "cubic", "--out", "sw", "--workers", "1"], tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    p = cli(["report", "sw"], tmp_path)
    assert p.returncode == 0 and "| cubic | 2 |" in p.stdout, p.stdout + p.stderr
    assert "Warning" not in p.stderr


def test_default_sweep_has_hybrid_points_that_normalise_the_rest(tmp_path, model):
    """`sweep` without --strategies runs cubic, subcubic and hybrid; the hybrid's bound is the exact
    accuracy, so `report` normalises a model without a manifest; `run --strategy hybrid` claims
    float32 too (on the cubic part: subcubic claims exact-real only)."""
    p = cli(["sweep", "--models", str(model), "--out", "sw", "--workers", "1"], tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    from certify.sweep import read_table
    rows = {r["strategy"]: r for r in read_table(tmp_path / "sw")}
    assert set(rows) == {"cubic", "subcubic", "hybrid"} and {r["status"] for r in rows.values()} == {"accepted"}
    p = cli(["report", "sw"], tmp_path)
    assert p.returncode == 0 and "| hybrid | 1 | 1.000 ± 0.000" in p.stdout, p.stdout + p.stderr
    p = cli(["run", "--model", str(model), "--strategy", "hybrid", "--semantics", "float32", "--out", "c"], tmp_path)
    assert p.returncode == 0 and "accepted" in p.stdout, p.stdout + p.stderr
    cert = json.loads(next((tmp_path / "c").glob("*.json")).read_text())
    assert cert["strategy"]["parameters"] == {"compact": "cubic"}


def _sweep_dir(tmp_path: Path, model: Path, strategies: list[str]) -> Path:
    from certify.sweep import run_pair, write_table
    out = tmp_path / "sweep"
    for s in strategies:
        assert run_pair("mine", str(model), None, None, s, str(out))["status"] == "accepted"
    write_table(out)
    return out


def test_report_uses_the_sweeps_brute_force_certificate_as_exact_accuracy(tmp_path, model, capsys):
    out = _sweep_dir(tmp_path, model, ["brute-force", "cubic"])
    assert main(["report", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| cubic | 1 |" in table and "| brute-force | 1 | 1.000 ± 0.000" in table


def test_report_says_what_is_missing(tmp_path, model, capsys):
    out = _sweep_dir(tmp_path, model, ["cubic"])
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert "exact accuracy of mine is unknown" in err and "brute-force" in err
    assert not (out / "bound_vs_ops.png").exists()


# ------------------------------------------------------------------ item 13: the Python API

def test_api_prove_and_check(tmp_path, model):
    from certify import api
    run = api.prove(model, "cubic", out=tmp_path / "c")
    assert run.accepted and run.path == tmp_path / "c" / "m.cubic.json" and 0 < run.bound <= 1
    again = api.check(run.path, min_accuracy=float(run.bound) / 2)
    assert again.verdict == "accepted" and again.bound == run.bound and again.semantics == "exact-real"
    assert api.check(run.path, min_accuracy=1).verdict == "rejected" or run.bound == 1
    best = api.prove(api.load(model), "subcubic", out=tmp_path / "c")
    assert best.variant and best.variant.startswith("subcubic:eupu=")
    with pytest.raises(ValueError, match="does not apply"):
        api.prove(model, "subcubic", semantics="float32", out=tmp_path / "c")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"nope")
    with pytest.raises(api.ModelError):
        api.load(bad)


def test_sweep_file_names_are_plain_and_distinct():
    from certify.strategies import all_strategies
    from certify.sweep import pair_id
    ids = {pair_id("m", s) for s in all_strategies()}
    assert len(ids) == len(all_strategies()) and not [i for i in ids if "/" in i]
