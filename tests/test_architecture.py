"""The architecture, checked: layers point down, no import cycles, no reaching into private names.

The contracts themselves live in ``pyproject.toml`` (``[tool.importlinter]``); ``lint-imports`` checks
them here, and a broken copy of the tree shows that the check can fail.
"""

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("sw_model", "hdl", "testbenches", "pygen")
SOURCES = sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py"))


def _lint(root: Path, config: Path) -> subprocess.CompletedProcess:
    code = ("import sys; from importlinter.cli import lint_imports_command; "
            "sys.argv = ['lint-imports', sys.argv[1], '--no-cache']; lint_imports_command()")
    env_path = str(root)
    return subprocess.run([sys.executable, "-c", code, str(config)], capture_output=True, text=True,
                          cwd=root, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"})


def _tree_copy(tmp_path: Path) -> Path:
    """The four packages under ``tmp/memres/`` (a namespace package, as installed) and the contracts."""
    root = tmp_path / "tree"
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, root / "memres" / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def test_import_contracts_are_kept(tmp_path):
    root = _tree_copy(tmp_path)
    r = _lint(root, root / "pyproject.toml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "BROKEN" not in r.stdout and "0 broken" in r.stdout


@pytest.mark.parametrize("importer, imported", [("hdl/params.py", "memres.pygen.cli"),
                                                ("sw_model/config.py", "memres.hdl.params"),
                                                ("sw_model/device.py", "memres.sw_model.workflow")])
def test_a_wrong_import_breaks_a_contract(tmp_path, importer, imported):
    root = _tree_copy(tmp_path)
    path = root / "memres" / importer
    path.write_text(path.read_text() + f"\nimport {imported}  # deliberately wrong\n")
    r = _lint(root, root / "pyproject.toml")
    assert r.returncode != 0 and "BROKEN" in r.stdout, r.stdout + r.stderr


def _imports(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node, a.name, None
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for a in node.names:
                yield node, node.module, a.name


def test_the_packages_are_imported_under_the_memres_namespace():
    bare = re.compile(rf"^({'|'.join(PACKAGES)})(\.|$)")
    offenders = [f"{p.relative_to(REPO)}:{n.lineno} {mod}" for tree in (SOURCES, sorted((REPO / "tests").rglob("*.py")),
                                                                         sorted((REPO / "benchmarks").rglob("*.py")))
                 for p in tree for n, mod, _ in _imports(p) if bare.match(mod)]
    assert not offenders, "import these as memres.<package>: " + ", ".join(offenders)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _module_aliases(path: Path) -> set[str]:
    """Names a file binds to memres modules (``import memres.x as y``, ``from memres.sw_model import workflow``)."""
    out = set()
    for node, mod, name in _imports(path):
        if not mod.startswith("memres."):
            continue
        if name is None:
            out.add(next(a.asname for a in node.names if a.name == mod) or mod.split(".")[0])
        elif (REPO / Path(*mod.split(".")[1:]) / f"{name}.py").is_file() or \
                (REPO / Path(*mod.split(".")[1:]) / name / "__init__.py").is_file():
            out.add(next(a.asname or a.name for a in node.names if a.name == name))
    return out


def test_no_module_uses_another_modules_private_names():
    offenders = [f"{p.relative_to(REPO)}:{n.lineno} {mod}.{name}" for p in SOURCES for n, mod, name in _imports(p)
                 if mod.startswith("memres.") and name and _private(name)]
    for p in SOURCES:
        aliases = _module_aliases(p)
        for node in ast.walk(ast.parse(p.read_text(), str(p))):
            if isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name) \
                    and node.value.id in aliases:
                offenders.append(f"{p.relative_to(REPO)}:{node.lineno} {node.value.id}.{node.attr}")
    assert not offenders, "private names used across modules: " + ", ".join(offenders)


def test_every_package_folder_is_installed():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"memres." + ".".join(p.parent.relative_to(REPO).parts) for pkg in PACKAGES
             for p in (REPO / pkg).rglob("__init__.py")}
    assert found == listed, f"pyproject.toml [tool.setuptools] packages: missing {sorted(found - listed)}, " \
                            f"stale {sorted(listed - found)}"



def test_simulations_run_installed_modules_only():
    """The simulator's PYTHONPATH gets no folder of ours: a ``testbenches/coverage.py`` once replaced the
    ``coverage`` module numba imports inside every simulation (and every check failed)."""
    for path in (REPO / "pygen" / "verify.py", REPO / "pygen" / "simboard.py"):
        calls = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)
                 and getattr(n.func, "id", None) == "run_cocotb"]
        assert calls, path
        for call in calls:
            test_dir = call.args[3] if len(call.args) > 3 else next(k.value for k in call.keywords if k.arg == "test_dir")
            assert isinstance(test_dir, ast.Constant) and test_dir.value is None, f"{path.name}: test_dir must be None"


def test_no_refused_object_is_silenced_by_hand():
    """Nothing sets Amaranth's private silencing attribute: components refuse bad arguments before they
    exist (``hdl/checked.py``), and tests that drop elaboratables on purpose elaborate them or say so in
    the file comment Amaranth reads (``# amaranth: UnusedElaboratable=no``)."""
    needle = "_Must" + "Use"          # spelt in two halves so that this file does not match itself
    files = [p for p in REPO.rglob("*") if p.suffix in (".py", ".md", ".toml") and p.is_file()
             and not any(part.startswith(".") or part in ("__pycache__", "memres.egg-info")
                         for part in p.relative_to(REPO).parts)]
    assert len(files) > 50
    offenders = [f"{p.relative_to(REPO)}:{n}" for p in files
                 for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if needle in line]
    assert not offenders, f"{needle} in " + ", ".join(offenders)
