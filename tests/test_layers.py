"""The case core knows no feature built on it: features reach it through hooks (rules, listeners)."""

from __future__ import annotations

import ast
from pathlib import Path

import cityops

SRC = Path(cityops.__file__).parent
# Features that react to or guard case steps; the case package must not import them.
FEATURES = ("field", "notify", "intel", "intake", "warning", "sensing", "detect", "web", "api")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_the_case_package_imports_no_feature() -> None:
    bad = [
        f"{path.name}: {name}"
        for path in sorted((SRC / "cases").glob("*.py"))
        if path.name not in ("cli.py", "views.py")  # the shells (CLI, HTTP) may reach any feature
        for name in _imports(path)
        if any(name == f"cityops.{f}" or name.startswith(f"cityops.{f}.") for f in FEATURES)
    ]
    assert bad == []


def test_the_after_photo_rule_is_registered_as_a_hook() -> None:
    from cityops import hooks
    from cityops.field import verify

    hooks.load_plugins()
    assert verify.verify_photo_rule in hooks._case_rules
