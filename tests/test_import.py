"""`import minigraphrec` stays light: numba compiles on first use, not at import."""
import subprocess
import sys
from pathlib import Path

import pytest

import minigraphrec
from conftest import child_env


def _modules_after_import():
    code = "import sys, minigraphrec; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         env=child_env())
    return set(out.stdout.split())


def test_import_does_not_load_heavy_modules():
    loaded = _modules_after_import()
    for heavy in ("numba", "matplotlib", "scipy.stats", "torch"):
        assert heavy not in loaded, f"import minigraphrec imports {heavy}"


def test_import_itself_loads_nothing_of_ours():
    """Names load on first use (``__getattr__``): the command can guard every import."""
    loaded = _modules_after_import()
    assert "numpy" not in loaded
    assert {m for m in loaded if m.startswith("minigraphrec.")} == set()


def test_every_exported_name_and_submodule_resolves():
    import importlib
    code = ("import minigraphrec as mgr; names = mgr.__all__ + sorted(mgr._SUBMODULES); "
            "[getattr(mgr, n) for n in names]; print(len(names))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, env=child_env())
    assert int(out.stdout) > 40
    for module, names in minigraphrec._HOMES.items():
        home = importlib.import_module(f"minigraphrec.{module}")
        for name in names:
            assert getattr(minigraphrec, name) is getattr(home, name), name
    root = Path(minigraphrec.__file__).parent          # every module and package, by file
    files = {p.stem for p in root.glob("*.py")} | {p.parent.name for p in root.glob("*/__init__.py")}
    assert minigraphrec._SUBMODULES == files - {"__init__", "__main__"}
    assert set(minigraphrec.__all__) <= set(dir(minigraphrec))
    with pytest.raises(AttributeError, match="has no attribute 'LightGNN'"):
        minigraphrec.LightGNN
    from minigraphrec import LightGCN, evaluate       # noqa: F401  (from-imports load too)


def test_every_module_imports_and_evaluates_without_docstrings():
    """``python -OO`` strips docstrings (``__doc__`` is None). Was: metrics appended to six
    docstrings at import and failed there, so ``mgr.evaluate`` and the command line did."""
    code = ("import importlib, pkgutil, minigraphrec as mgr; "
            "[importlib.import_module(m.name) for m in "
            "pkgutil.walk_packages(mgr.__path__, 'minigraphrec.')]; "
            "from minigraphrec.split import random_split; "
            "a, b = random_split(mgr.datasets.synthetic(n_users=30, n_items=40, random_state=0),"
            " 0.2, random_state=0); "
            "print(mgr.evaluate(mgr.Popularity().fit(a), b, k=5)['n_users'] > 0)")
    run = subprocess.run([sys.executable, "-OO", "-c", code], capture_output=True, text=True,
                         env=child_env())
    assert run.returncode == 0 and run.stdout.strip() == "True", run.stderr[-2000:]


def test_every_submodule_with_an_api_page_is_in_all():
    """``__all__`` names each submodule the API reference documents (docs/conf.py's
    ``mgr_api_modules``: mgr.train, mgr.privacy, ...) but io, and no name it lists is
    missing."""
    import ast

    conf = Path(minigraphrec.__file__).parent.parent / "docs" / "conf.py"
    if not conf.exists():
        pytest.skip("no docs/ beside the package (an installed copy)")
    tree = ast.parse(conf.read_text(encoding="utf-8"))
    documented = next(ast.literal_eval(node.value) for node in ast.walk(tree)
                      if isinstance(node, ast.Assign)
                      and any(getattr(t, "id", None) == "mgr_api_modules" for t in node.targets))
    pages = {name.split(".")[1] for name in documented if name.count(".") == 1}
    assert {"train", "privacy", "quantization", "explain", "io", "threadpools"} <= pages
    listed = {name for name in minigraphrec.__all__ if name in minigraphrec._SUBMODULES}
    # io is left out on purpose: a star import would hide Python's own io module
    assert listed == pages - {"io"}, (sorted(pages - listed), sorted(listed - pages))
    assert minigraphrec.io.save is minigraphrec.save
    assert len(set(minigraphrec.__all__)) == len(minigraphrec.__all__)   # none twice


def test_top_level_contract():
    import minigraphrec as mgr

    for name in ("DataError", "Interactions", "PairBatch", "PointBatch", "evaluate",
                 "Popularity", "MF", "LightGCN", "GCN", "NGCF"):
        assert hasattr(mgr, name), name
    assert issubclass(mgr.DataError, ValueError)
    for name in ("load_lightgcn", "load_triples", "load_movielens_100k", "load_recbole",
                 "synthetic", "article_toy", "fetch_movielens_100k"):
        assert callable(getattr(mgr.datasets, name)), name
    for name in ("spmm", "sample_bpr", "sample_negatives"):
        assert callable(getattr(mgr.ops, name)), name


def _import_graph():
    """module -> the minigraphrec modules it imports anywhere in its code (functions too)."""
    import ast
    from pathlib import Path

    import minigraphrec

    root = Path(minigraphrec.__file__).parent
    names = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        names[path] = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    modules = set(names.values())

    def known(name):                        # "a.b.c" (c a function) -> "a.b"
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for path, module in names.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                dep = known(target)
                # a package's own parents are imported by Python anyway; the top-level
                # package re-exports everything, so edges into it say nothing
                if dep and dep != module and not module.startswith(dep + ".") \
                        and dep != "minigraphrec":
                    deps.add(dep)
        graph[module] = deps
    return graph


def test_no_import_circle():
    """Dependencies flow one way: no module reaches itself through its imports."""
    graph = _import_graph()
    assert "minigraphrec.models.base" in graph["minigraphrec.models.knn"]     # the graph is real
    state = {}                                     # 1 = on the current path, 2 = done

    def visit(module, path):
        state[module] = 1
        for dep in sorted(graph.get(module, ())):
            if state.get(dep) == 1:
                circle = path[path.index(dep):] + [dep]
                raise AssertionError("import circle: " + " -> ".join(circle))
            if dep not in state:
                visit(dep, path + [dep])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_child_processes_import_the_package_under_test(tmp_path):
    """Scripts the tests start (benchmarks, the CLI) run this checkout's code, not an installed
    copy of it, and so share its numba cache (``conftest.child_env``)."""
    code = "import minigraphrec; print(minigraphrec.__file__)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=tmp_path, env=child_env()).stdout.strip()
    assert Path(out).resolve() == Path(minigraphrec.__file__).resolve()
