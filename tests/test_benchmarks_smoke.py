"""Every benchmark script still runs, at its smallest size (``--smoke``), and writes its results.

Every ``benchmarks/bench_*.py`` is run. Each script must
accept ``--smoke`` and ``--out DIR`` (``benchmarks/_common.benchmark_parser``
provides both) and write at least one ``<name>.json`` with provenance and
non-empty ``rows`` there, every file it writes named with ``smoke`` (never a real result's
name), and a script that draws must write its PNGs there too. Scripts run in a subprocess, as a user runs them, on the
package under test (:func:`conftest.child_env`).
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import child_env

ROOT = Path(__file__).resolve().parents[1]

BENCHMARKS = sorted(p.name for p in (ROOT / "benchmarks").glob("bench_*.py"))


@pytest.mark.parametrize("script", BENCHMARKS)
def test_benchmark_smoke(script, tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks" / script), "--smoke", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=child_env())
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    written = sorted(tmp_path.glob("*.json"))
    assert written, f"{script} wrote no JSON into {tmp_path}"
    # a smoke result is never named like a real one (results/*smoke* is git-ignored)
    unmarked = [p.name for p in tmp_path.iterdir() if "smoke" not in p.name]
    assert not unmarked, f"{script} --smoke wrote files without 'smoke' in their names: {unmarked}"
    for path in written:
        result = json.loads(path.read_text())
        for key in ("date", "command", "machine", "versions", "rows"):
            assert key in result, f"{path.name} lacks {key!r}"
        assert script in result["command"]
        assert str(ROOT) not in result["command"] and str(tmp_path) not in result["command"]
        assert result["rows"], f"{path.name} has no result rows"
        assert path.with_suffix(".md").exists()
    # a script that draws (its source calls save_figure) draws in the smoke run too
    if "save_figure(" in (ROOT / "benchmarks" / script).read_text():
        pngs = sorted(tmp_path.glob("*.png"))
        assert pngs, f"{script} draws figures but wrote no PNG into {tmp_path}"
        for png in pngs:
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{png.name} is not a PNG"


def test_gfcf_solvers_figure_is_redrawn_from_every_result_file(tmp_path):
    """``--plot-only`` joins one row per solver file, each labelled with its date and CPU."""
    script = [sys.executable, str(ROOT / "benchmarks" / "bench_gfcf_gowalla.py"), "--plot-only",
              "--out", str(tmp_path)]
    proc = subprocess.run(script, cwd=ROOT, capture_output=True, text=True, env=child_env())
    assert proc.returncode != 0 and "no gfcf_gowalla*.json in" in proc.stderr
    for suffix, solver, cpu in (("", "propack", "AMD EPYC"),
                                ("_chebyshev", "chebyshev", "Intel(R) Xeon(R) Processor")):
        row = {"data": "gowalla", "recall@20": 0.1849, "ndcg@20": 0.1518,
               "paper_recall@20": 0.1849, "paper_ndcg@20": 0.1518, "n_users": 3, "n_items": 4,
               "n_test": 5, "load_s": 1.0, "fit_s": 2.0, "evaluate_s": 3.0, "total_s": 6.0,
               "slowest_total_s": 6.0, "total_s_all_runs": [6.0],
               "params": f"GFCF(alpha=0.3, n_factors=256, svd_solver='{solver}')"}
        (tmp_path / f"gfcf_gowalla{suffix}.json").write_text(json.dumps(
            {"date": "2026-12-07T00:00:00+00:00", "machine": {"cpu": cpu}, "rows": [row]}))
    proc = subprocess.run(script, cwd=ROOT, capture_output=True, text=True, env=child_env())
    assert proc.returncode == 0, proc.stderr
    png = tmp_path / "gfcf_gowalla_solvers.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
