"""Architecture figures of the tree: lines per folder, the largest modules, import cycles, hidden imports.

    python benchmarks/arch_metrics.py [--json]

Import cycles are strongly connected components of the module import graph (grimp, the library behind
import-linter), counting imports inside functions too. "Hidden imports" are import statements inside
functions or methods. The layer and acyclicity contracts themselves are checked by the test suite
(tests/test_architecture.py, contracts in pyproject.toml).
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("sw_model", "hdl", "testbenches", "pygen")
FOLDERS = PACKAGES + ("tests", "benchmarks", "docs")


def lines(path: Path) -> int:
    return sum(1 for _ in path.open(encoding="utf-8", errors="replace"))


def hidden_imports(path: Path) -> int:
    n = 0
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n += sum(isinstance(x, (ast.Import, ast.ImportFrom)) for x in ast.walk(node))
    return n


def cycles(graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    adj = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    for root in sorted(adj):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter[0]
                counter[0] += 1
                stack.append(v)
                on.add(v)
            recurse = False
            for j in range(i, len(adj[v])):
                w = adj[v][j]
                if w not in index:
                    work += [(v, j + 1), (w, 0)]
                    recurse = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if recurse:
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = ap.parse_args()
    sources = sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py"))
    per_folder = {f: sum(lines(p) for p in (REPO / f).rglob("*") if p.suffix in (".py", ".md")) for f in FOLDERS}
    largest = sorted(((lines(p), str(p.relative_to(REPO))) for p in sources), reverse=True)[:8]
    roots = [f"memres.{p}" for p in PACKAGES]
    graph = grimp.build_graph(*roots, include_external_packages=False)
    result = {"lines": per_folder, "largest_modules": [{"module": m, "lines": n} for n, m in largest],
              "import_cycles": cycles(graph), "hidden_imports": sum(hidden_imports(p) for p in sources),
              "modules": len(sources)}
    if args.json:
        print(json.dumps(result))
        return
    print("lines per folder: " + ", ".join(f"{k} {v}" for k, v in per_folder.items()))
    print("largest modules: " + ", ".join(f"{m} {n}" for n, m in largest))
    print(f"import cycles: {len(result['import_cycles'])} {result['import_cycles']}")
    print(f"imports inside functions: {result['hidden_imports']} in {len(sources)} modules")


if __name__ == "__main__":
    sys.exit(main())
