"""The trust boundary, enforced: checker/ imports only the standard library, numpy and itself."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import checker

CHECKER = Path(__file__).resolve().parents[2] / "checker"


def _imports(path: Path) -> set[str]:
    """Top-level package names of every import in the file, at any depth (lazy imports too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                out.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("import_module", "__import__"):
            out.add("<dynamic import>")
    return out


def test_checker_imports_only_stdlib_and_numpy():
    allowed = set(sys.stdlib_module_names) | {"numpy", "checker", "__future__"}
    files = sorted(CHECKER.rglob("*.py"))
    assert len(files) > 10
    bad = {str(f.relative_to(CHECKER)): sorted(_imports(f) - allowed) for f in files if _imports(f) - allowed}
    assert not bad, f"checker/ must import only the standard library and numpy: {bad}"


def test_the_scan_sees_a_forbidden_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from certify.model import MaxOfK\n    import torch.nn\n")
    assert _imports(probe) == {"certify", "torch"}


def test_trusted_files_are_named():
    """checker/__init__.py names every file of the trusted base and its role."""
    named = checker.TRUSTED
    files = {str(f.relative_to(CHECKER)) for f in CHECKER.rglob("*.py")}
    assert files <= set(named), sorted(files - set(named))
    assert all(role.strip() for role in named.values())


def test_exporters_never_import_the_prover():
    """No certify <-> exporters cycle: the exporters read the checker, never certify/ (the state-dict
    import, which needs the prover's model, lives in certify/weights_import.py)."""
    exporters = CHECKER.parent / "exporters"
    bad = [str(f.name) for f in exporters.rglob("*.py") if "certify" in _imports(f)]
    assert not bad, bad
