"""Code lines of the trusted checker, per file: lines holding a token of code, so blank lines,
comments and docstrings (a string statement opening a module, class or function) do not count.

    python scripts/checker_lines.py                  # every checker/ file, and the total
    python scripts/checker_lines.py --rev REV        # as of a git revision (the files git tracks)
    python scripts/checker_lines.py --exclude rules/hybrid.py --exclude rules/subcubic_paper.py

Counted with tokenize and ast, never by hand (issue #16's target: <= 1,400 code lines).
"""
from __future__ import annotations

import argparse
import ast
import io
import subprocess
import tokenize
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOT_CODE = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENCODING, tokenize.ENDMARKER}


def code_lines(source: str) -> int:
    """Lines with at least one code token, less the lines of docstrings."""
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in NOT_CODE:
            lines.update(range(tok.start[0], tok.end[0] + 1))
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                lines.difference_update(range(first.lineno, first.end_lineno + 1))
    return len(lines)


def sources(rev: str | None) -> dict[str, str]:
    """checker/**.py by path relative to checker/, from the working tree or a git revision."""
    if rev is None:
        return {str(p.relative_to(REPO / "checker")): p.read_text()
                for p in sorted((REPO / "checker").rglob("*.py"))}
    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, "checker/"], cwd=REPO,
                           check=True, capture_output=True, text=True).stdout.split()
    return {n[len("checker/"):]: subprocess.run(["git", "show", f"{rev}:{n}"], cwd=REPO, check=True,
                                                capture_output=True, text=True).stdout
            for n in names if n.endswith(".py")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", help="a git revision instead of the working tree")
    ap.add_argument("--exclude", action="append", default=[], metavar="FILE",
                    help="leave out this file (path relative to checker/); repeatable")
    args = ap.parse_args()
    counts = {name: code_lines(text) for name, text in sources(args.rev).items()}
    for name, n in counts.items():
        print(f"{n:6,}  {name}{'  (excluded)' if name in args.exclude else ''}")
    kept = sum(n for name, n in counts.items() if name not in args.exclude)
    print(f"{kept:6,}  total" + (f" without {', '.join(args.exclude)}" if args.exclude else ""))


if __name__ == "__main__":
    main()
