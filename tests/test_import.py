"""`import minigraphrec` stays light: numba compiles on first use, not at import."""
import subprocess
import sys


def _modules_after_import():
    code = "import sys, minigraphrec; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return set(out.stdout.split())


def test_import_does_not_load_heavy_modules():
    loaded = _modules_after_import()
    for heavy in ("numba", "matplotlib", "scipy.stats", "torch"):
        assert heavy not in loaded, f"import minigraphrec imports {heavy}"


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
