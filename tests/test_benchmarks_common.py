"""Result files name their command without a machine's own paths."""
import os
import sys
from pathlib import Path

import pytest

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


def test_every_output_folder_flag_becomes_OUT(tmp_path):
    """``--checkpoints`` is written into as ``--out`` is (was: recorded as DATA/...)."""
    ck = tmp_path / "shared" / "data" / "long_pilots"
    ck.mkdir(parents=True)
    for argv in (["python", "b.py", "--checkpoints", str(ck)],
                 ["python", "b.py", f"--checkpoints={ck}"]):
        assert _common.portable_command(argv).endswith("OUT/long_pilots")


def test_results_json_is_strict_json_with_null_for_nan(tmp_path):
    """A NaN (not measured, not compared) is written as null: Python's ``NaN`` is not JSON."""
    import json
    rows = [{"name": "a", "diff": float("nan"), "t": 1.5}, {"name": "b", "diff": 0.0, "t": 2.0}]
    json_path, md_path = _common.write_results("strict", rows, ["name", "diff", "t"],
                                               out_dir=tmp_path, extra={"inf": float("inf")})
    text = json_path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    record = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert [r["diff"] for r in record["rows"]] == [None, 0.0] and record["inf"] is None


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


# ------------------------------------------------------------------ result files, atomically
def _old_results(folder, name="acc_smoke"):
    """Results written before: ``{file name: bytes}`` of ``<name>.json`` and ``.md``."""
    rows = [{"dataset": "d", "model": f"m{i}", "recall@20": i / 100} for i in range(200)]
    _common.write_results(name, rows, ["dataset", "model", "recall@20"], out_dir=folder)
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _open_failing_at(monkeypatch, nth, exc):
    """Make the ``nth`` file opened for writing (0 first) write half of what it is given, then
    raise ``exc``: ``Path.write_text`` and ``os.fdopen`` both open by ``io.open``."""
    import io
    real_open, opened = io.open, [0]

    class Half:
        def __init__(self, f):
            self._f = f

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            self._f.close()

        def write(self, data):
            self._f.write(data[:len(data) // 2])
            self._f.flush()
            raise exc

    def fake_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if "w" not in mode:
            return f
        opened[0] += 1
        return Half(f) if opened[0] - 1 == nth else f
    monkeypatch.setattr(io, "open", fake_open)


def _make_exc(kind):
    import errno
    return KeyboardInterrupt() if kind == "ctrl-c" else OSError(errno.ENOSPC, "No space left")


def test_a_failed_write_leaves_the_old_results_and_no_temporary_file(tmp_path, monkeypatch):
    """Ctrl-C or a full disk while the JSON or the Markdown is written: both files stay as
    they were, byte for byte, and no temporary file is left beside them."""
    import pytest
    for kind in ("ctrl-c", "disk full"):
        for nth in (0, 1):                                      # the JSON's write, the .md's
            folder = tmp_path / f"{kind}-{nth}"
            folder.mkdir()
            before = _old_results(folder)
            with monkeypatch.context() as m:
                _open_failing_at(m, nth, _make_exc(kind))
                with pytest.raises((KeyboardInterrupt, OSError)):
                    _common.write_results("acc_smoke", [{"model": "new"}], ["model"],
                                          out_dir=folder)
            after = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
            assert after == before, f"{kind} at file {nth}: {sorted(after)}"


def test_a_table_that_cannot_be_built_leaves_both_files(tmp_path, monkeypatch):
    """The Markdown fails to build (a row that is not a dict, say) after the JSON could be
    written: neither file changes (the pair is never half new)."""
    import pytest
    before = _old_results(tmp_path)

    def broken(rows, columns):
        raise AttributeError("'list' object has no attribute 'get'")
    monkeypatch.setattr(_common, "markdown_table", broken)
    with pytest.raises(AttributeError):
        _common.write_results("acc_smoke", [{"model": "new"}], ["model"], out_dir=tmp_path)
    assert {p.name: p.read_bytes() for p in sorted(tmp_path.iterdir())} == before


def test_a_full_disk_leaves_the_old_results(tmp_path):
    """A real "disk full" (a file size limit, EFBIG) partway through the JSON, in a child: the
    old files stay whole, nothing else is left, and the error names the results file."""
    import subprocess
    import textwrap
    import pytest
    if sys.platform == "win32":
        pytest.skip("RLIMIT_FSIZE is POSIX")
    out = tmp_path / "out"
    out.mkdir()
    before = _old_results(out)
    child = tmp_path / "child.py"
    child.write_text(textwrap.dedent("""
        import resource, signal, sys
        sys.path.insert(0, sys.argv[1])
        import _common
        _common.provenance()                  # imports done before the limit
        rows = [{"model": f"new{i}", "x": 0.5} for i in range(2000)]
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
        try:
            _common.write_results("acc_smoke", rows, ["model", "x"], out_dir=sys.argv[2])
        except OSError as err:
            print("OSError", err)
    """))
    proc = subprocess.run([sys.executable, str(child), str(ROOT / "benchmarks"), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.startswith("OSError"), proc.stdout + proc.stderr
    assert {p.name: p.read_bytes() for p in sorted(out.iterdir())} == before
    assert str(out / "acc_smoke.json") in proc.stdout               # the target, not a temp


def test_a_failed_rename_says_which_file_was_written(tmp_path, monkeypatch, capsys):
    """The second rename fails: the first file is new, the second old, no temporary file is
    left, and stderr says which is which."""
    import errno
    import pytest
    from conftest import fail_replace_at
    before = _old_results(tmp_path)
    fail_replace_at(monkeypatch, 2, OSError(errno.EIO, "I/O error"))
    with pytest.raises(OSError):
        _common.write_results("acc_smoke", [{"model": "new"}], ["model"], out_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acc_smoke.json", "acc_smoke.md"]
    assert (tmp_path / "acc_smoke.md").read_bytes() == before["acc_smoke.md"]
    assert '"new"' in (tmp_path / "acc_smoke.json").read_text()
    err = capsys.readouterr().err
    assert f"wrote {tmp_path / 'acc_smoke.json'}, but not {tmp_path / 'acc_smoke.md'}" in err


def test_result_files_get_the_mode_open_gives(tmp_path):
    """A new results file (and a checkpoint's curve.json) has the mode a plain ``open`` gives
    it under the umask, not a temporary file's 0600; a file rewritten keeps its mode."""
    import stat
    import bench_lightgcn_long
    old_umask = os.umask(0o027)
    try:
        with open(tmp_path / "by_open", "w"):
            pass
        json_path, md_path = _common.write_results("m_smoke", [{"a": 1}], ["a"],
                                                   out_dir=tmp_path)
        bench_lightgcn_long._write_json(tmp_path / "curve.json", {"rows": []})
        want = stat.S_IMODE((tmp_path / "by_open").stat().st_mode)
        assert want == 0o640
        for path in (json_path, md_path, tmp_path / "curve.json"):
            assert stat.S_IMODE(path.stat().st_mode) == want, path.name
        json_path.chmod(0o604)
        _common.write_results("m_smoke", [{"a": 2}], ["a"], out_dir=tmp_path)
        assert stat.S_IMODE(json_path.stat().st_mode) == 0o604
    finally:
        os.umask(old_umask)


def test_extras_go_after_the_rows_and_sections_after_the_table(tmp_path):
    """``after_rows``, ``md_rows`` and ``md_after``: what the scripts used to add by rewriting
    the JSON and appending to the Markdown, in the same places."""
    import json
    json_path, md_path = _common.write_results(
        "e_smoke", [{"a": None}], ["a"], out_dir=tmp_path, extra={"run": 1},
        after_rows={"curves": [1, 2]}, md_rows=[{"a": ""}], md_after="\nmore\n")
    record = json.loads(json_path.read_text())
    assert list(record)[-3:] == ["run", "rows", "curves"] and record["rows"] == [{"a": None}]
    assert md_path.read_text().endswith("| a |\n|---|\n|  |\n\nmore\n")


# ------------------------------------------------------------------ bench_lightgcn_long
def _tiny_run():
    from minigraphrec.datasets import synthetic
    from minigraphrec.split import random_split
    data = synthetic(n_users=60, n_items=80, mean_interactions=8, random_state=0)
    train, test = random_split(data, test_size=0.2, random_state=0)
    config = {"dim": 8, "n_layers": 1, "reg": 1e-4, "loss": "bpr", "init": "xavier",
              "dtype": "float32", "random_state": 0, "lr": 0.01, "batch_size": 64}
    return train, test, config


def test_a_long_run_interrupted_at_its_start_can_be_resumed(tmp_path, monkeypatch):
    """Ctrl-C during the first evaluation, or a stop between the first files: rerunning the
    same command resumes (or restarts) the run, and its curve ends as one straight run's."""
    import json
    import pytest
    import bench_lightgcn_long as L
    train, test, config = _tiny_run()
    straight = L.train_run(train, test, config, tmp_path / "straight", 2, 1, 1, log=str)

    def stopped(*args):
        raise KeyboardInterrupt
    run = tmp_path / "run"
    with monkeypatch.context() as m:                  # Ctrl-C in the epoch-0 evaluation
        m.setattr(L, "_evaluate", stopped)
        with pytest.raises(KeyboardInterrupt):
            L.train_run(train, test, config, run, 2, 1, 1, log=str)
    curve = L.train_run(train, test, config, run, 2, 1, 1, log=str)
    assert [r["epoch"] for r in curve["rows"]] == [0, 1, 2]
    assert [r["recall@20"] for r in curve["rows"]] == [r["recall@20"] for r in straight["rows"]]
    assert json.loads((run / "curve.json").read_text())["rows"] == curve["rows"]

    # model.npz at epoch 0 without curve.json (what an older version left): started afresh
    older = tmp_path / "older"
    with monkeypatch.context() as m:
        m.setattr(L, "_evaluate", stopped)
        with pytest.raises(KeyboardInterrupt):
            L.train_run(train, test, config, older, 1, 1, 1, log=str)
    (older / "curve.json").unlink()
    said = []
    curve = L.train_run(train, test, config, older, 1, 1, 1, log=said.append)
    assert [r["epoch"] for r in curve["rows"]] == [0, 1] and "afresh" in said[0]

    # curve.json without model.npz (stopped between the two): started afresh
    from minigraphrec.models import LightGCN
    fresh = tmp_path / "fresh"
    with monkeypatch.context() as m:
        m.setattr(LightGCN, "save", stopped)
        with pytest.raises(KeyboardInterrupt):
            L.train_run(train, test, config, fresh, 1, 1, 1, log=str)
    assert sorted(p.name for p in fresh.iterdir()) == ["curve.json"]
    assert L._runs(tmp_path) == ["older", "run", "straight"]           # no evaluation yet
    said = []
    curve = L.train_run(train, test, config, fresh, 1, 1, 1, log=said.append)
    assert [r["epoch"] for r in curve["rows"]] == [0, 1] and "afresh" in said[0]
    (older / "model.npz").unlink()                     # evaluations are never overwritten
    with pytest.raises(SystemExit, match="holds evaluations"):
        L.train_run(train, test, config, older, 1, 1, 1, log=str)


def test_a_branch_interrupted_while_copying_leaves_nothing(tmp_path, monkeypatch):
    """Ctrl-C partway through the copy of the model: no model.npz, no temporary file, no
    curve.json, no new folder; the same branch then succeeds and trains on."""
    import shutil
    import pytest
    import bench_lightgcn_long as L
    train, test, config = _tiny_run()
    L.train_run(train, test, config, tmp_path / "src", 1, 1, 1, log=str)
    branched = {**config, "lr_schedule": [[1, 0.02]]}

    def half_copy(src, dst, *args, **kwargs):
        with open(src, "rb") if isinstance(src, (str, os.PathLike)) else src as f_in:
            data = f_in.read()[:100]
        if isinstance(dst, (str, os.PathLike)):
            Path(dst).write_bytes(data)
        else:
            dst.write(data)
        raise KeyboardInterrupt
    with monkeypatch.context() as m:
        m.setattr(shutil, "copyfile", half_copy)
        m.setattr(shutil, "copyfileobj", half_copy)
        with pytest.raises(KeyboardInterrupt):
            L.branch(tmp_path / "src", tmp_path / "br", branched)
    assert not (tmp_path / "br").exists() or not any((tmp_path / "br").iterdir())
    assert L.branch(tmp_path / "src", tmp_path / "br", branched) == 1
    curve = L.train_run(train, test, branched, tmp_path / "br", 2, 1, 1, log=str)
    assert [r["epoch"] for r in curve["rows"]] == [0, 1, 2]
    assert curve["branched_from"]["run"] == "src"
    assert not [p.name for p in (tmp_path / "br").iterdir()
                if p.name not in ("model.npz", "curve.json")]

    # a branch stopped (killed) between its curve.json and its model.npz: branched again
    (tmp_path / "br" / "model.npz").unlink()
    with pytest.raises(SystemExit, match="--branch-from src"):
        L.train_run(train, test, branched, tmp_path / "br", 2, 1, 1, log=str)
    assert L.branch(tmp_path / "src", tmp_path / "br", branched) == 1


def test_spmm_cold_removes_its_numba_cache(tmp_path):
    """``bench_spmm.py --cold`` compiles into a fresh numba cache folder, removed at the end."""
    import subprocess
    from conftest import child_env
    env = child_env()
    env["TMPDIR"] = str(tmp_path)                        # where mkdtemp puts the cache
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_spmm.py"), "--smoke",
                           "--cold", "--out", str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_accuracy_rewrites_keep_the_dated_corrections_and_name_every_rows_command(tmp_path):
    """A re-run replaces its rows; the notes written by hand (``corrections``) survive it,
    and the notes name the command of every row, old and new."""
    import json
    import bench_accuracy as A

    def row(model, command, recall):
        return {"dataset": "ml-100k", "model": model, "recall@20": recall, "ndcg@20": 0.1,
                "fit_s": 1.0, "eval_s": 0.1, "command": command, "published_recall@20": None}
    A.write_merged([row("MF", "cmd one", 0.2), row("EASE", "cmd one", 0.3)], tmp_path)
    path = tmp_path / "accuracy.json"
    record = json.loads(path.read_text())
    record["corrections"] = ["(Corrected on 2026-12-06: the MF row's settings.)"]
    path.write_text(json.dumps(record))
    A.write_merged([row("MF", "cmd two", 0.25)], tmp_path)
    record = json.loads(path.read_text())
    assert record["corrections"] == ["(Corrected on 2026-12-06: the MF row's settings.)"]
    assert record["notes"].endswith(" (Corrected on 2026-12-06: the MF row's settings.)")
    assert "`cmd one`; `cmd two`" in record["notes"] or "`cmd two`; `cmd one`" in record["notes"]
    assert [r["recall@20"] for r in record["rows"] if r["model"] == "MF"] == [0.25]
    assert "(Corrected on 2026-12-06" in (tmp_path / "accuracy.md").read_text()
    A.write_merged([row("MF", "cmd three", 0.3)], tmp_path, fresh=True)
    assert "corrections" not in json.loads(path.read_text())
    assert (tmp_path / "accuracy_recall.png").exists()
    assert "MINIGRAPHREC_FIGURES" not in os.environ          # drawn there, the variable restored


def test_figure_footer_names_the_machine_threads_and_date_of_the_record():
    record = {"date": "2026-12-07T18:00:00+00:00", "command": "python x.py --threads 2",
              "machine": {"cpu": "AMD EPYC", "usable_cpus": 2,
                          "measured_threads": {"numba": 1, "blas": {"a.so": 1, "b.so": 1}}}}
    assert _common.figure_footer(record) == ("machine: AMD EPYC, 2 CPUs; threads: numba 1, "
                                             "BLAS 1; 2026-12-07")
    del record["machine"]["measured_threads"]                  # then the command's flag
    assert "threads: --threads 2;" in _common.figure_footer(record)
    assert _common.figure_footer({}) == ("machine: CPU not recorded; threads: not recorded; "
                                         "date not recorded")


def test_figure_footer_keeps_every_thread_count_of_the_command():
    record = {"command": "python bench_spmm.py --threads 1 2", "machine": {"cpu": "X"}}
    assert "threads: --threads 1 2;" in _common.figure_footer(record)


class _Clock:
    """A fake ``time.perf_counter`` that each candidate advances by its own duration, so a
    time recorded under the wrong name would show."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_interleaved_times_rotates_the_order_and_keeps_times_by_candidate(monkeypatch):
    clock, calls = _Clock(), []
    monkeypatch.setattr(_common.time, "perf_counter", clock)

    def candidate(name, seconds):
        def run():
            calls.append(name)
            clock.now += seconds
        return run
    candidates = {"ref": candidate("ref", 1.0), "a": candidate("a", 2.0),
                  "b": candidate("b", 4.0)}
    timed = _common.interleaved_times(candidates, repeat=4)
    rounds = [calls[i:i + 3] for i in range(0, len(calls), 3)]
    assert rounds == [["ref", "a", "b"], ["a", "b", "ref"], ["b", "ref", "a"],
                      ["ref", "a", "b"]]                         # not "ref" first every round
    assert list(timed) == ["ref", "a", "b"]                      # keyed as given
    assert timed["ref"] == (1.0, [1.0] * 4)
    assert timed["a"] == (2.0, [2.0] * 4)
    assert timed["b"] == (4.0, [4.0] * 4)


def test_interleaved_times_keeps_each_round_at_its_index(monkeypatch):
    """``times[name][r]`` is round ``r``'s, so per-round ratios pair the same round even
    though the candidates' places in it move."""
    clock = _Clock()
    monkeypatch.setattr(_common.time, "perf_counter", clock)
    state = {"round": 0, "calls": 0}

    def candidate():
        clock.now += 1.0 + state["round"]                       # round r takes r + 1 s
        state["calls"] += 1
        if state["calls"] % 2 == 0:
            state["round"] += 1
    timed = _common.interleaved_times({"x": candidate, "y": candidate}, repeat=3)
    assert timed["x"][1] == timed["y"][1] == [1.0, 2.0, 3.0]


def test_round_order_rotates_by_the_round():
    names = ("lightgcn", "gcn", "ngcf", "gat")
    assert _common.round_order(names, 0) == list(names)
    assert _common.round_order(names, 1) == ["gcn", "ngcf", "gat", "lightgcn"]
    assert _common.round_order(names, 6) == ["ngcf", "gat", "lightgcn", "gcn"]
    firsts = {_common.round_order(names, r)[0] for r in range(len(names))}
    assert firsts == set(names)                                 # each first once in 4 rounds
    assert _common.round_order({"a": 1, "b": 2}, 1) == ["b", "a"]   # a dict's keys
    assert _common.round_order([], 3) == []


def test_git_state_records_the_repositorys_commit_and_uncommitted_changes():
    import shutil
    import subprocess
    import pytest
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True)
    if head.returncode != 0:
        pytest.skip("the tests do not run inside a git work tree")
    status = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                             "--untracked-files=no"], capture_output=True, text=True)
    state = _common.git_state()
    assert state["commit"] == head.stdout.strip()
    assert state["dirty"] is bool(status.stdout.strip())
    assert _common.git_text(state).startswith(f"commit {head.stdout.strip()[:12]}, ")


def test_git_state_is_not_recorded_outside_a_repository_or_without_git(tmp_path, monkeypatch):
    unknown = {"commit": "not recorded", "dirty": "not recorded"}
    assert _common.git_state(tmp_path) == unknown                # not a repository

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")
    monkeypatch.setattr(_common.subprocess, "run", no_git)
    assert _common.git_state() == unknown
    assert _common.git_text(unknown) == "not recorded"


def test_git_text_says_whether_tracked_files_had_changes():
    commit = "0123456789abcdef" * 2 + "01234567"
    assert _common.git_text({"commit": commit, "dirty": False}) == \
        "commit 0123456789ab, no uncommitted changes to tracked files"
    assert _common.git_text({"commit": commit, "dirty": True}) == \
        "commit 0123456789ab, uncommitted changes to tracked files"


def test_write_results_records_the_git_state(tmp_path, monkeypatch):
    import json
    commit = "f" * 40
    monkeypatch.setattr(_common, "git_state", lambda repo=_common.REPO: {"commit": commit,
                                                                          "dirty": True})
    json_path, md_path = _common.write_results("g_smoke", [{"a": 1}], ["a"], out_dir=tmp_path)
    assert json.loads(json_path.read_text())["git"] == {"commit": commit, "dirty": True}
    assert (f"- git: commit {commit[:12]}, uncommitted changes to tracked files "
            "(when written)") in md_path.read_text().splitlines()
    monkeypatch.setattr(_common, "git_state", lambda repo=_common.REPO: {
        "commit": "not recorded", "dirty": "not recorded"})
    _, md_path = _common.write_results("h_smoke", [{"a": 1}], ["a"], out_dir=tmp_path)
    assert "- git: not recorded (when written)" in md_path.read_text().splitlines()


def test_load_text_gives_both_readings():
    assert _common.load_text([0.8, 1.09, 1.47], [1.94, 1.62, 1.5]) == (
        "load average (1, 5, 15 min) at the start 0.80, 1.09, 1.47; at the end 1.94, 1.62, "
        "1.50")
    assert _common.load_text(None, [1.0, 1.0, 1.0]).startswith(
        "load average (1, 5, 15 min) at the start not recorded; ")
    reading = _common.load_average()
    assert reading is None or (len(reading) == 3 and all(x >= 0 for x in reading))


def test_lightgcn_epoch_sides_take_turns_batch_by_batch(monkeypatch):
    """bench_lightgcn_epoch's default timing: every batch is stepped by each side in turn,
    the order rotated from batch to batch, and each side's times kept in batch order."""
    import bench_lightgcn_epoch as bench
    clock, calls = _Clock(), []
    monkeypatch.setattr(bench.time, "perf_counter", clock)

    def side(name, seconds):
        def step(users, pos, neg):
            calls.append((name, int(users[0])))
            clock.now += seconds * (1 + int(users[0]))
        return step
    batches = [([b], None, None) for b in range(3)]
    times = bench.timed_interleaved({"ours": side("ours", 1.0), "pyg": side("pyg", 5.0)},
                                    batches, shift=1)
    assert calls == [("pyg", 0), ("ours", 0), ("ours", 1), ("pyg", 1), ("pyg", 2), ("ours", 2)]
    assert times == {"ours": [1.0, 2.0, 3.0], "pyg": [5.0, 10.0, 15.0]}


class _RankModel:
    """A fitted-model stand-in for bench_realtime.ranks_of: fixed scores over 6 items and the
    training matrix ``R_`` it was fitted on."""

    def __init__(self, scores, R):
        import numpy as np
        self.scores, self.R_ = np.asarray(scores, dtype=float), R

    def score(self, users):
        return self.scores[users]


def test_forgotten_items_are_ranked_among_the_same_items_before_and_after_a_forget():
    """User 0 trained on items 0-3 and forgets 0 and 1. Before the forget the model's own
    ``R_`` still holds both; ranked against it, item 1 (which scores above item 0) would be
    hidden from item 0's ranking before and compete with it after. Against the remaining
    history (items 2 and 3), item 1 competes in both states: item 0 ranks 2nd before and
    after, and a kept item (2) ranks among the same items too."""
    import numpy as np
    import scipy.sparse as sp
    import bench_realtime as bench
    R = sp.csr_matrix((np.ones(4), ([0, 0, 0, 0], [0, 1, 2, 3])), shape=(1, 6))
    forget = np.array([[0, 0], [0, 1]])
    history = bench.remaining_history(R, forget)
    assert history[0].indices.tolist() == [2, 3]
    scores = [[0.5, 0.9, 0.8, 0.7, 0.1, 0.2]]
    before = _RankModel(scores, R)                             # R_ still holds items 0 and 1
    after = _RankModel(scores, history)                        # what a forget leaves in R_
    users, items = np.array([0, 0]), np.array([0, 2])
    for model in (before, after):
        assert bench.ranks_of(model, users, items, history).tolist() == [2.0, 2.0]
    # the model's own R_ (the earlier exclusion) ranked item 0 first before the forget
    own = before.scores[0].copy()
    own[[1, 2, 3]] = -np.inf
    assert 1 + np.sum(own > own[0]) == 1


def test_unlearning_ranks_every_state_against_one_fixed_history(monkeypatch):
    """bench_realtime.unlearning passes the same remaining history to every ranking (before,
    fine_tune, retrain; forgotten and control pairs), and it is what the forget leaves."""
    import argparse
    import bench_realtime as bench
    seen = []
    original = bench.ranks_of

    def recording(model, users, items, *rest):
        seen.append((model.R_.copy(), rest))
        return original(model, users, items, *rest)
    monkeypatch.setattr(bench, "ranks_of", recording)
    args = argparse.Namespace(smoke=True, data=None, tail=0.1, forget_users=3, forget_items=2,
                              update_epochs=1, dim=8, lr=0.01, batch_size=256, epochs=1,
                              mf_epochs=1, layers=1)
    events, _ = bench.load_events(args)
    rows = bench.unlearning(events, "MF", args)
    assert [r["what"] for r in rows] == ["before", "fine_tune", "retrain"]
    assert len(seen) == 6 and all(len(rest) == 1 for _, rest in seen)
    history = seen[0][1][0]
    assert all(rest[0] is history for _, rest in seen)
    assert (seen[-1][0] != history).nnz == 0           # the retrained model's R_
    assert (seen[0][0] != history).nnz > 0             # the model before still had them


def test_use_threads_sets_numba_blas_and_torch_and_restores_them():
    """One thread setting for every benchmark: numba's and every BLAS's count inside the
    block (and torch's where it is loaded), the counts yielded, the earlier ones after."""
    import sys as _sys
    import numba
    from minigraphrec.threadpools import get_threads
    before = get_threads()
    with _common.use_threads(1) as counts:
        assert counts["numba"] == 1 and numba.get_num_threads() == 1
        assert all(n == 1 for n in counts["blas"].values())
        assert all(n == 1 for n in get_threads()["blas"].values())
        if "torch" in _sys.modules:
            assert counts["torch"] == 1
    assert get_threads() == before
    with _common.use_threads(None, blas=1) as counts:      # BLAS alone: numba as it was
        assert counts["numba"] == before["numba"]
        assert all(n == 1 for n in counts["blas"].values())
    with _common.use_threads(1, blas=None) as counts:      # numba alone: BLAS as it was
        assert counts["numba"] == 1 and counts["blas"] == before["blas"]
    assert get_threads() == before
    assert _common.threads_text({"numba": 1, "blas": {"a.so": 1}, "torch": 1}) == \
        "numba 1, BLAS 1 (a.so), torch 1"


def test_pyg_train_epoch_steps_the_sampled_triples_in_order_and_stops_when_told():
    """PyGLightGCN.train_epoch, shared by both accuracy benchmarks, is the loop they had:
    the same triples (sample_bpr with the caller's generator), the same batches, the same
    parameters after; ``stop`` ends the epoch after a batch but never after the last."""
    pytest.importorskip("torch_geometric")
    import numpy as np
    from minigraphrec.datasets import synthetic
    from minigraphrec.ops import sample_bpr
    from pyg_reference import PyGLightGCN
    R = synthetic(n_users=30, n_items=40, mean_interactions=6, random_state=0).to_csr()
    a = PyGLightGCN(R, 8, 2, 1e-2, 1e-4, adjacency="csr", seed=0)
    b = PyGLightGCN(R, 8, 2, 1e-2, 1e-4, adjacency="csr", seed=0)
    loss, ran, total = a.train_epoch(R, np.random.default_rng(3), 32)
    users, pos, neg = sample_bpr(R, random_state=np.random.default_rng(3))
    losses = [b.step(users[s:s + 32], pos[s:s + 32], neg[s:s + 32])
              for s in range(0, users.shape[0], 32)]
    assert ran == total == len(losses) and loss == sum(losses) / len(losses)
    assert np.array_equal(a.final_embeddings(), b.final_embeddings())
    calls = []
    _, ran, total = a.train_epoch(R, np.random.default_rng(4), 32,
                                  stop=lambda: calls.append(1) or len(calls) == 2)
    assert (ran, len(calls)) == (2, 2) and total > 2
    _, ran, total = a.train_epoch(R, np.random.default_rng(5), 32, stop=lambda: True)
    assert ran == 1


def test_quantize_labels_the_float_bar_by_the_dtype_it_scores_in():
    """LightGCN's float model keeps float32 parameters and scores in float64: its bar says so
    (in records that predate ``score_dtype`` as in those that keep it); GF-CF's float32 model
    scores in float32."""
    import bench_quantize as bench
    old_lightgcn = {"model": "lightgcn", "dtype": "float32", "memory_ratio": 1.0}
    assert bench.bar_label(old_lightgcn) == "float32 params,\nfloat64 scoring"
    assert bench.bar_label({"model": "gfcf", "dtype": "float32", "memory_ratio": 1.0}) == \
        "float32"
    assert bench.bar_label({"model": "lightgcn", "dtype": "int8", "memory_ratio": 3.7}) == "int8"
    assert bench.bar_label({"model": "lightgcn", "dtype": "float16", "memory_ratio": 1.9,
                            "score_dtype": "float32"}) == "float16 params,\nfloat32 scoring"
    assert bench.bar_label({"model": "lightgcn", "dtype": "float32 U Vᵀ only (no model)"}) \
        == "float32 U Vᵀ\n(no model)"


def test_sequential_says_when_the_timed_batches_are_part_of_an_epoch():
    import bench_sequential as bench
    assert bench.batches_text({"n_batches": 200, "epoch_batches": 982}) == \
        "200 batches (about 20 % of an epoch of 982)"
    assert bench.batches_text({"n_batches": 982, "epoch_batches": 982}) == \
        "982 batches (one epoch)"
    assert bench.batches_text({"n_batches": 200}) == "200 batches"


def test_membership_speed_leaves_the_backend_check_blank_on_the_score_rows():
    """rank_backends_identical compares the numba and NumPy rank signals: it belongs to the
    rank rows, not to the score attack's."""
    import bench_membership_speed as bench
    import minigraphrec as mgr
    from minigraphrec.split import random_split
    data = mgr.datasets.synthetic(n_users=40, n_items=50, mean_interactions=6, random_state=0)
    train, test = random_split(data, test_size=0.2, random_state=0)
    rows = bench.attack_rows("Popularity", mgr.Popularity().fit(train), train, test, 1)
    by = {r["attack"]: r["rank_backends_identical"] for r in rows}
    assert by == {"rank, numba": True, "rank, numpy": True, "score": None}


def test_svd_memory_draws_its_figure_with_the_machine_footer(tmp_path, monkeypatch):
    """The figure drawn after each row gets the record, so its footer names the machine and
    threads, as a --plot-only redraw of the same file does."""
    import argparse
    import bench_svd_memory as bench
    drawn = {}
    monkeypatch.setattr(bench, "_plot", lambda rows, out, name, record=None:
                        drawn.update(record=record))
    bench._write([{"graph": "g", "solver": "arpack"}],
                 argparse.Namespace(name="svd_memory_smoke", out=tmp_path, threads=1))
    assert drawn["record"]["machine"]["cpu"] and drawn["record"]["rows"][0]["graph"] == "g"


def test_membership_names_the_fine_tune_epochs_of_both_models():
    import bench_membership as bench
    import minigraphrec as mgr
    assert bench.fine_tune_epochs_text(mgr) == f"{mgr.MF.update_epochs} epochs"


def test_redraw_options_are_named_plot_only_with_the_old_names_kept(tmp_path):
    """--plot-only everywhere; --replot (bench_explain, bench_scaling) and --redraw
    (bench_gfcf_gowalla) still work, unlisted."""
    import subprocess
    from conftest import child_env
    for script, old in (("bench_explain.py", "--replot"), ("bench_gfcf_gowalla.py", "--redraw")):
        path = str(ROOT / "benchmarks" / script)
        helptext = subprocess.run([sys.executable, path, "--help"], capture_output=True,
                                  text=True, env=child_env()).stdout
        assert "--plot-only" in helptext and old not in helptext
        for flag in ("--plot-only", old):
            proc = subprocess.run([sys.executable, path, flag, "--out", str(tmp_path)],
                                  capture_output=True, text=True, env=child_env())
            assert proc.returncode != 0 and "Traceback" not in proc.stderr
            assert "unrecognized" not in proc.stderr


def test_sparsify_runs_on_one_thread_unless_told_through_use_threads(tmp_path, monkeypatch):
    """Like the other scripts, bench_sparsify sets its threads by ``_common.use_threads``,
    1 by default whatever the environment says (it took all CPUs), and records them."""
    import json

    import bench_sparsify as bench
    asked = []
    real = bench.use_threads

    def spy(n, *args, **kwargs):
        asked.append(n)
        return real(n, *args, **kwargs)
    monkeypatch.setattr(bench, "use_threads", spy)
    for extra, expected in (((), 1), (("--threads", "2"), 2)):
        monkeypatch.setattr(sys, "argv", ["bench_sparsify.py", "--smoke", "--no-accuracy",
                                          "--no-lightgcn", "--out", str(tmp_path), *extra])
        bench.main()
        assert asked[-1] == expected
    record = json.loads((tmp_path / "sparsify_smoke_timing.json").read_text())
    assert record["machine"]["measured_threads"]["numba"] is not None
    assert "2 thread(s) (mgr.threads)" in record["notes"]       # what --plot-only reads back


def test_gnn_epoch_loads_adams_kernels_before_the_timed_batches():
    """An untimed Adam step per model on copies of its parameters: the first timed batch of
    the epoch no longer pays Adam's first call, and the models are left as they were."""
    import bench_gnn_batch as bench
    import numpy as np

    import minigraphrec as mgr
    import minigraphrec.kernels.adam as kadam
    train = mgr.datasets.synthetic(n_users=40, n_items=50, mean_interactions=6, random_state=0)
    models = {name: bench.make_model(name, train, 0) for name in ("lightgcn", "gcn")}
    batch = bench.epoch_batches(train.to_csr(), 0)[0]
    before = {name: {k: v.copy() for k, v in m.params.items()} for name, m in models.items()}
    bench.warm_up_adam(models, batch)
    for name, m in models.items():
        assert all(np.array_equal(m.params[k], before[name][k]) for k in m.params)
    assert kadam.adam_update_serial.signatures                 # compiled or loaded


def test_catalogue_session_models_warm_up_before_the_timed_fit(monkeypatch):
    """A session model's timed fit follows an untimed fit and evaluation on a tiny session
    catalogue, as the other models' do, before the peak memory is restarted."""
    import bench_catalogues as bench
    calls = []
    real_peak = bench._start_peak_here
    monkeypatch.setattr(bench, "warm_up_sessions", lambda name: calls.append(("warm", name)))
    monkeypatch.setattr(bench, "_start_peak_here", lambda: calls.append(("peak",)) or
                        real_peak())
    row = bench.measure_sessions("SessionPopularity", bench.WARM_UP_SESSIONS_SPEC)
    assert calls == [("warm", "SessionPopularity"), ("peak",)] and row["status"] == "ok"
    monkeypatch.undo()
    bench.warm_up_sessions("MarkovChain")                       # runs as it is


def test_scaling_times_the_steps_fit_runs_after_one_untimed_step():
    """``time_steps``: one untimed step, then the first ``max_batches`` batches timed, each a
    loss-and-gradient and an Adam step on the triples in draw order, as ``fit`` runs them."""
    import bench_scaling as bench
    import numpy as np

    import minigraphrec as mgr
    from minigraphrec.batch import PairBatch
    from minigraphrec.ops import sample_bpr
    train = mgr.datasets.synthetic(n_users=40, n_items=50, mean_interactions=6, random_state=0)
    models = [mgr.LightGCN(dim=8, batch_size=64, random_state=0).fit(train, epochs=0)
              for _ in range(2)]
    opts = [mgr.Adam(lr=0.01, backend="numba") for _ in models]
    triples = sample_bpr(models[0].R_, random_state=np.random.default_rng(0))
    first, times, n_batches = bench.time_steps(models[0], opts[0], triples, 64, 2)
    assert n_batches == -(-triples[0].shape[0] // 64) and len(times) == 2 and first > 0
    users, pos, neg = triples
    for s in (0, 0, 64):                                       # untimed, then batches 0 and 1
        _, grads = models[1]._loss_and_grad(PairBatch(users[s:s + 64], pos[s:s + 64],
                                                      neg[s:s + 64]), reuse=True)
        opts[1].step(models[1].params, grads)
    assert all(np.array_equal(models[0].params[k], models[1].params[k])
               for k in models[0].params)


def test_spmm_redraws_its_figure_from_the_json_with_the_machine_footer(tmp_path, monkeypatch):
    """``--plot-only`` redraws spmm.png from spmm.json (the ``--data`` graph named as the
    command names it) without running anything; a missing file stops with one line."""
    import json
    import shutil

    import bench_spmm as bench
    proc, _ = _run_script("bench_spmm.py", "--plot-only", "--out", tmp_path)
    _assert_one_line_error(proc, "bench_spmm.py", "--plot-only reads", "spmm.json")
    shutil.copy(ROOT / "benchmarks" / "results" / "spmm.json", tmp_path / "spmm.json")
    drawn = {}
    monkeypatch.setattr(bench, "plot_speedups", lambda rows, name, out, data=None,
                        record=None: drawn.update(name=name, data=data, record=record))
    monkeypatch.setattr(sys, "argv", ["bench_spmm.py", "--plot-only", "--out", str(tmp_path)])
    bench.main()
    assert drawn["name"] == "spmm" and drawn["data"] == "DATA/gowalla"
    assert drawn["record"] == json.loads((tmp_path / "spmm.json").read_text())


def test_refuse_disagreement_names_every_row_whose_sides_differ():
    """A run whose fast side computed something else ends with an error naming the rows
    (after writing them); rows that agree, or that make no claim, pass."""
    rows = [{"kernel": "spmm", "threads": 1, "identical": True},
            {"kernel": "top_k", "threads": 2, "identical": False},
            {"kernel": "GAT layer fwd+bwd", "dtype": "float32", "within_tolerance": False},
            {"kernel": "stream"}]
    with pytest.raises(SystemExit, match=r"^2 row\(s\) of k.json disagree with their "
                       r"reference: kernel top_k, threads 2; kernel GAT layer fwd\+bwd, "
                       r"dtype float32$"):
        _common.refuse_disagreement(rows, "k.json")
    assert _common.refuse_disagreement(rows[:1] + rows[3:], "k.json") is None


def test_read_record_and_recorded_option(tmp_path, capsys):
    """--plot-only's record is read from ``<out>/<name>.json``, a missing one stops with one
    line naming it; an option's value is read back from the record's command."""
    import json
    record = {"command": "python benchmarks/bench_spmm.py --data DATA/gowalla --threads=2"}
    (tmp_path / "spmm.json").write_text(json.dumps(record))
    assert _common.read_record(tmp_path, "spmm") == record
    assert _common.recorded_option(record, "--data") == "DATA/gowalla"
    assert _common.recorded_option(record, "--threads") == "2"
    assert _common.recorded_option(record, "--seed") is None
    assert _common.recorded_option({}, "--data") is None
    with pytest.raises(SystemExit):
        _common.read_record(tmp_path, "kernels")
    assert "kernels.json, which does not exist" in capsys.readouterr().err
