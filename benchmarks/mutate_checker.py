"""Mutation testing of the trusted checker: how many small code changes in checker/ do the tests catch?

    python benchmarks/mutate_checker.py [--files checker/expo.py ...] [--sample N] [--limit N]
                                        [--jobs 1] [--map MAP.json] [--list] [--json OUT] [--reuse OLD.json]

The tracked files (as committed at --rev, default HEAD, so concurrent edits cannot leak in;
--worktree: their working-tree contents) are copied ONCE into a temporary directory; each mutant
rewrites one file there and restores it, never the repository. Tests run from the copy with
PYTHONPATH pointing at it, so `import checker` loads the mutant.

Fast by test selection (as mutmut and cosmic-ray do it). One traced run of the test universe
(UNIVERSE) records, per test, the checker lines it executes (its own, its fixtures', and those of
the subprocesses it starts), its duration and the shared fixtures it needs, timed apart: the
coverage map (--map caches it, keyed by the commit). A mutant then runs only the passing tests that
execute its statement, the cheapest first up to --budget seconds (a test's cost: its own time plus
the setup of shared fixtures not yet paid for), grouped by module, with -x: a test that never
executes the changed line cannot see the change. A mutant whose
statement that runs at import (module constants, signatures, class bodies) runs its file's
RELEVANT tests and the tests running code that names what it binds (Readers); one that no test
executes at all survives without a run ("unexecuted").
Each run is a fork of a server process that has already imported the third-party libraries (never
checker/, certify/ or exporters/), which saves their ~2.4 s start-up per mutant.

Checked before the run: the copy is what is imported, the unmutated copy passes, and a
deliberately broken checker is killed. A timeout counts as killed (the check no longer finishes)
only if the unmutated copy runs the same tests, then and there, in a third of the time limit; if it
is slower than that, the mutant is run again with three times the unmutated time as its limit.

--reuse OLD.json (any commit's run: a --json output, or the committed benchmarks/mutation/run.json)
carries OLD's killed outcomes over to the same mutations of the same code (the same text of the
enclosing function, or at module level of the top-level statement, and the same offset in it): measuring a
later commit re-runs only the mutants of changed code and the earlier survivors; with --reuse-survivors
the survivors of unchanged code are carried over too (a conservative count: tests were only added).
"""
from __future__ import annotations

import argparse
import ast
import inspect
import io
import json
import os
import queue
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_DIR = "tests/checker"
# Slow tests left out of every run: the zoo-wide checks (minutes) and two default-model float32 tests.
DESELECT = "not whole_zoo and not count_is_below_exact and not torch_agrees"
UNIVERSE = [TEST_DIR, "tests/certify/test_float32_semantics.py", "tests/certify/test_paper_variants.py"]
TRACE_ENV = "MUTATE_CHECKER_TRACE"  # set for the traced run only: the folder its map is written to
# The fast subset run against a mutant of each checker file: the test files that exercise it, cheapest
# first (pytest -x stops at the first failure); tests/checker/test_checker_mutants.py always runs first.
# A file not listed here gets all of tests/checker.
T = "tests/checker/test_"
BF, CERT, ADV, TIES = T + "brute_force_differential.py", T + "mutation.py", T + "adversarial_models.py", T + "ties.py"
RELEVANT = {"interval.py": [T + "interval.py", T + "fixtures.py", TIES, CERT, ADV, BF], "expo.py": [TIES, ADV, T + "cubic.py"],
            "dyadic.py": [TIES, ADV, BF], "paths.py": [TIES, ADV, BF], "safetensors.py": [T + "weights.py"],
            "certificate.py": [CERT, T + "weights.py"], "check.py": [CERT, T + "weights.py"], "cli.py": [CERT],
            "ops.py": [CERT, T + "resource_safety.py", TIES, T + "subcubic.py"], "__main__.py": [CERT], "__init__.py": [CERT],
            "errors.py": [CERT, T + "verdicts.py"], "files.py": [CERT, T + "weights.py", T + "verdicts.py"],
            "float32.py": [T + "float32_reference.py", "tests/certify/test_float32_semantics.py", BF],
            "brute_force.py": [TIES, CERT, BF],
            "cubic.py": [T + "fixtures.py", T + "cubic_filter_boundary.py", T + "rule_exact_paths.py", T + "cubic.py"],
            "numbers.py": [T + "numbers.py", T + "fixtures.py", T + "cubic_filter_boundary.py", T + "rule_exact_paths.py"],
            "subcubic.py": [T + "fixtures.py", T + "rule_exact_paths.py", T + "subcubic.py"],
            "subcubic_paper.py": [T + "rule_exact_paths.py", "tests/certify/test_paper_variants.py"],
            "subcubic_bounds.py": [T + "rule_exact_paths.py", T + "subcubic.py"]}
CMP_SWAPS = {ast.Lt: (ast.LtE, ast.GtE), ast.LtE: (ast.Lt, ast.Gt), ast.Gt: (ast.GtE, ast.LtE),
             ast.GtE: (ast.Gt, ast.Lt), ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,), ast.Is: (ast.IsNot,),
             ast.IsNot: (ast.Is,), ast.In: (ast.NotIn,), ast.NotIn: (ast.In,)}
CMP_TEXT = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
            ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}
NAME_SWAPS = {"min": "max", "max": "min", "minimum": "maximum", "maximum": "minimum", "down": "up", "up": "down"}


@dataclass
class Mutant:
    file: str
    line: int
    start: int  # byte offsets of the replaced source segment
    end: int
    replacement: str
    description: str
    first: int = 0  # the lines of the statement (a compound one's header) holding the mutated node
    last: int = 0
    status: str = ""  # killed / survived / timeout / unexecuted
    seconds: float = 0.0
    tests: int = 0    # tests selected
    cut: int = 0      # tests that execute its statement but were left out (past the budget)
    reused: bool = False  # its status carried over from an earlier run (--reuse)


def line_starts(src: bytes) -> list[int]:
    """The byte offset of each line's start (index 0: line 1), and the end of the source."""
    starts = [0]
    for line in src.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def mutants_of(copy: Path, path: str) -> list[Mutant]:
    """Every mutant of one file, in a deterministic order; each replaces one AST node's source text."""
    src = (copy / path).read_bytes()
    starts = line_starts(src)
    tree = ast.parse(src)
    docstrings = {id(n.body[0].value) for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.ClassDef,
                  ast.FunctionDef, ast.AsyncFunctionDef)) and n.body and isinstance(n.body[0], ast.Expr)}
    out: list[Mutant] = []
    statement: dict[int, tuple[int, int]] = {}  # id(node) -> lines of its innermost statement
    for stmt in ast.walk(tree):  # breadth first: an inner statement overwrites its outer one
        if isinstance(stmt, ast.stmt):
            body = getattr(stmt, "body", None)
            last = max(stmt.lineno, body[0].lineno - 1) if isinstance(body, list) and body else stmt.end_lineno
            for child in ast.walk(stmt):
                statement[id(child)] = (stmt.lineno, last)

    def add(node: ast.AST, text: str, desc: str, parens: bool = True) -> None:
        a = starts[node.lineno - 1] + node.col_offset  # col offsets count UTF-8 bytes
        b = starts[node.end_lineno - 1] + node.end_col_offset
        first, last = statement.get(id(node), (node.lineno, node.end_lineno))
        out.append(Mutant(path, node.lineno, a, b, f"({text})" if parens else text, desc,
                          min(first, node.lineno), max(last, node.end_lineno)))

    def variant(node: ast.AST, **changes) -> str:
        copy = ast.parse(ast.unparse(node), mode="eval").body if isinstance(node, ast.expr) else node
        for k, v in changes.items():
            setattr(copy, k, v)
        return ast.unparse(copy)

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                for new in CMP_SWAPS[type(op)]:
                    ops = [o if j != i else new() for j, o in enumerate(node.ops)]
                    add(node, variant(node, ops=ops), f"{CMP_TEXT[type(op)]} -> {CMP_TEXT[new]}")
        elif isinstance(node, ast.BoolOp):
            new, name = (ast.Or(), "and -> or") if isinstance(node.op, ast.And) else (ast.And(), "or -> and")
            add(node, variant(node, op=new), name)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            add(node, ast.unparse(node.operand), "drop `not`")
        elif isinstance(node, (ast.BinOp, ast.AugAssign)) and isinstance(node.op, (ast.Add, ast.Sub)):
            new = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
            desc = "+ -> -" if isinstance(node.op, ast.Add) else "- -> +"
            if isinstance(node, ast.BinOp):
                add(node, variant(node, op=new), desc)
            else:  # a statement (x += y): rewritten without parentheses
                add(node, ast.unparse(ast.AugAssign(node.target, new, node.value)),
                    desc.replace(" ->", "= ->") + "=", parens=False)
        elif (isinstance(node, ast.Constant) and type(node.value) is int and id(node) not in docstrings):
            for delta in (1, -1):
                add(node, str(node.value + delta), f"{node.value} -> {node.value + delta}", parens=node.value + delta < 0)
        elif isinstance(node, ast.Name) and node.id in NAME_SWAPS and isinstance(node.ctx, ast.Load):
            add(node, NAME_SWAPS[node.id], f"{node.id} -> {NAME_SWAPS[node.id]}", parens=False)
        elif isinstance(node, ast.Attribute) and node.attr in NAME_SWAPS and isinstance(node.ctx, ast.Load):
            add(node, variant(node, attr=NAME_SWAPS[node.attr]), f".{node.attr} -> .{NAME_SWAPS[node.attr]}")
        elif isinstance(node, ast.Raise):
            add(node, "pass", "raise -> pass", parens=False)
    return sorted(out, key=lambda m: (m.line, m.start, m.description))


# ---------------------------------------------------------------- reusing an earlier run's outcomes

def regions(src: bytes) -> list[tuple[int, int]]:
    """Byte spans of every function (decorators included) and every top-level statement of a source."""
    starts, tree = line_starts(src), ast.parse(src)
    defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    out = []
    for n in {*tree.body, *defs}:
        first = min([n.lineno] + [d.lineno for d in getattr(n, "decorator_list", [])])
        out.append((starts[first - 1] + n.col_offset, starts[n.end_lineno - 1] + n.end_col_offset))
    return out


def reuse_key(file: str, src: bytes, spans: list[tuple[int, int]], start: int, end: int, replacement: str) -> tuple:
    """What makes two mutants the same mutation of the same code: the file, the source text of the
    innermost function holding the mutated segment (at module level: of its top-level statement),
    the segment's offsets within that text, and the replacement."""
    a, b = min(((a, b) for a, b in spans if a <= start and end <= b), key=lambda s: s[1] - s[0])
    return file, src[a:b], start - a, end - a, replacement


def reuse(mutants: list[Mutant], source, old: list[dict], old_source, carry: tuple[str, ...] = ("killed",)) -> int:
    """Carry the outcomes in `carry` (killed; with --reuse-survivors also survived, which can only
    under-state the kill rate: tests were only added) of an earlier run's mutants (old: its JSON's
    "mutants") over to the same mutations of the same code (reuse_key); source and old_source give a
    file's text (None: no such file then). Timeouts (an earlier run's may be the machine's, not the
    mutant's: run_mutant checks them now), unexecuted and unmatched mutants are left to run. Returns
    how many outcomes were carried over."""
    parsed: dict[tuple, tuple | None] = {}

    def key(text_of, file: str, start: int, end: int, replacement: str) -> tuple | None:
        if (text_of, file) not in parsed:
            src = text_of(file)
            parsed[text_of, file] = None if src is None else (src, regions(src))
        if parsed[text_of, file] is None:
            return None
        return reuse_key(file, *parsed[text_of, file], start, end, replacement)
    done = {key(old_source, m["file"], m["start"], m["end"], m["replacement"]): m
            for m in old if m["status"] in carry}
    done.pop(None, None)
    count = 0
    for m in mutants:
        was = done.get(key(source, m.file, m.start, m.end, m.replacement))
        if was is not None:
            m.status, m.seconds, m.tests, m.reused = was["status"], was.get("seconds", 0.0), was.get("tests", 0), True
            count += 1
    return count


# ---------------------------------------------------------------- the coverage map (one traced run)

SITE = """import atexit, json, os, sys, threading
_dir = os.environ.get("MUTATE_CHECKER_SUB")
if _dir:  # a subprocess of a traced test: record the checker code it runs too
    _prefix, _seen = os.environ["MUTATE_CHECKER_PREFIX"], {}
    def _call(frame, event, arg):
        if frame.f_code.co_filename.startswith(_prefix):
            _seen[frame.f_code] = None
    sys.settrace(_call)
    threading.settrace(_call)
    atexit.register(lambda: open(os.path.join(_dir, f"sub-{os.getpid()}.json"), "w").write(json.dumps(
        [[c.co_filename, n] for c in _seen for n in ({l for *_, l in c.co_lines() if l} if not c.co_flags & 1 else
                                                     range(c.co_firstlineno, max(l for *_, l in c.co_lines() if l) + 1))])))
"""


def _lines(code) -> set[int]:
    """A function's lines: all it spans (nested functions included); a module's or class body's:
    only its own statements' (the rest is the functions')."""
    own = {n for *_, n in code.co_lines() if n}
    return set(range(code.co_firstlineno, max(own, default=0) + 1)) if code.co_flags & inspect.CO_OPTIMIZED else own


class Trace:
    """pytest plugin of the traced run (`-p mutate_checker` with TRACE_ENV set): per passing test, its
    duration and the checker lines run by it, by the fixtures it uses and by its subprocesses. A
    test's duration leaves out the setup of the shared (module-, class-, session-scoped) fixtures
    set up during it: those are timed apart, so a run of any subset can be costed (cost)."""

    def __init__(self, root: Path, out: Path) -> None:
        self.root, self.out, self.prefix = root, out, str(root / "checker") + os.sep
        self.lines: dict[str, set] = {"import": set()}  # owner (a test, a fixture, import) -> lines
        self.stack, self.fixtures, self.seconds, self.passed = ["import"], {}, {}, set()
        self.setup: dict[str, float] = {}    # shared fixture -> its setup time, nested shared ones excluded
        self.shared: dict[str, list] = {}    # test -> the shared fixtures it needs
        self.nested = [0.0]                  # per open setup or test: shared setup time spent inside it
        os.environ.update(MUTATE_CHECKER_SUB=str(out), MUTATE_CHECKER_PREFIX=self.prefix)  # subprocesses: SITE
        sys.settrace(self.call)
        threading.settrace(self.call)

    def call(self, frame, event, arg) -> None:
        """Function granularity (no line events: cheap): a test that runs a checker function counts as
        executing every line of it; module code (at import) is recorded the same way."""
        if frame.f_code.co_filename.startswith(self.prefix):
            self.lines[self.stack[-1]].add(frame.f_code)

    def own(self, key: str) -> None:
        self.lines.setdefault(key, set())
        self.stack.append(key)

    def release(self) -> None:
        for f in self.out.glob("sub-*.json"):  # subprocesses that ended meanwhile ran for this owner
            try:
                self.lines[self.stack[-1]].update(map(tuple, json.loads(f.read_text())))
            except ValueError:  # still being written: left for the next owner (over-inclusive, harmless)
                continue
            f.unlink()
        # (an owner's set holds code objects, and (file, line) pairs from subprocesses)
        self.stack.pop()

    @staticmethod
    def fixture_key(fixturedef) -> str:
        return f"fixture {fixturedef.baseid}::{fixturedef.argname}"

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        self.own(self.fixture_key(fixturedef))
        self.nested.append(0.0)
        start = time.perf_counter()
        try:
            return (yield)
        finally:
            took, inner = time.perf_counter() - start, self.nested.pop()
            if fixturedef.scope != "function":
                self.setup[self.fixture_key(fixturedef)] = took - inner
                inner = took
            self.nested[-1] += inner
            self.release()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self.own(item.nodeid)
        self.nested.append(0.0)
        start = time.perf_counter()
        try:
            return (yield)
        finally:
            self.seconds[item.nodeid] = max(0.0, time.perf_counter() - start - self.nested.pop())
            self.release()
            defs = [d[-1] for d in item._fixtureinfo.name2fixturedefs.values() if d]
            self.fixtures[item.nodeid] = [self.fixture_key(d) for d in defs]
            self.shared[item.nodeid] = [self.fixture_key(d) for d in defs if d.scope != "function"]

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call" and report.passed:
            self.passed.add(report.nodeid)

    def pytest_sessionfinish(self, session) -> None:
        sys.settrace(None)

        def files(seen: set) -> dict[str, list[int]]:
            out: dict[str, set] = {}
            for x in seen:
                name, lines = (x.co_filename, _lines(x)) if hasattr(x, "co_filename") else (x[0], [x[1]])
                out.setdefault(str(Path(name).relative_to(self.root)), set()).update(lines)
            return {k: sorted(v) for k, v in out.items()}
        tests = {t: {"seconds": self.seconds[t], "fixtures": self.shared[t],
                     "lines": files(self.lines[t].union(*(self.lines.get(f, ()) for f in self.fixtures[t])))}
                 for t in self.passed}
        (self.out / "map.json").write_text(json.dumps({"tests": tests, "import": files(self.lines["import"]),
                                                       "fixtures": self.setup}))


def pytest_configure(config) -> None:
    """This module as a pytest plugin: only the traced run sets TRACE_ENV."""
    if os.environ.get(TRACE_ENV):
        config.pluginmanager.register(Trace(Path.cwd(), Path(os.environ[TRACE_ENV])), "mutate_checker_trace")


def build_map(copy: Path, universe: list[str]) -> dict:
    """Run the test universe once, traced, in the copy: the coverage map."""
    out = Path(tempfile.mkdtemp(prefix="mutate_map_"))
    site = copy / "sitecustomize.py"  # on any PYTHONPATH a test gives its subprocesses: the copy
    site.write_text(SITE)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(copy), str(Path(__file__).resolve().parent)]),  # plugin: this file
               PYTHONDONTWRITEBYTECODE="1", **{TRACE_ENV: str(out)})
    try:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "mutate_checker",
                        "-k", DESELECT, *universe], cwd=copy, env=env, stdout=subprocess.DEVNULL)
        data = json.loads((out / "map.json").read_text())
        print(f"coverage map: {len(data['tests'])} passing tests traced in {time.perf_counter() - start:.0f} s",
              flush=True)
        return data
    finally:
        shutil.rmtree(out, ignore_errors=True)
        site.unlink()
        shutil.rmtree(copy / ".hypothesis", ignore_errors=True)


class Readers:
    """What a statement run at import binds (a module constant, a class attribute, a signature) is read
    later by whatever code names it: per checker file of the copy, the spans of its functions and the
    names they mention (Name ids, attributes, imported names), and its module and class-body
    statements with the names they bind and mention."""

    def __init__(self, copy: Path) -> None:
        self.functions: list[tuple[str, int, int, set[str]]] = []  # (file, first line, last line, names)
        self.statements: dict[str, list[tuple[int, int, set[str], set[str]]]] = {}  # file -> (first, last, binds, names)
        for path in sorted((copy / "checker").rglob("*.py")):
            file, tree = str(path.relative_to(copy)), ast.parse(path.read_bytes())
            rows = self.statements.setdefault(file, [])
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    self.functions.append((file, node.lineno, node.end_lineno, _names(node)))
            for stmt in [*tree.body, *(s for c in ast.walk(tree) if isinstance(c, ast.ClassDef) for s in c.body)]:
                if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    binds = {n.id for t in _targets(stmt) for n in ast.walk(t) if isinstance(n, ast.Name)}
                    rows.append((stmt.lineno, stmt.end_lineno, binds, _names(stmt)))

    def __call__(self, m: Mutant) -> dict[str, set[int]]:
        """{file: lines} of the functions that read, directly or through other such statements, a name
        bound by m's statement (the innermost module or class-body one holding m)."""
        held = [(a, b, binds) for a, b, binds, _ in self.statements.get(m.file, ()) if a <= m.line <= b]
        names = set().union(*(binds for *_, binds in held[-1:]))
        while True:  # statements computed from those names bind further names (_RATIONAL from MAX_INT_DIGITS)
            more = {n for rows in self.statements.values() for *_, binds, used in rows if used & names for n in binds}
            if more <= names:
                break
            names |= more
        out: dict[str, set[int]] = {}
        for file, first, last, used in self.functions:
            if used & names:
                out.setdefault(file, set()).update(range(first, last + 1))
        return out


def _names(node: ast.AST) -> set[str]:
    """The identifiers a piece of code mentions: names, attributes, imported names."""
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.Attribute):
            out.add(n.attr)
        elif isinstance(n, ast.alias):
            out.add(n.asname or n.name)
    return out


def _targets(stmt: ast.stmt) -> list[ast.AST]:
    if isinstance(stmt, ast.Assign):
        return stmt.targets
    if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        return [stmt.target]
    return []


def select(m: Mutant, cov: dict, budget: float, readers: Readers | None = None) -> list[str] | None:
    """The tests to run against m: the cheapest first while their cost (traced seconds, shared fixtures
    once) stays within budget (m.cut: how many were left out), in module groups; None: no test
    executes its statement."""
    span = set(range(m.first, m.last + 1))
    tests = [t for t, v in cov["tests"].items() if span & set(v["lines"].get(m.file, ()))]
    if span & set(cov["import"].get(m.file, ())):  # it runs at import (too): whatever it computes then is
        reach = readers(m) if readers else {}  # read later, by the code naming it and by the file's tests
        relevant = RELEVANT.get(Path(m.file).name, UNIVERSE)
        tests += [t for t, v in cov["tests"].items() if t not in tests and (any(t.startswith(r) for r in relevant)
                  or any(reach.get(f, set()) & set(lines) for f, lines in v["lines"].items()))]
    if not tests:
        return None
    tests.sort(key=lambda t: (cost([t], cov), t))
    keep: list[str] = []
    paid: set[str] = set()
    spent = 0.0
    for t in tests:  # the cheapest first; one that does not fit is skipped (a later one may share its fixtures)
        more = cost([t], cov, paid)
        if not keep or spent + more <= budget:
            keep.append(t)
            paid.update(cov["tests"][t].get("fixtures", ()))
            spent += more
    m.cut = len(tests) - len(keep)
    first = {}
    for t in keep:  # run grouped by module (a module's shared fixtures set up once), cheapest module first
        first.setdefault(t.split("::")[0], len(first))
    return sorted(keep, key=lambda t: first[t.split("::")[0]])


def cost(tests: list[str], cov: dict, paid: set[str] = frozenset()) -> float:
    """Traced seconds of running these tests together: their own times plus one setup of each shared
    fixture they need (those in paid already set up). A map without fixture times: the tests' times."""
    shared = {f for t in tests for f in cov["tests"][t].get("fixtures", ())} - paid
    return sum(cov["tests"][t]["seconds"] for t in tests) + sum(cov.get("fixtures", {}).get(f, 0.0) for f in shared)


# ---------------------------------------------------------------- running tests: a fork server

SERVER = """import json, os, sys, time
import numpy, pytest, hypothesis, mpmath
try:
    import torch
except ImportError:
    pass
ours = sorted(n for n in sys.modules if n.split('.')[0] in ('checker', 'certify', 'exporters', 'tests', 'conftest'))
assert not ours, ours  # the children must import these fresh, mutated
print('ready', flush=True)
for line in sys.stdin:
    args, timeout = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        try:
            rc = int(pytest.main(args))
        except BaseException:
            rc = 99
        os._exit(rc)
    deadline, reply = time.monotonic() + timeout, 'timeout'
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            reply = os.waitstatus_to_exitcode(status)
            break
        time.sleep(0.01)
    else:
        try:
            os.killpg(pid, 9)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
    print(json.dumps(reply), flush=True)
"""


class Server:
    """A process in the copy with the third-party libraries imported; each test run is a fork of it."""

    def __init__(self, copy: Path) -> None:
        self.copy = copy
        env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")  # no stale .pyc of a mutant
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], cwd=copy, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready", "the test server did not start"

    def run(self, tests: list[str], timeout: float) -> tuple[str, float]:
        start = time.perf_counter()
        self.proc.stdin.write(json.dumps([["-x", "-q", "-p", "no:cacheprovider", *tests], timeout]) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        shutil.rmtree(self.copy / ".hypothesis", ignore_errors=True)  # no replayed examples from an earlier mutant
        status = "timeout" if reply == "timeout" else "survived" if reply == 0 else "killed"
        return status, time.perf_counter() - start

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def run_mutant(m: Mutant, server: Server, cov: dict, timeout: float, budget: float,
               readers: Readers | None = None) -> Mutant:
    tests = select(m, cov, budget, readers)
    if tests is None:
        m.status = "unexecuted"
        return m
    m.tests = len(tests)
    target = server.copy / m.file
    original = target.read_bytes()
    mutated = original[:m.start] + m.replacement.encode() + original[m.end:]
    limit = max(timeout, 3 * cost(tests, cov))
    try:
        target.write_bytes(mutated)
        m.status, m.seconds = server.run(tests, limit)
        if m.status == "timeout":  # killed only if the unmutated copy runs the same tests in a third of the time
            target.write_bytes(original)
            status, base = server.run(tests, 10 * limit)
            if status == "survived" and 3 * base > limit:  # slower here and now than traced: a longer limit
                target.write_bytes(mutated)
                m.status, m.seconds = server.run(tests, 3 * base)
    finally:
        target.write_bytes(original)
    return m


def git_show(commit: str, path: str) -> bytes | None:
    """A file's contents at a commit (None: it did not exist there)."""
    out = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=REPO, capture_output=True)
    return out.stdout if out.returncode == 0 else None


def make_copy(rev: str | None, overlay: list[str]) -> Path:
    """The tracked files as committed at rev (working tree if rev is None), plus the overlay files as
    they are in the working tree, in a fresh temporary directory."""
    copy = Path(tempfile.mkdtemp(prefix="mutate_checker_"))
    git = lambda *a: subprocess.run(["git", *a], cwd=REPO, check=True, capture_output=True).stdout
    if rev is not None:
        with tarfile.open(fileobj=io.BytesIO(git("archive", "--format=tar", rev))) as tar:
            tar.extractall(copy, filter="data")
    names = [] if rev is not None else git("ls-files", "-z").decode().split("\0")
    for name in filter(None, names + overlay):
        if (REPO / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy / name)
    return copy


def sanity(server: Server, cov: dict, timeout: float) -> None:
    """The copy is what gets imported, the unmutated copy passes, and a broken checker is killed."""
    env = dict(os.environ, PYTHONPATH=str(server.copy), PYTHONDONTWRITEBYTECODE="1")
    where = subprocess.run([sys.executable, "-c", "import checker.check as c; print(c.__file__)"], cwd=server.copy,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).resolve().is_relative_to(server.copy.resolve()), f"tests would import {where}, not the copy"
    status, secs = server.run(sorted(cov["tests"]), timeout + 3 * cost(list(cov["tests"]), cov))
    assert status == "survived", f"the unmutated checker fails its own tests ({status})"
    print(f"baseline: the {len(cov['tests'])} mapped tests pass on the unmutated copy in {secs:.1f} s", flush=True)
    target = server.copy / "checker/interval.py"
    original = target.read_bytes()
    target.write_bytes(original + b"\nraise ImportError('canary')\n")
    try:
        status, _ = server.run(sorted(cov["tests"]), timeout)
    finally:
        target.write_bytes(original)
    assert status == "killed", "a broken checker was not detected"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", nargs="+", help="checker files to mutate (default: every tracked checker/**/*.py)")
    ap.add_argument("--rev", default="HEAD", help="commit to copy and mutate (default HEAD)")
    ap.add_argument("--worktree", action="store_true", help="copy the working-tree contents instead of --rev")
    ap.add_argument("--overlay", nargs="+", default=[], help="also copy these working-tree files (e.g. new tests)")
    ap.add_argument("--limit", type=int, help="run only the first N mutants (after --sample)")
    ap.add_argument("--sample", type=int, help="keep every N-th mutant (a deterministic sample)")
    ap.add_argument("--offset", type=int, default=0, help="with --sample, start at this mutant (0 <= OFFSET < N)")
    ap.add_argument("--interleave", type=int, metavar="N", help="run order: every N-th mutant, then the next "
                    "offset's, ...: with --stop-at, the mutants run are a spread sample of the set")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=60.0,
                    help="seconds per mutant, at least (3x its tests' traced cost if more; a timeout counts as killed "
                         "if the unmutated copy runs the same tests in a third of that)")
    ap.add_argument("--budget", type=float, default=40.0, help="traced test seconds per mutant at most "
                    "(shared fixtures' setup included): the cheapest tests that execute its statement up to this; a survivor with tests cut says so")
    ap.add_argument("--tests", nargs="+", default=UNIVERSE, help="the test universe (default: UNIVERSE)")
    ap.add_argument("--stop-at", metavar="HH:MM", help="start no mutant after this local time (those left: 'not run')")
    ap.add_argument("--map", metavar="JSON", help="coverage map cache: read if it is of the same commit, else written")
    ap.add_argument("--list", action="store_true", help="only list the mutants")
    ap.add_argument("--json", metavar="OUT", help="write every mutant and its outcome as JSON")
    ap.add_argument("--reuse", "--rerun", metavar="JSON", help="carry over the killed outcomes of an earlier "
                    "--json run (any commit) to the same mutations of the same code: same file, same text of the "
                    "enclosing function (module level: top-level statement), same offset in it, same replacement "
                    "(tests were only added); the rest (timeouts too) runs")
    ap.add_argument("--reuse-survivors", action="store_true", help="with --reuse, carry over the survivors too "
                    "instead of running them again (only the changed code's mutants run)")
    args = ap.parse_args(argv)
    rev = None if args.worktree else args.rev
    commit = "worktree" if rev is None else subprocess.run(["git", "rev-parse", rev], cwd=REPO, check=True,
                                                           capture_output=True, text=True).stdout.strip()
    copy = make_copy(rev, args.overlay)
    servers: queue.Queue[Server] = queue.Queue()
    start = time.perf_counter()
    try:
        files = args.files or sorted(str(p.relative_to(copy)) for p in (copy / "checker").rglob("*.py"))
        mutants = [m for f in files for m in mutants_of(copy, f)][args.offset::args.sample or 1]
        if args.interleave:  # every N-th first, then the next offset...: any prefix is a spread sample
            mutants = [m for k in range(args.interleave) for m in mutants[k::args.interleave]]
        mutants = mutants[:args.limit]
        if args.reuse:
            old = json.loads(Path(args.reuse).read_text())
            if old["commit"] == "worktree":
                raise SystemExit(f"--reuse: {args.reuse} was a --worktree run: no commit to read its code from")
            carry = ("killed", "survived") if args.reuse_survivors else ("killed",)
            n = reuse(mutants, lambda f: (copy / f).read_bytes(), old["mutants"], lambda f: git_show(old["commit"], f),
                      carry)
            print(f"reused {n} of {len(mutants)} outcomes ({', '.join(carry)}) from {args.reuse} (commit "
                  f"{old['commit'][:7]}); the other {len(mutants) - n} run", flush=True)
        if args.list:
            for m in mutants:
                print(f"{m.file}:{m.line}: {m.description}   => {m.replacement}")
            print(f"{len(mutants)} mutants")
            return 0
        cached = json.loads(Path(args.map).read_text()) if args.map and Path(args.map).exists() else {}
        if cached.get("commit") == commit and cached.get("universe") == args.tests and commit != "worktree" \
                and not args.overlay:
            cov = cached
            print(f"coverage map: {len(cov['tests'])} tests, read from {args.map}", flush=True)
        else:
            cov = {"commit": commit, "universe": args.tests, **build_map(copy, args.tests)}
            if args.map:
                Path(args.map).write_text(json.dumps(cov))
        readers = Readers(copy)
        servers.put(Server(copy))
        sanity(servers.queue[0], cov, args.timeout)
        for _ in range(args.jobs - 1):  # one copy and server per worker; a worker borrows one per mutant
            servers.put(Server(make_copy(rev, args.overlay)))

        stop = None
        if args.stop_at:
            h, mi = map(int, args.stop_at.split(":"))
            now = time.localtime()
            stop = time.mktime(now[:3] + (h, mi, 0) + now[6:])

        def work(m: Mutant) -> Mutant:
            if stop is not None and time.time() > stop:
                return m  # not run
            server = servers.get()
            try:
                return run_mutant(m, server, cov, args.timeout, args.budget, readers)
            finally:
                servers.put(server)
        todo = [m for m in mutants if not m.status]
        with ThreadPoolExecutor(args.jobs) as pool:
            for i, m in enumerate(pool.map(work, todo), 1):
                if m.status:
                        print(f"[{i}/{len(todo)}] {m.status:10} {m.seconds:5.1f}s {m.tests:4} tests  {m.file}:{m.line}: "
                          f"{m.description}", flush=True)
    finally:
        while not servers.empty():
            server = servers.get()
            server.close()
            shutil.rmtree(server.copy, ignore_errors=True)
        shutil.rmtree(copy, ignore_errors=True)
    count = {s: sum(m.status == s for m in mutants) for s in ("killed", "timeout", "survived", "unexecuted", "")}
    run = len(mutants) - count.pop("")
    rate = (count["killed"] + count["timeout"]) / max(run, 1)
    print(f"\nmutants {len(mutants)}, run {run}: killed {count['killed']}  timeouts {count['timeout']}  survived "
          f"{count['survived']}  unexecuted {count['unexecuted']}  kill rate {rate:.1%} of those run  "
          f"({sum(m.reused for m in mutants)} carried over by --reuse; {time.perf_counter() - start:.0f} s)")
    print(f"{'file':32} {'run':>5} {'killed':>7} {'timeout':>8} {'survived':>9} {'unexec.':>8} {'mean s':>7}")
    for f in sorted({m.file for m in mutants}):
        ran = [m for m in mutants if m.file == f and m.status]
        c = {s: sum(m.status == s for m in ran) for s in ("killed", "timeout", "survived", "unexecuted")}
        print(f"{f:32} {len(ran):5} {c['killed']:7} {c['timeout']:8} {c['survived']:9} {c['unexecuted']:8} "
              f"{sum(m.seconds for m in ran) / max(len(ran), 1):7.1f}")
    for m in mutants:
        if m.status in ("survived", "unexecuted"):
            cut = f"  ({m.cut} covering tests not run: budget)" if m.cut else ""
            print(f"  {m.status:10} {m.file}:{m.line}: {m.description}   => {m.replacement}{cut}")
    if args.json:
        Path(args.json).write_text(json.dumps({"kill_rate": rate, **count, "total": len(mutants), "run": run, "commit": commit,
                                               "reused": sum(m.reused for m in mutants),
                                               "mutants": [asdict(m) for m in mutants]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
