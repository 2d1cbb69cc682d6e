"""The docs' console and Python examples run as written (issue #15 items 13, 14): the README's and
the user guide's commands are executed and their stable output (bounds, ops, hashes, verdicts)
compared with what the docs show; `python scripts/docs_examples.py --update` rewrites them."""
from __future__ import annotations

import importlib.util
import re
import sys

import pytest

from conftest import REPO

spec = importlib.util.spec_from_file_location("docs_examples", REPO / "scripts" / "docs_examples.py")
docs_examples = importlib.util.module_from_spec(spec)
sys.modules["docs_examples"] = docs_examples  # dataclasses look their module up there
spec.loader.exec_module(docs_examples)
FIX = "the docs drifted from what the commands print: run `python scripts/docs_examples.py --update`"


def _check(doc: str, fast: bool) -> None:
    problems = docs_examples.process(REPO / doc, update=False, fast=fast)
    assert not problems, FIX + "\n\n" + "\n\n".join(problems)


@pytest.mark.parametrize("doc", docs_examples.DOCS)
def test_fast_console_examples(doc):
    _check(doc, fast=True)


@pytest.mark.slow
@pytest.mark.parametrize("doc", docs_examples.DOCS)
def test_every_console_example(doc):
    _check(doc, fast=False)


def test_every_doc_has_examples_and_the_matcher_can_fail():
    for doc in docs_examples.DOCS:
        assert docs_examples.examples((REPO / doc).read_text())
    ex = docs_examples.Example("x", ["a", "...", "c 1.23"], actual=["a", "b", "c 9.87"])
    assert docs_examples.mismatch(ex) is None  # timings are not compared
    ex.actual = ["a", "b", "d"]
    assert docs_examples.mismatch(ex)
    ex.actual = ["z", "a", "c 1.00"]
    assert docs_examples.mismatch(ex)  # anchored at the start
    ex = docs_examples.Example("x", ["a"], actual=["a", "extra"])
    assert docs_examples.mismatch(ex)  # and at the end


def test_readme_python_example_runs(tmp_path, monkeypatch):
    """The README's Python API example, executed as written (in a fresh folder)."""
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert blocks, "README has no python example"
    monkeypatch.chdir(tmp_path)
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})


def test_quoted_checker_size_is_measured():
    """docs/soundness.md's size of the trusted base is what scripts/checker_lines.py counts now."""
    spec = importlib.util.spec_from_file_location("checker_lines", REPO / "scripts" / "checker_lines.py")
    lines = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lines)
    total = sum(lines.code_lines(src) for src in lines.sources(None).values())
    quoted = re.search(r"([\d,]+) code lines by\s+`scripts/checker_lines.py`", (REPO / "docs/soundness.md").read_text())
    assert quoted and int(quoted[1].replace(",", "")) == total, f"docs/soundness.md: {total:,} code lines"


def test_mutation_page_is_the_committed_run_and_classes():
    """docs/mutation.md's figures and survivor table are scripts/mutation_report.py's rendering of
    benchmarks/mutation/run.json and classes.txt, and every survivor there has a known class."""
    spec = importlib.util.spec_from_file_location("mutation_report", REPO / "scripts" / "mutation_report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    assert report.main(["check"]) == 0, "run `python scripts/mutation_report.py update` (or classify the survivor)"
