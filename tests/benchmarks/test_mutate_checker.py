"""benchmarks/mutate_checker.py's --reuse: which earlier outcomes carry over to a later commit."""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("mutate_checker", REPO / "benchmarks" / "mutate_checker.py")
mc = sys.modules["mutate_checker"] = importlib.util.module_from_spec(spec)  # dataclasses look it up
spec.loader.exec_module(mc)

OLD = '''LIMIT = 3
NAMES = {"a": 1}


def f(x):
    return x + 1 < LIMIT


class C:
    def keep(self, y):
        return y - 1

    def change(self, y):
        return y + 2


def g(x):
    return x - 2
'''
# A docstring shifts every offset; LIMIT, C.change and g change; f, NAMES and C.keep do not.
NEW = '''"""Shifts every later byte."""
LIMIT = 4
NAMES = {"a": 1}


def f(x):
    return x + 1 < LIMIT


class C:
    def keep(self, y):
        return y - 1

    def change(self, y):
        return y + 3


def g(x):
    return x - 2 > 0
'''


def mutants(tmp_path: Path, name: str, src: str) -> list:
    (tmp_path / name).mkdir()
    (tmp_path / name / "m.py").write_text(src)
    return mc.mutants_of(tmp_path / name, "m.py")


def where(src: str, m) -> str:
    """The name of the top-level statement or method holding a mutant (for the assertions)."""
    line = src.encode()[:m.start].count(b"\n") + 1
    text = src.splitlines()[line - 1].strip()
    return {"LIMIT = 3": "LIMIT", "LIMIT = 4": "LIMIT", 'NAMES = {"a": 1}': "NAMES", "return x + 1 < LIMIT": "f",
            "return y - 1": "keep", "return x - 2": "g", "return x - 2 > 0": "g"}.get(text, "change")


def test_reuse_carries_killed_outcomes_of_unchanged_code_only(tmp_path):
    old, new = mutants(tmp_path, "old", OLD), mutants(tmp_path, "new", NEW)
    for i, m in enumerate(old):
        m.status, m.seconds, m.tests = ("timeout" if i % 3 == 0 else "killed"), 1.5, 7  # timeouts run again
    survivor = next(m for m in old if where(OLD, m) == "f" and m.description == "< -> <=")
    survivor.status = "survived"
    unexecuted = next(m for m in old if where(OLD, m) == "keep")
    unexecuted.status = "unexecuted"
    sources = {"old": OLD.encode(), "new": NEW.encode()}
    n = mc.reuse(new, lambda f: sources["new"] if f == "m.py" else None, [asdict(m) for m in old],
                 lambda f: sources["old"] if f == "m.py" else None)

    carried = {(where(NEW, m), m.description) for m in new if m.reused}
    expected = {(where(OLD, m), m.description) for m in old
                if where(OLD, m) in ("f", "NAMES", "keep") and m.status == "killed"}
    assert carried == expected and n == len(expected)
    assert {w for w, _ in carried} == {"f", "NAMES", "keep"}  # the offsets moved: matched within the function
    for m in new:
        if m.reused:  # the same mutation: its old outcome
            was = next(o for o in old if (where(OLD, o), o.description, o.replacement)
                       == (where(NEW, m), m.description, m.replacement))
            assert (m.status, m.seconds, m.tests) == (was.status, 1.5, 7)
        else:
            assert m.status == ""  # left to run: changed code, an old survivor, timeout or unexecuted mutant


def test_reuse_survivors_carries_survivors_of_unchanged_code_too(tmp_path):
    old, new = mutants(tmp_path, "old", OLD), mutants(tmp_path, "new", NEW)
    for i, m in enumerate(old):
        m.status = ("survived", "killed", "timeout")[i % 3]
    source = lambda text: (lambda f: text.encode() if f == "m.py" else None)
    n = mc.reuse(new, source(NEW), [asdict(m) for m in old], source(OLD), ("killed", "survived"))
    carried = {(where(NEW, m), m.description, m.status) for m in new if m.reused}
    expected = {(where(OLD, m), m.description, m.status) for m in old
                if where(OLD, m) in ("f", "NAMES", "keep") and m.status != "timeout"}
    assert carried == expected and n == len(expected) and {s for *_, s in carried} == {"killed", "survived"}


def test_reuse_reads_the_committed_slim_run(tmp_path):
    """The committed benchmarks/mutation/run.json (scripts/mutation_report.py import: no seconds or
    test counts) is a valid --reuse source: the same mutants carry over as from the full output."""
    spec = importlib.util.spec_from_file_location("mutation_report", REPO / "scripts" / "mutation_report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    old = mutants(tmp_path, "old", OLD)
    for m in old:
        m.status = "killed"
    full = [asdict(m) for m in old]
    slim = [{f: d[f] for f in report.FIELDS} for d in full]
    source = lambda text: (lambda f: text.encode() if f == "m.py" else None)
    carried = [mc.reuse(mutants(tmp_path, name, NEW), source(NEW), run, source(OLD))
               for name, run in (("full", full), ("slim", slim))]
    assert carried[0] == carried[1] > 0


def test_reuse_needs_the_same_file(tmp_path):
    old = mutants(tmp_path, "old", OLD)
    for m in old:
        m.status = "killed"
    assert mc.reuse(old, lambda f: OLD.encode(), [dict(asdict(m), file="other.py") for m in old],
                    lambda f: OLD.encode() if f == "other.py" else None) == 0
    assert mc.reuse(old, lambda f: OLD.encode(), [asdict(m) for m in old], lambda f: None) == 0
    assert mc.reuse(old, lambda f: OLD.encode(), [asdict(m) for m in old], lambda f: OLD.encode()) == len(old)


def test_readers_follow_what_an_import_time_statement_binds(tmp_path):
    """A module constant is read by the code naming it, here or in a module importing it, and through
    constants computed from it; code naming none of them is no reader."""
    (tmp_path / "checker").mkdir()
    (tmp_path / "checker" / "a.py").write_text(
        "LIMIT = 3\nDERIVED = LIMIT * 2\n\n\ndef f():\n    return DERIVED\n\n\ndef g():\n    return 1\n\n\n"
        "class C:\n    SIZE = 4\n\n    def size(self):\n        return self.SIZE\n")
    (tmp_path / "checker" / "b.py").write_text("from checker.a import LIMIT\n\n\ndef h(x=0):\n    return LIMIT + x\n")
    readers = mc.Readers(tmp_path)
    at = lambda file, line: mc.Mutant(file, line, 0, 0, "", "")
    assert readers(at("checker/a.py", 1)) == {"checker/a.py": {5, 6}, "checker/b.py": {4, 5}}
    assert readers(at("checker/a.py", 2)) == {"checker/a.py": {5, 6}}
    assert readers(at("checker/a.py", 14)) == {"checker/a.py": {16, 17}}  # a class attribute
    assert readers(at("checker/a.py", 9)) == {}  # a def header: its own tests run it


def test_select_adds_the_readers_tests_to_an_import_time_mutant():
    cov = {"import": {"checker/a.py": [1, 2]},
           "tests": {"t_reader": {"seconds": 1.0, "lines": {"checker/b.py": [4, 5]}},
                     "t_other": {"seconds": 1.0, "lines": {"checker/a.py": [9, 10]}}}}
    m = mc.Mutant("checker/a.py", 1, 0, 0, "", "", 1, 1)
    readers = lambda m: {"checker/b.py": {4, 5}}
    assert mc.select(m, cov, 10.0, readers) == ["t_reader"]
    assert mc.select(m, cov, 10.0) is None


def test_select_costs_a_shared_fixture_once_and_runs_the_cheapest_first():
    cov = {"import": {}, "fixtures": {"F": 5.0},
           "tests": {"tests/a.py::a1": {"seconds": 0.1, "fixtures": ["F"], "lines": {"checker/x.py": [3]}},
                     "tests/a.py::a2": {"seconds": 0.1, "fixtures": ["F"], "lines": {"checker/x.py": [3]}},
                     "tests/b.py::b1": {"seconds": 0.5, "fixtures": [], "lines": {"checker/x.py": [3]}}}}
    assert mc.cost(["tests/a.py::a1", "tests/a.py::a2"], cov) == 5.2
    m = mc.Mutant("checker/x.py", 3, 0, 0, "", "", 3, 3)
    assert mc.select(m, cov, 1.0) == ["tests/b.py::b1"] and m.cut == 2  # a1 would cost its fixture too
    assert mc.select(m, cov, 5.7) == ["tests/b.py::b1", "tests/a.py::a1", "tests/a.py::a2"] and m.cut == 0


class FakeServer:
    """Runs "tests" in `seconds[mutated?]`: a timeout if that exceeds the limit, else the outcome."""

    def __init__(self, copy: Path, seconds: dict[bool, float]) -> None:
        self.copy, self.seconds, self.limits = copy, seconds, []

    def run(self, tests, limit):
        self.limits.append(limit)
        took = self.seconds[b"MUTATED" in (self.copy / "checker/x.py").read_bytes()]
        return ("timeout", limit) if took > limit else ("survived", took)


@pytest.mark.parametrize("unmutated, mutated, status", [(1.0, 1e9, "timeout"), (30.0, 80.0, "survived"),
                                                        (30.0, 1e9, "timeout")])
def test_a_timeout_counts_only_against_the_unmutated_copys_time(tmp_path, unmutated, mutated, status):
    """A timeout is the mutant's only if the unmutated copy runs the same tests in a third of the
    limit; if it is slower (a loaded machine, an untraced setup), the limit becomes 3x its time."""
    (tmp_path / "checker").mkdir()
    (tmp_path / "checker/x.py").write_bytes(b"x = 1\n")
    cov = {"import": {}, "tests": {"t": {"seconds": 1.0, "lines": {"checker/x.py": [1]}}}}
    server = FakeServer(tmp_path, {True: mutated, False: unmutated})
    m = mc.run_mutant(mc.Mutant("checker/x.py", 1, 4, 5, "MUTATED", "", 1, 1), server, cov, 60.0, 10.0)
    assert m.status == status
    assert (tmp_path / "checker/x.py").read_bytes() == b"x = 1\n"  # restored
    assert server.limits == ([60.0, 600.0] + ([90.0] if unmutated == 30.0 else []))


@pytest.mark.slow  # a traced pytest run: every call of pytest's own start-up goes through the hook
def test_the_traced_run_times_shared_fixtures_apart(tmp_path):
    """A module fixture's setup is charged to the fixture, not to the test that happened to set it up."""
    import json
    import os
    import subprocess
    (tmp_path / "test_toy.py").write_text(
        "import time\nimport pytest\n\n\n@pytest.fixture(scope='module')\ndef slow():\n    time.sleep(0.5)\n\n\n"
        "def test_one(slow):\n    pass\n\n\ndef test_two(slow):\n    pass\n")
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO / "benchmarks"), **{mc.TRACE_ENV: str(out)})
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "mutate_checker",
                    "test_toy.py"], cwd=tmp_path, env=env, check=True, capture_output=True)
    cov = json.loads((out / "map.json").read_text())
    (key, setup), = cov["fixtures"].items()
    assert key.endswith("::slow") and setup >= 0.5
    assert all(v["fixtures"] == [key] and v["seconds"] < 0.5 for v in cov["tests"].values())
    assert mc.cost(list(cov["tests"]), cov) < 0.5 + 0.5  # the setup once
