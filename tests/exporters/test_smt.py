"""SMT re-check: honest certificates are confirmed by z3 and cvc5, forged ones refuted."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from fractions import Fraction

import pytest

from certify.certificate import certificate_dict, write_certificate
from certify.model import Config
from certify.paths import load_float_model
from certify.strategies import brute_force, cubic, subcubic
from certify.train import train
from certify.weights import save_model
from checker.check import check_file
from exporters.smt import export, recheck

SOLVERS = ["z3", "cvc5"]


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    root = tmp_path_factory.mktemp("smt")
    model, _ = train(Config(3, 7, 8, 4), 3, steps=400, progress=False)
    digest = save_model(model, root / "m.safetensors")
    fm = load_float_model(root / "m.safetensors")
    out = {}
    for proof in (cubic.prove(fm), subcubic.prove_variant(fm, "svd-query-max-diff", "rank2-query", "maxdiff"),
                  brute_force.prove(fm)):
        path = root / f"{proof.strategy}.json"
        write_certificate(path, certificate_dict(proof, 3, 7, digest, "m.safetensors"))
        assert check_file(str(path)).verdict == "accepted"
        out[proof.strategy] = path
    return out


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("strategy", ["cubic", "subcubic", "brute-force"])
def test_honest_certificates_are_confirmed(certs, solver, strategy):
    summary, note = recheck(str(certs[strategy]), solver, sample=10, progress=False)
    assert summary.obligations > 0 and summary.unsat == summary.obligations, summary
    assert ("SAMPLE" in note) == (strategy == "brute-force")


def _forge(path, tmp_path, edit) -> str:
    doc = json.loads(path.read_text())
    edit(doc)
    out = tmp_path / "forged.json"
    out.write_text(json.dumps(doc))
    (tmp_path / "m.safetensors").write_bytes((path.parent / "m.safetensors").read_bytes())
    return str(out)


def _forged_subcubic(certs, tmp_path) -> str:
    """Shrink gaps until the checker rejects: a forged but well-formed certificate."""
    doc = json.loads(certs["subcubic"].read_text())
    for k, (q, m, c, g) in enumerate(doc["evidence"]["cases"]):
        if c >= 1 and g > 1:
            def edit(d, k=k):
                d["evidence"]["cases"][k][3] = 1
            forged = _forge(certs["subcubic"], tmp_path, edit)
            if check_file(forged).verdict == "rejected":
                return forged
    pytest.skip("no gap could be forged on this model")


@pytest.mark.parametrize("solver", SOLVERS)
def test_forged_subcubic_is_refuted(certs, tmp_path, solver):
    summary, _ = recheck(_forged_subcubic(certs, tmp_path), solver, progress=False)
    assert summary.sat, summary


@pytest.mark.parametrize("solver", SOLVERS)
def test_forged_cubic_count_is_refuted(certs, tmp_path, solver):
    doc = json.loads(certs["cubic"].read_text())
    k = next(k for k, (q, m, c, n) in enumerate(doc["evidence"]["cases"]) if c >= 1 and n < m)

    def edit(d):
        d["evidence"]["cases"][k][3] += 1
    forged = _forge(certs["cubic"], tmp_path, edit)
    assert check_file(forged).verdict == "rejected"
    summary, _ = recheck(forged, solver, progress=False)
    assert summary.sat, summary


@pytest.mark.parametrize("strategy", ["cubic", "subcubic", "brute-force"])
def test_export_groups_are_scripts_both_solvers_confirm(certs, tmp_path, strategy):
    n, note, files = export(str(certs[strategy]), str(tmp_path / "out"), sample=5)
    assert files == sorted((tmp_path / "out").glob("*.smt2"), key=files.index) and n > 0
    for f in files:
        text = f.read_text()
        assert text.count("(check-sat)") == text.count("(push 1)") == text.count("(echo ")
        assert not re.search(r"\d[eE][-+]?\d", text)  # exact rationals only, no float literals
        for solver in SOLVERS:
            answers = _run_script(text, solver)
            assert answers and set(answers) == {"unsat"}, (f, solver, answers)
    assert sum(_confirmed(f.read_text()) for f in files) == n  # every obligation in an unsat batch


def _z3_output(text: str) -> list[str]:
    import z3
    ctx = z3.Context()  # a fresh context per script (kept alive while z3 reads it)
    return z3.Z3_eval_smtlib2_string(ctx.ref(), text).split()


def _confirmed(text: str) -> int:
    """How many obligation names z3 prints right before an unsat (each batch echoes its names)."""
    count, names = 0, 0
    for word in _z3_output(text):
        if word in ("sat", "unsat", "unknown"):
            count += names if word == "unsat" else 0
            names = 0
        else:
            names += 1
    return count


def _run_script(text: str, solver: str) -> list[str]:
    """Every check-sat answer of a whole script, as the solvers' own command loop gives them."""
    if solver == "z3":
        return [w for w in _z3_output(text) if w in ("sat", "unsat", "unknown")]
    import cvc5
    s = cvc5.Solver(cvc5.TermManager())
    s.setOption("incremental", "true")
    parser = cvc5.InputParser(s)
    parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, text, "script")
    sm, out = parser.getSymbolManager(), []
    while not (cmd := parser.nextCommand()).isNull():
        answer = cmd.invoke(s, sm).strip()
        if answer in ("sat", "unsat", "unknown"):
            out.append(answer)
    return out


@pytest.mark.parametrize("solver", SOLVERS)
def test_forged_obligation_is_refuted(solver):
    """1 - 2 exp(-1) > 0 holds, 1 - 2 exp(-1/2) > 0 does not (exp(-1/2) ~ 0.607): arguments a / sqrt(4)."""
    from exporters.smt import _solver
    from exporters.smt_encode import Obligation, encode, standalone
    run = _solver(solver)
    true = Obligation("true", [[(Fraction(1), Fraction(0)), (Fraction(-2), Fraction(-2))]], True)
    false = Obligation("false", [[(Fraction(1), Fraction(0)), (Fraction(-2), Fraction(-1))]], True)
    wrong = Obligation("wrong", [[(Fraction(1), Fraction(0)), (Fraction(-2), Fraction(-1))]], False)
    assert run(standalone(encode(true, 4), 4), 10_000) == "unsat"
    assert run(standalone(encode(false, 4), 4), 10_000) == "sat"
    assert run(standalone(encode(wrong, 4), 4), 10_000) == "unsat"
    # exp(0) needs an upper bound here (its coefficient is negative): 2 exp(-1/2) - 1 > 0
    upper_at_zero = Obligation("upper", [[(Fraction(2), Fraction(-1)), (Fraction(-1), Fraction(0))]], True)
    assert run(standalone(encode(upper_at_zero, 4), 4), 10_000) == "unsat"


def test_near_tie_needs_and_gets_a_fine_enclosure():
    """exp(a / 2) against a rational 2**-40 away from it: decided with exact facts, both ways."""
    from exporters.smt import _solver
    from exporters.smt_encode import Obligation, encode, standalone
    a = Fraction(-1, 3)
    import mpmath
    mpmath.mp.prec = 200
    close = Fraction(int(mpmath.exp(mpmath.mpf(-1) / 6) * 2 ** 60), 2 ** 60)  # exp(-1/6) rounded down
    below = Obligation("below", [[(Fraction(1), a), (-close, Fraction(0))]], True)   # exp(-1/6) - close > 0
    above = Obligation("above", [[(Fraction(1), a), (-close - Fraction(1, 2 ** 40), Fraction(0))]], False)
    for ob in (below, above):
        enc = encode(ob, 4)
        assert enc.decided
        for solver in SOLVERS:
            assert _solver(solver)(standalone(enc, 4), 10_000) == "unsat", (ob.name, solver)


def test_unknown_solver_is_a_clear_error(certs):
    with pytest.raises(ValueError, match="unknown solver"):
        recheck(str(certs["subcubic"]), "yices", progress=False)


@pytest.mark.parametrize("solver,module", [("z3", "z3"), ("cvc5", "cvc5")])
def test_unavailable_solver_is_a_clear_error(certs, monkeypatch, solver, module):
    import builtins
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == module:
            raise ImportError(f"No module named {module!r}")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ValueError, match="not installed"):
        recheck(str(certs["subcubic"]), solver, progress=False)


def test_cli_check_with_smt_reports_agreement(certs):
    import subprocess
    import sys
    cli = [sys.executable, "-c", "import sys; from certify.cli import main; sys.exit(main())"]
    result = subprocess.run(cli + ["check", str(certs["subcubic"]), "--smt", "z3"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 sat" in result.stdout and "complete re-check" in result.stdout and "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def default_certs(tmp_path_factory):
    """The default model's cubic and best subcubic certificates, as `certify run` writes them."""
    from certify.cli import main
    out = tmp_path_factory.mktemp("default")
    assert main(["run", "--model", "k4-v64-s123", "--strategy", "cubic", "--strategy", "subcubic",
                 "--out", str(out)]) == 0
    return {s: out / f"k4-v64-s123.{s}.json" for s in ("cubic", "subcubic")}


@pytest.mark.slow
@pytest.mark.parametrize("solver", SOLVERS)
def test_default_model_subcubic_certificate_is_confirmed_whole(default_certs, solver):
    summary, note = recheck(str(default_certs["subcubic"]), solver, progress=False)
    assert summary.confirmed and summary.obligations > 6000, summary
    assert "complete re-check" in note


def _descendants(pid: int) -> set[int]:
    out = set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            out.add(int(entry))
    return out


@pytest.mark.slow
def test_ctrl_c_stops_a_z3_recheck_within_seconds(default_certs):
    cmd = [sys.executable, "-c", "import sys; from certify.cli import main; sys.exit(main())",
           "check", str(default_certs["cubic"]), "--smt", "z3"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(_descendants(proc.pid)) < 1 and time.monotonic() < deadline:  # the solver processes run
        time.sleep(0.2)
    time.sleep(3)
    workers = _descendants(proc.pid)
    assert workers and proc.poll() is None
    proc.send_signal(signal.SIGINT)
    start = time.monotonic()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and time.monotonic() - start < 5, (proc.returncode, err[-500:])
    assert "Traceback" not in err
    time.sleep(1)
    assert not [p for p in workers if _alive(p)]  # no solver left behind


def _alive(pid: int) -> bool:
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"  # a zombie waits to be reaped, it runs nothing


def test_unconfirmed_obligations_give_their_own_verdict(certs, monkeypatch, capsys):
    """unknown/timeout (or sat) after an accepted check: NOT CONFIRMED, exit 4, every name listed."""
    import exporters.smt as smt
    from certify.cli import main
    real = smt._solver

    def flaky(name):
        run = real(name)
        return lambda text, timeout_ms: "unknown (timeout)" if "case_q" in text and hash(text) % 2 else run(text, timeout_ms)
    monkeypatch.setattr(smt, "_solver", flaky)
    monkeypatch.setattr(smt, "_run", _inline_run)
    code = main(["check", str(certs["subcubic"]), "--smt", "z3"])
    out = capsys.readouterr().out
    n_unknown = out.count("  unknown  ")
    assert code == 4 and "NOT CONFIRMED" in out and n_unknown > 0, out
    assert f"{n_unknown} unknown" in out


def _inline_run(sources, d, solver, timeout_ms, on_message, watchdog_s):
    """exporters.smt._run without child processes (so a monkeypatched solver is seen)."""
    import exporters.smt as smt
    from exporters.smt_encode import encode, standalone
    run = smt._solver(solver)
    for src in sources:
        for i, ob in enumerate(smt.obligations(src)):
            on_message(("done", i, ob.name, run(standalone(encode(ob, d), d), timeout_ms), 0.0), src)
    return []


@pytest.mark.parametrize("option", [["--smt-jobs", "0"], ["--smt-jobs", "-3"], ["--smt-timeout", "0"],
                                    ["--smt-timeout", "nan"], ["--smt-sample", "-1"], ["--smt", "yices"]])
def test_careless_smt_options_are_usage_errors(certs, option, capsys):
    """A bad --smt option is a usage error (exit 2, a message, no traceback), never a silent run of
    nothing (a negative job count used to run no obligation and report NOT CONFIRMED)."""
    from certify.cli import main
    try:
        code = main(["check", str(certs["subcubic"]), "--smt", "z3", *option])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and "error: argument" in err and "Traceback" not in err, (code, err)


def test_export_states_each_exponential_once_per_file(certs, tmp_path):
    """An export file declares each exponential once and gives it at most one lower and one upper
    fact, at the top (outside every push/pop): batches share them (the cubic export was 218 MB when
    each batch restated its facts)."""
    _, _, files = export(str(certs["cubic"]), str(tmp_path / "out"))
    for f in files:
        text = f.read_text()
        head = text.split("(push 1)", 1)[0]
        declared = re.findall(r"\(declare-const (e\d+) Real\)", text)
        assert len(declared) == len(set(declared)) == len(re.findall(r"\(declare-const (e\d+) Real\)", head))
        facts = re.findall(r"\(assert \(=> .*\(([<>]=) (e\d+) ", text)
        assert facts and len(facts) == len(set(facts)) and text.count("(assert (=>") == head.count("(assert (=>")


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("x", ["-70", "-51.6", "-3", "-1/3", "0", "1/7", "2", "9.5"])
def test_exp_facts_bound_exp_on_the_right_side(x, lower):
    """Every fact (Taylor degree N, k squarings from |x| / 2^k) bounds exp(x) on its side, within
    its budget, at budgets from coarse to 2^-200 (mpmath at 2000 bits as the reference)."""
    import mpmath
    from exporters.smt_encode import _build
    mpmath.mp.prec = 2000
    a = Fraction(x)
    for level in (-4, -30, -80, -200):
        f = _build(a * 2, lower, level, 4)  # a * 2 / sqrt(4) = a
        assert (f.x <= a) if lower else (f.x >= a)
        true = mpmath.exp(mpmath.mpf(a.numerator) / a.denominator)
        r = mpmath.mpf(f.r.numerator) / f.r.denominator
        assert (r <= true) if lower else (r >= true), (x, lower, level, f)
        assert abs(r - true) <= mpmath.mpf(2) ** level, (x, lower, level, f)


def test_export_never_needs_a_raised_int_string_limit(certs, tmp_path):
    """Python's default int-string limit (4300 digits) stays in force: every number written is short
    (the default cubic export used to fail on 135-digit exponents raised to 25-term Taylor powers);
    the export's worker processes start with the default limit too."""
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(4300)
    try:
        for strategy in ("cubic", "brute-force"):
            n, _, files = export(str(certs[strategy]), str(tmp_path / strategy), sample=5)
            assert n > 0 and max(len(w) for f in files for w in re.findall(r"\d+", f.read_text())) < 1000
    finally:
        sys.set_int_max_str_digits(old)


@pytest.mark.slow
@pytest.mark.parametrize("solver", SOLVERS)
def test_default_model_brute_force_near_ties_are_decided(tmp_path_factory, solver):
    """The default model's 20 inputs of smallest float64 margin (near-ties, where a second opinion
    matters most), sample 0: every one decided, nothing unknown."""
    from certify.cli import main
    out = tmp_path_factory.mktemp("bf")
    assert main(["run", "--model", "k4-v64-s123", "--strategy", "brute-force", "--out", str(out)]) == 0
    summary, note = recheck(str(out / "k4-v64-s123.brute-force.json"), solver, sample=0, progress=False)
    # the 20 near-ties of 2^20 inputs drawn with replacement: a repeat leaves fewer distinct ones
    assert summary.confirmed and summary.obligations >= 15 and "SAMPLE ONLY" in note, summary
