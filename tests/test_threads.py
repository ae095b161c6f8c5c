"""One switch for numba's and BLAS's thread counts."""
import subprocess
import sys

import pytest

import minigraphrec as mgr
from minigraphrec import DataError


def test_context_sets_and_restores_both_pools():
    import numba
    before = mgr.get_threads()
    with mgr.threads(1):
        inside = mgr.get_threads()
        assert inside["numba"] == 1
        assert inside["blas"] and set(inside["blas"].values()) == {1}
    after = mgr.get_threads()
    assert after["blas"] == before["blas"]
    assert after["numba"] == (before["numba"] if before["numba"] is not None
                              else numba.config.NUMBA_NUM_THREADS)


@pytest.mark.parametrize("bad", [0, -2, 1.5, "two", None])
def test_bad_counts_are_refused(bad):
    with pytest.raises(DataError, match="number of threads"):
        mgr.set_threads(bad)


def test_cli_threads_flag_and_env(tmp_path):
    code = ("import minigraphrec as mgr, sys; from minigraphrec.cli import main;"
            "main(['--threads', '1', 'demo', '--models', 'popularity']);"
            "t = mgr.get_threads(); print(t['numba'], sorted(set(t['blas'].values())))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout.strip().splitlines()[-1]
    assert out == "1 [1]"
    proc = subprocess.run([sys.executable, "-m", "minigraphrec.cli", "demo", "--models",
                           "popularity"], capture_output=True, text=True, cwd=tmp_path,
                          env={"MINIGRAPHREC_THREADS": "zero", "PATH": ""})
    assert proc.returncode != 0 and "MINIGRAPHREC_THREADS" in proc.stderr
