"""Run the docs' console examples as written and compare, or rewrite them from what the commands print.

    python scripts/docs_examples.py              # check README.md and docs/user-guide.md (exit 1 on drift)
    python scripts/docs_examples.py --update     # rewrite their console blocks from fresh output
    python scripts/docs_examples.py --fast       # only the examples that take seconds, not minutes

A console block is a ```console fence whose lines are `$ command` followed by that command's output.
Each document's commands run in order in one fresh folder, so later examples see the files earlier
ones wrote. In the output, a line `...` stands for any number of lines; timings (numbers with two
decimals, `in 3.8 s`, JSON "seconds") and runs of spaces are not compared. tests/test_docs.py runs
this; numbers the docs quote in prose should come from these blocks.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "docs/user-guide.md")


@dataclass
class Example:
    command: str
    expected: list[str]               # the doc's output lines, "..." for elisions
    lines: tuple[int, int] = (0, 0)   # where `expected` sits in the document (start, end)
    block: int = 0                    # which console block
    actual: list[str] = field(default_factory=list)
    exit_code: int = 0


def examples(text: str) -> list[Example]:
    """The console blocks' commands and expected outputs, with their line positions."""
    out, lines, i, block = [], text.splitlines(), 0, 0
    while i < len(lines):
        if lines[i].strip() != "```console":
            i += 1
            continue
        i, block = i + 1, block + 1
        while i < len(lines) and lines[i].strip() != "```":
            if not lines[i].startswith("$ "):
                raise ValueError(f"line {i + 1}: a console block must start with a `$ command` line")
            ex = Example(lines[i][2:], [], block=block)
            i += 1
            start = i
            while i < len(lines) and lines[i].strip() != "```" and not lines[i].startswith("$ "):
                ex.expected.append(lines[i])
                i += 1
            ex.lines = (start, i)
            out.append(ex)
        i += 1
    return out


def is_slow(command: str) -> bool:
    """Brute force on the default 64^4-input model: tens of seconds."""
    return command.startswith("certify run") and "--model" not in command and \
        ("--strategy" not in command or "brute-force" in command)


def run_all(exs: list[Example], cwd: Path, fast: bool = False) -> list[Example]:
    """Run the commands in order in `cwd` (with this interpreter's `certify` first on PATH)."""
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                        "COLUMNS": "100"}
    last, done, skipped = 0, [], set()
    for ex in exs:
        if fast and (ex.block in skipped or is_slow(ex.command)):
            skipped.add(ex.block)  # the block's later commands may depend on this one
            continue
        p = subprocess.run(["bash", "-c", f"(exit {last}); {ex.command}"], cwd=cwd, env=env,
                           capture_output=True, text=True, timeout=1800)
        ex.actual, ex.exit_code = p.stdout.splitlines(), p.returncode
        if "Traceback" in p.stderr:
            ex.actual.append(f"TRACEBACK: {p.stderr.strip().splitlines()[-1]}")
        last = p.returncode
        done.append(ex)
    return done


def normal(line: str) -> str:
    """A line without what varies from run to run or machine to machine: timings, the CPU that
    `certify train` names (the weights' SHA-256, printed beside it, must still match), padding."""
    line = re.sub(r'"seconds": [0-9.]+', '"seconds": T', line)
    line = re.sub(r"(?<![\d.])\d+\.\d\d(?![\d.])", "T", line)
    line = re.sub(r"\bin \d+\.\d s\b", "in T s", line)
    line = re.sub(r"\bon \w+/\w+\)", "on CPU)", line)
    return " ".join(line.split())


def mismatch(ex: Example) -> str | None:
    """None if the output matches the doc (segments between `...` in order, anchored at both ends
    unless the doc starts or ends with `...`), else a description."""
    got = [normal(a) for a in ex.actual]
    segments, seg = [], []
    for line in ex.expected:
        if line.strip() == "...":
            segments.append(seg)
            seg = []
        else:
            seg.append(normal(line))
    segments.append(seg)
    pos = 0
    for n, seg in enumerate(segments):
        anchored = n == 0
        found = next((p for p in range(pos, len(got) - len(seg) + 1) if got[p:p + len(seg)] == seg
                      and (not anchored or p == 0)), None)
        if found is None:
            return f"expected (in order) {seg!r}\ngot {_short(got)!r}"
        pos = found + len(seg)
    if segments[-1] and pos != len(got):
        return f"unexpected output after {segments[-1][-1]!r}: {_short(got[pos:])!r}"
    return None


def _short(lines: list[str], n: int = 12) -> list[str]:
    return lines if len(lines) <= n else lines[:n] + [f"... ({len(lines) - n} more lines)"]


def updated(ex: Example) -> list[str]:
    """The doc's lines with each replaced by the fresh output line it stands for (same first word,
    in order), keeping the doc's elisions; without elisions, the whole fresh output."""
    if not any(line.strip() == "..." for line in ex.expected):
        return ex.actual
    out, pos = [], 0
    for line in ex.expected:
        if line.strip() == "...":
            out.append(line)
            continue
        key = line.split()[0] if line.split() else ""
        hit = next((p for p in range(pos, len(ex.actual))
                    if (ex.actual[p].split()[:1] or [""])[0] == key), None)
        if hit is None:
            out.append(line)
        else:
            out.append(ex.actual[hit])
            pos = hit + 1
    return out


def process(doc: Path, update: bool, fast: bool) -> list[str]:
    """Problems found in one document (after rewriting it, with update)."""
    text = doc.read_text()
    exs = examples(text)
    with tempfile.TemporaryDirectory() as tmp:
        done = run_all(exs, Path(tmp), fast)
    problems = [f"{doc.name}: $ {ex.command}\n{m}" for ex in done if (m := mismatch(ex))]
    if update and problems:
        lines = text.splitlines()
        for ex in reversed(done):
            lines[ex.lines[0]:ex.lines[1]] = updated(ex)
        doc.write_text("\n".join(lines) + "\n")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--update", action="store_true", help="rewrite the console blocks from fresh output")
    ap.add_argument("--fast", action="store_true", help="stop at the first example that takes minutes")
    ap.add_argument("docs", nargs="*", default=list(DOCS))
    args = ap.parse_args()
    problems = [p for d in args.docs for p in process(REPO / d, args.update, args.fast)]
    for p in problems:
        print(p, end="\n\n")
    print(f"{len(problems)} example(s) {'rewritten' if args.update else 'differ'}" if problems
          else "every example matches")
    return 1 if problems and not args.update else 0


if __name__ == "__main__":
    sys.exit(main())
