"""Figures: where they go, headless drawing, atomic writes, bad names."""
import subprocess
import sys

import pytest

from minigraphrec import DataError, plot
from conftest import child_env


def test_save_figure_writes_png_under_env_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(plot.FIGURES_ENV, str(tmp_path / "out"))
    fig, ax = plot.subplots()
    ax.plot([0, 1], [1, 0])
    ax.set_xlabel("x")
    path = plot.save_figure(fig, "line")
    assert path == tmp_path / "out" / "line.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["line.png"]     # no temporary left


def test_default_folder_is_figures_under_cwd(tmp_path, monkeypatch):
    monkeypatch.delenv(plot.FIGURES_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert plot.figure_dir().resolve() == (tmp_path / "figures").resolve()


@pytest.mark.parametrize("name", ["", "a/b", "../up", "sp ace"])
def test_bad_names_are_refused(name, tmp_path, monkeypatch):
    monkeypatch.setenv(plot.FIGURES_ENV, str(tmp_path))
    fig, _ = plot.subplots()
    with pytest.raises(DataError, match="figure name"):
        plot.save_figure(fig, name)


def test_folder_that_is_a_file_is_refused(tmp_path, monkeypatch):
    (tmp_path / "f").write_text("")
    monkeypatch.setenv(plot.FIGURES_ENV, str(tmp_path / "f"))
    with pytest.raises(DataError, match="not a folder"):
        plot.figure_dir()


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(plot.FIGURES_ENV, str(tmp_path))
    fig, ax = plot.subplots()
    ax.set_title("$\\notacommand{$")                   # mathtext fails at draw time
    with pytest.raises(ValueError):
        plot.save_figure(fig, "broken")
    assert list(tmp_path.iterdir()) == []


def test_headless_run_selects_agg(tmp_path):
    code = ("import os; os.environ.pop('DISPLAY', None); os.environ.pop('WAYLAND_DISPLAY', None);"
            "os.environ.pop('MPLBACKEND', None);"
            "from minigraphrec import plot; plot.subplots();"
            "import matplotlib; print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, check=True, env=child_env()).stdout
    assert out.strip().lower() == "agg"
