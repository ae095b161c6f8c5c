"""Result files name their command without a machine's own paths."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import _common


def test_paths_in_the_repository_become_relative():
    cmd = _common.portable_command(
        ["/somewhere/venv/bin/python3.11", str(ROOT / "benchmarks" / "bench_spmm.py"),
         "--out", str(ROOT / "benchmarks" / "results"), "--repeat", "3"])
    assert cmd == "python benchmarks/bench_spmm.py --out benchmarks/results --repeat 3"


def test_data_paths_become_DATA(tmp_path):
    gowalla = tmp_path / "shared" / "data" / "gowalla"
    gowalla.mkdir(parents=True)
    (gowalla / "train.txt").write_text("0 1\n")
    elsewhere = tmp_path / "mine"
    elsewhere.mkdir()
    assert _common.portable_path(str(gowalla)) == "DATA/gowalla"
    assert _common.portable_path(str(gowalla / "train.txt")) == "DATA/gowalla/train.txt"
    assert _common.portable_path(f"--data={gowalla}") == "--data=DATA/gowalla"
    assert _common.portable_path(str(elsewhere)) == "DATA/mine"
    assert _common.portable_path("gowalla", cwd=gowalla.parent) == "DATA/gowalla"


def test_an_output_folder_outside_the_repository_becomes_OUT(tmp_path):
    out = tmp_path / "shared" / "data" / "runs"
    out.mkdir(parents=True)
    for argv in (["python", "b.py", "--out", str(out)], ["python", "b.py", f"--out={out}"]):
        assert _common.portable_command(argv).endswith("OUT/runs")
    assert _common.portable_command(["python", "b.py", "--data", str(out)]) == \
        "python b.py --data DATA/runs"                     # the same folder read as data


def test_other_arguments_are_kept():
    for arg in ["--smoke", "3", "lightgcn", "no/such/path", "--models=mf"]:
        assert _common.portable_path(arg) == arg


def test_save_figure_writes_into_the_folder_and_restores_the_variable(tmp_path, monkeypatch):
    from minigraphrec import plot
    monkeypatch.setenv("MINIGRAPHREC_FIGURES", str(tmp_path / "elsewhere"))
    fig, ax = plot.subplots()
    ax.plot([0, 1], [1, 0])
    path = _common.save_figure(fig, "tiny", tmp_path / "out")
    assert path == tmp_path / "out" / "tiny.png" and path.stat().st_size > 0
    assert not (tmp_path / "elsewhere").exists()
    assert os.environ["MINIGRAPHREC_FIGURES"] == str(tmp_path / "elsewhere")
    monkeypatch.delenv("MINIGRAPHREC_FIGURES")
    _common.save_figure(plot.subplots()[0], "tiny2", tmp_path / "out")
    assert "MINIGRAPHREC_FIGURES" not in os.environ


def test_committed_results_name_no_machine_paths():
    """Result files name data as DATA/..., outputs as OUT/... and the repository relatively."""
    import re
    machine_path = re.compile(r"(?<![\w.])/(?:tmp|home|root|work|Users|opt|mnt|var)/")
    found = []
    for path in sorted((ROOT / "benchmarks" / "results").glob("*")):
        if path.suffix in (".md", ".json"):
            for n, line in enumerate(path.read_text().splitlines(), start=1):
                if machine_path.search(line):
                    found.append(f"{path.name}:{n}: {machine_path.search(line).group()}")
    assert not found, "machine paths in results:\n" + "\n".join(found)


def test_every_benchmark_takes_data():
    """Issue 10 §7: each script keeps ``--data DIR`` (``--smoke`` is checked by running it)."""
    def takes_data(source):
        return '"--data"' in source or "add_lightgcn_data_option(" in source

    lacking = [p.name for p in sorted((ROOT / "benchmarks").glob("bench_*.py"))
               if not takes_data(p.read_text())]
    assert not lacking, f"benchmarks without --data: {lacking}"


def test_every_benchmark_has_a_row_in_the_benchmarks_readme():
    """Issue 10 §7: ``benchmarks/README.md`` lists each script with its question, headline,
    target and whether it is met (five cells)."""
    readme = (ROOT / "benchmarks" / "README.md").read_text().splitlines()
    for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        rows = [line for line in readme if line.startswith(f"| `{path.name}")]
        assert rows, f"benchmarks/README.md has no row for {path.name}"
        cells = rows[0].strip("|").split(" | ")
        assert len(cells) == 5 and all(c.strip() for c in cells), \
            f"{path.name}'s row needs five non-empty cells, has {len(cells)}"


def test_peak_memory_is_the_processs_own_and_restarts_from_now():
    """The peak the memory benchmarks report: ``VmHWM``, restarted by ``reset_peak``; run in
    a fresh child so that the test runner's own history does not count."""
    import subprocess
    import textwrap
    if not os.path.exists("/proc/self/clear_refs"):
        import pytest
        pytest.skip("VmHWM and clear_refs are Linux's")
    code = textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[1])
        import numpy as np
        import _common
        base = _common.status_bytes("VmRSS")
        x = np.ones(200 * 2**20 // 8); del x            # a 200 MiB peak, given back
        high = _common.peak_rss_bytes()
        assert _common.reset_peak()
        low = _common.peak_rss_bytes()
        print(base, high, low, _common.status_bytes("VmRSS"), _common.status_bytes("VmNope"))
    """)
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "benchmarks")],
                         capture_output=True, text=True, check=True).stdout.split()
    base, high, low, rss = map(int, out[:4])
    assert out[4] == "None"                              # no such field
    assert high - base > 190 * 2**20                     # the 200 MiB were seen
    assert low < base + 50 * 2**20                       # ... and forgotten by the reset
    assert abs(low - rss) < 20 * 2**20                   # the peak restarts at the resident size
