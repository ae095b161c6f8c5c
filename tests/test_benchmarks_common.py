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


def test_smoke_without_out_writes_into_a_fresh_temporary_folder(capsys):
    """Without ``--out``, ``--smoke`` never writes into ``benchmarks/results``; a real run does."""
    import tempfile
    parser = _common.benchmark_parser("x")
    args = parser.parse_args(["--smoke"])
    out = Path(args.out)
    try:
        assert out.is_dir() and not any(out.iterdir())
        assert out != _common.RESULTS_DIR and Path(tempfile.gettempdir()) in out.parents
        assert str(out) in capsys.readouterr().out                  # it says where
        again = Path(parser.parse_args(["--smoke"]).out)
        assert again != out                                         # fresh each time
    finally:
        import shutil
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(again, ignore_errors=True)
    assert parser.parse_args([]).out == _common.RESULTS_DIR
    assert parser.parse_args(["--smoke", "--out", "x"]).out == Path("x")


def test_a_smoke_run_leaves_the_results_folder_alone():
    """``bench_spmm.py --smoke`` (2 s) without ``--out``: nothing new or changed in results/."""
    import re
    import shutil
    import subprocess
    from conftest import child_env
    results = ROOT / "benchmarks" / "results"
    before = {p.name: p.stat().st_mtime_ns for p in results.iterdir()}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_spmm.py"), "--smoke"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=child_env())
    assert proc.returncode == 0, proc.stderr
    out = Path(re.search(r"results go to (\S+)", proc.stdout).group(1))
    try:
        assert sorted(p.name for p in out.glob("*.json")) == ["spmm_smoke.json"]
    finally:
        shutil.rmtree(out, ignore_errors=True)
    assert {p.name: p.stat().st_mtime_ns for p in results.iterdir()} == before


def test_smoke_results_are_git_ignored():
    import shutil
    import subprocess
    import pytest
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for name in ("spmm_smoke.json", "lightgcn_long_smoke_smoke.md", "eval_smoke.png"):
        proc = subprocess.run(["git", "check-ignore", "-q", f"benchmarks/results/{name}"],
                              cwd=ROOT)
        assert proc.returncode == 0, f"benchmarks/results/{name} is not git-ignored"


def test_repeat_shows_its_real_default_or_is_not_offered():
    parser = _common.benchmark_parser("x")
    parser.set_defaults(repeat=15)
    assert "(default 15)" in " ".join(parser.format_help().split())
    assert parser.parse_args([]).repeat == 15
    bare = _common.benchmark_parser("x", repeat=False)
    assert "--repeat" not in bare.format_help()
    assert not hasattr(bare.parse_args([]), "repeat")


def test_every_script_that_takes_repeat_uses_it():
    """A script offers ``--repeat`` only if it reads ``args.repeat``."""
    offered_unused = []
    for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        source = path.read_text()
        offers = "benchmark_parser(" in source and "repeat=False" not in source
        if offers and "args.repeat" not in source:
            offered_unused.append(path.name)
    assert not offered_unused, f"--repeat offered but ignored: {offered_unused}"


def test_the_command_records_the_thread_environment(monkeypatch):
    env = {"OPENBLAS_THREAD_TIMEOUT": "4", "OMP_NUM_THREADS": "1", "HOME": "/root",
           "MINIGRAPHREC_THREADS": "2", "MINIGRAPHREC_FIGURES": "/tmp/f", "OMP_WAIT_POLICY": "x"}
    monkeypatch.setattr(_common, "_START_ENV", _common._thread_env(env))
    cmd = _common.recorded_command(["python", "b.py", "--repeat", "3"])
    assert cmd == ("MINIGRAPHREC_THREADS=2 OMP_NUM_THREADS=1 OPENBLAS_THREAD_TIMEOUT=4 "
                   "python b.py --repeat 3")
    assert _common.provenance()["environment"]["OPENBLAS_THREAD_TIMEOUT"] == "4"
    threads = _common.machine_info()["threads"]
    assert threads is None or set(threads) == {"numba", "blas"}


def _one_error_line(capsys, stop, prog="bench_x.py"):
    """The single stderr line of a :func:`_common.script_error` stop (status 2, argparse's
    ``<prog>: error: ...``)."""
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith(f"{prog}: error: "), err
    return err


def test_require_data_stops_with_one_line(capsys, monkeypatch):
    import argparse
    import pytest
    monkeypatch.setattr(sys, "argv", ["/somewhere/bench_x.py"])
    with pytest.raises(SystemExit) as stop:
        _common.require_data(argparse.Namespace(data=None, smoke=False), "the ml-100k folder")
    assert "--data DIR" in _one_error_line(capsys, stop)
    _common.require_data(argparse.Namespace(data=None, smoke=True), "x")    # smoke: no data


def test_bad_data_folders_stop_with_one_line_naming_the_file(tmp_path, capsys, monkeypatch):
    """A missing folder, a file, or a folder that lacks a file the script reads: one line,
    status 2, naming the option, the path, what is missing and the layout expected."""
    import argparse
    import pytest
    monkeypatch.setattr(sys, "argv", ["/somewhere/bench_x.py"])
    half = tmp_path / "half"
    half.mkdir()
    (half / "train.txt").write_text("0 1\n")
    what = "a LightGCN-format folder"
    cases = [(tmp_path / "nope", ["no such folder", "train.txt, test.txt"]),
             (half / "train.txt", ["is a file, not a folder", "train.txt, test.txt"]),
             (half, ["has no test.txt", "holding train.txt, test.txt"]),
             (tmp_path, ["has no train.txt, test.txt"])]
    for folder, expected in cases:
        args = argparse.Namespace(data=folder, smoke=False)
        with pytest.raises(SystemExit) as stop:
            _common.require_data(args, what, files=_common.LIGHTGCN_FILES)
        err = _one_error_line(capsys, stop)
        assert f"--data {folder}" in err and what in err, err
        for part in expected:
            assert part in err, err
    # an option of another name, and files in sub-folders
    with pytest.raises(SystemExit) as stop:
        _common.check_data(tmp_path, ["ml-100k/u.data"], "the parent folder", option="--gowalla")
    assert "--gowalla" in _one_error_line(capsys, stop)
    # nothing to say: a complete folder, a smoke run (its own data), no files asked for
    (half / "test.txt").write_text("0 2\n")
    _common.require_data(argparse.Namespace(data=half, smoke=False), what,
                         files=_common.LIGHTGCN_FILES)
    _common.require_data(argparse.Namespace(data=tmp_path / "nope", smoke=True), what,
                         files=_common.LIGHTGCN_FILES)
    _common.require_data(argparse.Namespace(data=tmp_path / "nope", smoke=False), what)
    assert capsys.readouterr().err == ""


def test_a_bad_output_folder_stops_at_parsing(tmp_path, capsys):
    import pytest
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    parser = _common.benchmark_parser("x")
    parser.prog = "bench_x.py"
    for out, expected in ((a_file, "is a file, not a folder"),
                          (a_file / "sub", f"cannot be made: {a_file} is a file")):
        with pytest.raises(SystemExit) as stop:
            parser.parse_args(["--out", str(out)])
        assert expected in _one_error_line(capsys, stop)
    assert parser.parse_args(["--out", str(tmp_path / "new" / "deeper")]).out.name == "deeper"
    assert not (tmp_path / "new").exists()                     # checked, not made


def _run_script(name, *args, timeout=30):
    import subprocess
    import time
    from conftest import child_env
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=child_env())
    return proc, time.perf_counter() - t0


def _assert_one_line_error(proc, script, *parts):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{script}: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


def test_catalogues_checks_data_once_before_any_worker(tmp_path):
    """Audit finding 3: ``--skip-synthetic`` with a folder lacking ``test.txt`` crashed each of
    the 7 model workers; without it, the whole synthetic catalogue ran first."""
    half = tmp_path / "half"
    half.mkdir()
    (half / "train.txt").write_text("0 1 2\n1 2\n")
    out = tmp_path / "out"
    for extra in (["--skip-synthetic"], []):
        proc, seconds = _run_script("bench_catalogues.py", "--data", half, "--out", out, *extra)
        _assert_one_line_error(proc, "bench_catalogues.py", f"--data {half}", "has no test.txt")
        assert "crashed" not in proc.stdout and proc.stdout == "", proc.stdout  # no worker ran
        assert seconds < 20, f"took {seconds:.1f} s: work before the check"
    assert not out.exists()


def test_realtime_checks_both_data_folders_before_any_work(tmp_path):
    """Audit finding 3: a ``--gowalla`` without train.txt was found after the whole ML-100K
    part (minutes)."""
    ml = tmp_path / "ml-100k"
    ml.mkdir()
    for name in ("u.data", "u.user"):
        (ml / name).write_text("")
    out = tmp_path / "out"
    proc, seconds = _run_script("bench_realtime.py", "--data", ml, "--out", out)
    _assert_one_line_error(proc, "bench_realtime.py", f"--data {ml}", "has no u.item",
                           "MovieLens-100K")
    (ml / "u.item").write_text("")
    proc, seconds = _run_script("bench_realtime.py", "--data", ml, "--gowalla", ml,
                                "--out", out)
    _assert_one_line_error(proc, "bench_realtime.py", f"--gowalla {ml}", "has no train.txt")
    assert seconds < 20 and proc.stdout == ""
    assert not out.exists()


def test_every_script_rejects_a_missing_data_folder_at_once(tmp_path):
    """Each script that reads ``--data`` says so in one line, status 2, before any work."""
    import pytest
    missing = tmp_path / "no_such_folder"
    failed = []
    for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        if path.name == "bench_scaling.py":                  # --data accepted, never read
            continue
        proc, seconds = _run_script(path.name, "--data", missing, "--out", tmp_path / "out")
        try:
            _assert_one_line_error(proc, path.name, f"--data {missing}", "no such folder")
            assert seconds < 20, f"{seconds:.1f} s"
        except (AssertionError, pytest.fail.Exception) as e:
            failed.append(f"{path.name}: {e}")
    assert not failed, "\n".join(failed)
    assert not (tmp_path / "out").exists()


def test_help_says_what_smoke_and_repeat_do():
    """Audit finding 4: bench_gfcf_gowalla keeps the fastest run, not the median; a script
    without --repeat claims no runs in --smoke's help."""
    import subprocess
    from conftest import child_env

    def help_text(name):
        out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), "--help"],
                             cwd=ROOT, capture_output=True, text=True, timeout=60,
                             env=child_env()).stdout
        return " ".join(out.split())

    gfcf = help_text("bench_gfcf_gowalla.py")
    assert "the fastest run is reported" in gfcf and "median" not in gfcf
    assert "2 runs" not in help_text("bench_accuracy.py")
    assert "max_svd_memory_mb" in help_text("bench_scaling.py")
    assert "median" in _common.REPEAT_HELP and "runs" not in _common.SMOKE_HELP


def test_write_results_records_the_measured_threads_and_extra_versions(tmp_path):
    import json
    threads = {"numba": 1, "blas": {"openblas": 1}}
    json_path, md_path = _common.write_results(
        "x_smoke", [{"a": 1}], ["a"], out_dir=tmp_path, threads=threads,
        extra_versions=("pandas", "no-such-distribution"))
    record = json.loads(json_path.read_text())
    assert record["machine"]["measured_threads"] == threads
    assert "threads" in record["machine"]                     # those when written, too
    assert set(record["versions"]) >= {"numpy", "pandas", "no-such-distribution"}
    assert record["versions"]["no-such-distribution"] is None
    md = md_path.read_text()
    assert "- threads of the measurement: numba 1, BLAS 1 (openblas)" in md
    assert "pandas" in md
    _, md_path = _common.write_results("y_smoke", [{"a": 1}], ["a"], out_dir=tmp_path,
                                       threads="2 thread(s) in each worker process")
    assert "- threads of the measurement: 2 thread(s) in each worker process" in \
        md_path.read_text()


def test_scripts_assume_no_data_folder():
    """No script defaults ``--data`` to a folder of this machine (a clone has none)."""
    found = [p.name for p in sorted((ROOT / "benchmarks").glob("bench_*.py"))
             if "shared/data" in p.read_text() or '"shared" / "data"' in p.read_text()]
    assert not found, f"scripts naming ../shared/data: {found}"


def test_markdown_cells_escape_the_pipe():
    table = _common.markdown_table([{"a": "max |dp| 0", "b": 1.0}], ["a", "b"])
    assert table.splitlines()[2] == "| max \\|dp\\| 0 | 1 |"


def test_committed_tables_have_as_many_cells_as_columns():
    """An unescaped ``|`` in a cell would split it (and shift the row) on GitHub and the site."""
    import re
    bad = []
    for path in sorted((ROOT / "benchmarks" / "results").glob("*.md")):
        width = None
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.startswith("|"):
                width = None
                continue
            cells = len(re.split(r"(?<!\\)\|", line.strip())) - 2
            if width is None:
                width = cells
            elif cells != width:
                bad.append(f"{path.name}:{n}: {cells} cells, header {width}")
    assert not bad, "\n".join(bad)
