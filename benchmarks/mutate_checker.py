"""Mutation testing of the trusted checker: how many small code changes in checker/ do the tests catch?

    nice -n 15 python benchmarks/mutate_checker.py [--files checker/expo.py ...] [--limit N]
                                                   [--jobs 1] [--list] [--json OUT]

The tracked files (git ls-files; as committed at --rev, default HEAD, so that concurrent edits in the
working tree do not leak in; --worktree copies their working-tree contents instead) are copied ONCE
into a temporary directory; each mutant rewrites one file there (and restores it), never /work/main. The tests run from the copy with PYTHONPATH
pointing at it, so `import checker` loads the mutant (checked before the run: the copy must be what
is imported, the unmutated copy must pass, and a deliberately broken checker must be killed).
"""
from __future__ import annotations

import argparse
import ast
import io
import json
import os
import queue
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST_DIR = "tests/checker"
# Slow tests left out of every run: the zoo-wide checks (minutes) and two default-model float32 tests.
DESELECT = "not whole_zoo and not count_is_below_exact and not torch_agrees"
# The fast subset run against a mutant of each checker file: the test files that exercise it, cheapest
# first (pytest -x stops at the first failure); tests/checker/test_checker_mutants.py always runs first.
# A file not listed here gets all of tests/checker.
T = "tests/checker/test_"
BF, CERT, ADV, TIES = T + "brute_force_differential.py", T + "mutation.py", T + "adversarial_models.py", T + "ties.py"
RELEVANT = {"interval.py": [T + "interval.py", T + "fixtures.py", TIES, CERT, ADV, BF], "expo.py": [TIES, ADV, T + "cubic.py"],
            "dyadic.py": [TIES, ADV, BF], "paths.py": [TIES, ADV, BF], "safetensors.py": [T + "weights.py"],
            "certificate.py": [CERT, T + "weights.py"], "check.py": [CERT, T + "weights.py"], "cli.py": [CERT],
            "ops.py": [CERT, T + "resource_safety.py", TIES, T + "subcubic.py"], "__main__.py": [CERT], "__init__.py": [CERT],
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
    status: str = ""  # killed / survived / timeout
    seconds: float = 0.0


def mutants_of(copy: Path, path: str) -> list[Mutant]:
    """Every mutant of one file, in a deterministic order; each replaces one AST node's source text."""
    src = (copy / path).read_bytes()
    starts = [0]
    for line in src.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    tree = ast.parse(src)
    docstrings = {id(n.body[0].value) for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.ClassDef,
                  ast.FunctionDef, ast.AsyncFunctionDef)) and n.body and isinstance(n.body[0], ast.Expr)}
    out: list[Mutant] = []

    def add(node: ast.AST, text: str, desc: str, parens: bool = True) -> None:
        a = starts[node.lineno - 1] + node.col_offset  # col offsets count UTF-8 bytes
        b = starts[node.end_lineno - 1] + node.end_col_offset
        out.append(Mutant(path, node.lineno, a, b, f"({text})" if parens else text, desc))

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


def test_command(copy: Path, mutated: str | None) -> list[str]:
    """pytest over the fast subset of tests/checker, the tests most relevant to the mutated file first."""
    every = sorted(str(p.relative_to(copy)) for p in (copy / TEST_DIR).glob("test_*.py"))
    files = RELEVANT.get(Path(mutated).name, every) if mutated else every
    ours = f"{TEST_DIR}/test_checker_mutants.py"
    files = [n for n in files if (copy / n).exists()]
    files = ([ours] if (copy / ours).exists() else []) + [n for n in files if n != ours]
    return [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-k", DESELECT, *files]


def run_tests(copy: Path, mutated: str | None, timeout: float) -> tuple[str, float]:
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")  # no stale .pyc of an earlier mutant
    start = time.perf_counter()
    try:
        rc = subprocess.run(test_command(copy, mutated), cwd=copy, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, timeout=timeout).returncode
        status = "survived" if rc == 0 else "killed"
    except subprocess.TimeoutExpired:
        status = "timeout"
    shutil.rmtree(copy / ".hypothesis", ignore_errors=True)  # no replayed examples from an earlier mutant
    return status, time.perf_counter() - start


def run_mutant(m: Mutant, copy: Path, timeout: float) -> Mutant:
    target = copy / m.file
    original = target.read_bytes()
    target.write_bytes(original[:m.start] + m.replacement.encode() + original[m.end:])
    try:
        m.status, m.seconds = run_tests(copy, m.file, timeout)
    finally:
        target.write_bytes(original)
    return m


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


def sanity(copy: Path, timeout: float) -> None:
    """The copy is what gets imported, the unmutated copy passes, and a broken checker is killed."""
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    where = subprocess.run([sys.executable, "-c", "import checker.check as c; print(c.__file__)"], cwd=copy,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).resolve().is_relative_to(copy.resolve()), f"tests would import {where}, not the copy"
    status, secs = run_tests(copy, None, timeout * 3)
    assert status == "survived", f"the unmutated checker fails its own tests ({status})"
    print(f"baseline: tests pass on the unmutated copy in {secs:.1f} s", flush=True)
    end = len((copy / "checker/interval.py").read_bytes())
    broken = Mutant("checker/interval.py", 0, end, end, "\nraise ImportError('canary')\n", "canary")
    assert run_mutant(broken, copy, timeout).status == "killed", "a broken checker was not detected"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", nargs="+", help="checker files to mutate (default: every tracked checker/**/*.py)")
    ap.add_argument("--rev", default="HEAD", help="commit to copy and mutate (default HEAD)")
    ap.add_argument("--worktree", action="store_true", help="copy the working-tree contents instead of --rev")
    ap.add_argument("--overlay", nargs="+", default=[], help="also copy these working-tree files (e.g. new tests)")
    ap.add_argument("--limit", type=int, help="run only the first N mutants (after --sample)")
    ap.add_argument("--sample", type=int, help="keep every N-th mutant (a deterministic sample)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=90.0, help="seconds per mutant (a timeout counts as killed)")
    ap.add_argument("--list", action="store_true", help="only list the mutants")
    ap.add_argument("--json", metavar="OUT", help="write every mutant and its outcome as JSON")
    ap.add_argument("--rerun", metavar="JSON", help="re-run only the survivors of an earlier --json run "
                    "(same --rev and sample); its killed mutants count as killed (tests were only added)")
    args = ap.parse_args(argv)
    rev = None if args.worktree else args.rev
    copy = make_copy(rev, args.overlay)
    copies: queue.Queue[Path] = queue.Queue()
    copies.put(copy)
    start = time.perf_counter()
    try:
        files = args.files or sorted(str(p.relative_to(copy)) for p in (copy / "checker").rglob("*.py"))
        mutants = [m for f in files for m in mutants_of(copy, f)][::args.sample or 1][:args.limit]
        if args.rerun:
            old = {(m["file"], m["start"], m["replacement"]): m["status"]
                   for m in json.loads(Path(args.rerun).read_text())["mutants"]}
            for m in mutants:
                m.status = old[m.file, m.start, m.replacement] if old[m.file, m.start, m.replacement] != "survived" else ""
        if args.list:
            for m in mutants:
                print(f"{m.file}:{m.line}: {m.description}   => {m.replacement}")
            print(f"{len(mutants)} mutants")
            return 0
        sanity(copy, args.timeout)
        for _ in range(args.jobs - 1):  # one copy per worker; a worker borrows a copy for each mutant
            copies.put(make_copy(rev, args.overlay))

        def work(m: Mutant) -> Mutant:
            c = copies.get()
            try:
                return run_mutant(m, c, args.timeout)
            finally:
                copies.put(c)
        todo = [m for m in mutants if not m.status]
        with ThreadPoolExecutor(args.jobs) as pool:
            for i, m in enumerate(pool.map(work, todo), 1):
                print(f"[{i}/{len(todo)}] {m.status:8} {m.seconds:5.1f}s {m.file}:{m.line}: {m.description}", flush=True)
    finally:
        while not copies.empty():
            shutil.rmtree(copies.get(), ignore_errors=True)
    count = {s: sum(m.status == s for m in mutants) for s in ("killed", "survived", "timeout")}
    rate = (count["killed"] + count["timeout"]) / max(len(mutants), 1)
    print(f"\nmutants {len(mutants)}  killed {count['killed']}  timeouts {count['timeout']}  "
          f"survived {count['survived']}  kill rate {rate:.1%}  ({time.perf_counter() - start:.0f} s)")
    for m in mutants:
        if m.status == "survived":
            print(f"  {m.file}:{m.line}: {m.description}")
    if args.json:
        Path(args.json).write_text(json.dumps({"kill_rate": rate, **count, "total": len(mutants),
                                               "mutants": [asdict(m) for m in mutants]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
