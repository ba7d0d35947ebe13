"""The shape of the code: the import layers (.importlinter), no reaching into another module's
private names, short functions, and no unused or undefined names."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 80


def project_files(*, with_tests: bool = False) -> list[Path]:
    """The project's own Python files (library, dashboard, benchmarks; tests on request)."""
    folders = ["xldiag", "app_pages", "bench"] + (["tests"] if with_tests else [])
    files = [p for folder in folders for p in sorted((ROOT / folder).rglob("*.py"))]
    return files + [ROOT / "app.py"]


def tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def test_import_layers_hold():
    done = subprocess.run([tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def private_uses(path: Path) -> list[str]:
    """`from xldiag.m import _name`, or `m._name` where m is an imported project module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found, modules = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("xldiag", "app_pages"):
            for alias in node.names:
                is_module = (ROOT / (node.module or "").replace(".", "/") / f"{alias.name}.py").exists()
                if _private(alias.name) and not is_module:
                    found.append(f"{path.name}:{node.lineno} imports {node.module}.{alias.name}")
                elif is_module:
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name.split(".")[0] == "xldiag"}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                and _private(node.attr)):
            found.append(f"{path.name}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_module_reaches_into_another_modules_private_names():
    found = [use for path in project_files() for use in private_uses(path)]
    assert not found, "make these public (with a docstring) or move the code:\n" + "\n".join(found)


def long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]


def test_no_function_is_longer_than_80_lines():
    found = [f for path in project_files() for f in long_functions(path)]
    assert not found, "split these into named steps:\n" + "\n".join(found)


def test_no_unused_imports_or_undefined_names():
    files = [str(p) for p in project_files(with_tests=True)]
    done = subprocess.run([tool("ruff"), "check", "--no-cache", "--select", "F", "--output-format", "concise", *files],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:]


@pytest.mark.parametrize("source, expected", [
    ("from xldiag.runs import _read_json\n", ["imports xldiag.runs._read_json"]),
    ("from xldiag import runs\nruns._proc_start_time(1)\n", ["uses runs._proc_start_time"]),
    ("import xldiag.runs as r\nr._x\n", ["uses r._x"]),
    ("from xldiag import __version__\nfrom xldiag.jobs import read_json\n", []),
])
def test_the_private_name_check_itself(tmp_path, source, expected):
    path = tmp_path / "example.py"
    path.write_text(source)
    assert [use.split(" ", 1)[1] for use in private_uses(path)] == expected
