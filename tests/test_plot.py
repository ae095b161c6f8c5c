"""Figures: where they go, headless drawing, atomic writes, bad names."""
import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
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


def _headless_backend(tmp_path, before=""):
    """The backend a headless child process ends with after ``before`` and plot.subplots()."""
    code = ("import os; os.environ.pop('DISPLAY', None); os.environ.pop('WAYLAND_DISPLAY', None);"
            "os.environ.pop('MPLBACKEND', None); import matplotlib;" + before +
            "from minigraphrec import plot; plot.subplots(); print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, check=True, env=child_env()).stdout
    return out.strip().lower()


def test_headless_run_selects_agg(tmp_path):
    assert _headless_backend(tmp_path) == "agg"


# --------------------------------------------------------------------------- save_figure fixes

@pytest.fixture
def figs(tmp_path, monkeypatch):
    """A figure folder of its own, and every figure a test leaves open closed after it."""
    monkeypatch.setenv(plot.FIGURES_ENV, str(tmp_path / "figs"))
    yield tmp_path / "figs"
    plot._pyplot().close("all")


def _is_open(fig):
    return plot._pyplot().fignum_exists(fig.number)


def test_too_long_name_is_refused_up_front(figs):
    fig, _ = plot.subplots()
    with pytest.raises(DataError, match=r"too long: .* 305 bytes.* limited to 255"):
        plot.save_figure(fig, "a" * 301)
    assert not figs.exists() or list(figs.iterdir()) == []
    assert plot.save_figure(fig, "a" * 251).name == "a" * 251 + ".png"   # 255 bytes: fine


def test_figure_is_closed_when_save_and_cleanup_both_fail(figs, monkeypatch):
    """A failed savefig whose temporary cannot even be looked at (ENAMETOOLONG, as with a
    long name on the old temporary) still closes the figure, and raises savefig's error."""
    import errno
    import pathlib
    fig, _ = plot.subplots()

    def savefig(*args, **kwargs):
        raise OSError(errno.ENOSPC, "disk full")

    def refusing(method):
        def wrapper(self, *args, **kwargs):
            if self.name.startswith("."):                   # only the temporary file
                raise OSError(errno.ENAMETOOLONG, "File name too long", str(self))
            return method(self, *args, **kwargs)
        return wrapper

    for name in ("exists", "unlink"):
        monkeypatch.setattr(pathlib.Path, name, refusing(getattr(pathlib.Path, name)))
    monkeypatch.setattr(fig, "savefig", savefig)
    with pytest.raises(OSError, match="disk full"):
        plot.save_figure(fig, "full")
    assert not _is_open(fig)


def test_temporary_name_is_short(figs, monkeypatch):
    fig, _ = plot.subplots()
    seen = []
    real = fig.savefig
    monkeypatch.setattr(fig, "savefig", lambda path, **kw: (seen.append(path), real(path, **kw)))
    plot.save_figure(fig, "b" * 251)
    assert len(seen[0].name) < 40 and seen[0].parent == figs


def test_a_chosen_backend_is_kept_when_headless(tmp_path):
    assert _headless_backend(tmp_path, "matplotlib.use('svg');") == "svg"


def test_backend_chosen_reads_rcparams_without_resolving():
    """Both branches: matplotlib's own reader, and the fallback for a matplotlib without it."""
    import matplotlib
    from matplotlib import rcsetup

    class OldRcParams(dict):                       # no _get_backend_or_none
        pass

    assert plot._backend_chosen(OldRcParams(backend="pdf"))
    assert not plot._backend_chosen(OldRcParams(backend=rcsetup._auto_backend_sentinel))
    assert plot._backend_chosen(matplotlib.rcParams) == (
        matplotlib.rcParams._get_backend_or_none() is not None)
    assert plot._backend_chosen() == plot._backend_chosen(matplotlib.rcParams)


def test_backend_chosen_uses_the_public_reader_where_matplotlib_has_it(monkeypatch):
    """matplotlib >= 3.10's get_backend(auto_select=False); the private reader is not asked."""
    import matplotlib
    if "auto_select" not in inspect.signature(matplotlib.get_backend).parameters:
        pytest.skip(f"matplotlib {matplotlib.__version__} has no get_backend(auto_select=)")
    asked = []
    monkeypatch.setattr(type(matplotlib.rcParams), "_get_backend_or_none",
                        lambda self: asked.append(1), raising=False)
    for backend in ("svg", None):
        monkeypatch.setattr(matplotlib, "get_backend",
                            lambda auto_select=True, b=backend: b if not auto_select else "agg")
        assert plot._backend_chosen() == (backend is not None)
    assert asked == []


def test_figure_folder_expands_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv(plot.FIGURES_ENV, "~/figs")
    monkeypatch.chdir(tmp_path)
    assert plot.figure_dir() == tmp_path / "home" / "figs"
    assert not (tmp_path / "~").exists()


@pytest.mark.parametrize("name", ["d.pdf", "d.svg", "d.JPG", "plot.png.pdf"])
def test_other_formats_are_refused(name, figs):
    fig, _ = plot.subplots()
    with pytest.raises(DataError, match="PNG only"):
        plot.save_figure(fig, name)
    assert not figs.exists() or list(figs.iterdir()) == []


@pytest.mark.parametrize("name", [".", "..", ".png", "a.", ".hidden", "a b"])
def test_dot_names_are_refused_naming_the_folder_variable(name, figs):
    fig, _ = plot.subplots()
    with pytest.raises(DataError, match=r"figure name .*only PNG.*MINIGRAPHREC_FIGURES"
                                         r"|figure name .*MINIGRAPHREC_FIGURES.*only PNG"):
        plot.save_figure(fig, name)


@pytest.mark.parametrize("name, written", [(Path("curve"), "curve.png"),
                                           (Path("curve.png"), "curve.png"),
                                           ("lr0.001", "lr0.001.png"), ("A.PNG", "A.png")])
def test_accepted_names(name, written, figs):
    fig, _ = plot.subplots()
    assert plot.save_figure(fig, name) == figs / written


def test_path_with_a_folder_is_refused(figs):
    fig, _ = plot.subplots()
    with pytest.raises(DataError, match="figure name"):
        plot.save_figure(fig, Path("sub") / "curve")


@pytest.mark.parametrize("dpi, error", [(0, DataError), (-72, DataError),
                                        (float("nan"), DataError), ("high", TypeError),
                                        (True, TypeError)])
def test_dpi_must_be_a_positive_number(dpi, error, figs):
    fig, _ = plot.subplots()
    with pytest.raises(error, match="dpi"):
        plot.save_figure(fig, "x", dpi=dpi)
    assert _is_open(fig)                              # refused before anything happened


def test_close_false_keeps_the_figure_open(figs):
    fig, ax = plot.subplots()
    plot.save_figure(fig, "first", close=False)
    assert _is_open(fig)
    ax.set_title("more")                              # still usable
    plot.save_figure(fig, "second")
    assert not _is_open(fig)
    with pytest.raises(ValueError, match="close must be True or False"):
        plot.save_figure(plot.subplots()[0], "third", close="no")


def test_module_docstring_says_what_the_backend_rule_needs():
    doc = " ".join(plot.__doc__.split())
    assert "when both hold" in doc and "$MPLBACKEND" in doc and "no backend has been chosen" in doc


# --------------------------------------------------------------------------- plot_history

def _records(losses, **extra):
    """A history_ as train.py writes it: epoch, loss, time and any validation metric."""
    out = []
    for e, loss in enumerate(losses, start=1):
        record = {"epoch": e, "loss": loss, "time": 0.1}
        record.update({k: v[e - 1] for k, v in extra.items()})
        out.append(record)
    return out


class _Trained:
    """A stand-in for a fitted trainable model: only ``history_`` is read."""
    def __init__(self, history):
        self.history_ = history


def test_plot_history_one_line_per_label(figs):
    a = _records([0.7, 0.5, 0.4], **{"recall@20": [0.1, 0.2, 0.25]})
    b = _Trained(_records([0.69, 0.3], **{"recall@20": [0.15, 0.3]}))
    ax = plot.plot_history({"MF": a, "LightGCN": b}, metric="recall@20")
    (la, lb) = ax.get_lines()
    assert list(la.get_xdata()) == [1, 2, 3] and list(la.get_ydata()) == [0.1, 0.2, 0.25]
    assert list(lb.get_xdata()) == [1, 2] and list(lb.get_ydata()) == [0.15, 0.3]
    assert la.get_marker() not in (None, "None", "", " ")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "recall@20")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["MF", "LightGCN"]


def test_plot_history_of_a_fitted_model_into_a_given_ax(figs):
    import minigraphrec as mgr
    model = mgr.MF(dim=4, epochs=2, batch_size=16, random_state=0).fit(mgr.datasets.article_toy())
    fig, ax = plot.subplots()
    assert plot.plot_history(model, ax=ax) is ax
    (line,) = ax.get_lines()
    assert list(line.get_xdata()) == [1, 2]
    assert list(line.get_ydata()) == [r["loss"] for r in model.history_]
    assert ax.get_legend() is None and ax.get_ylabel() == "loss"


def test_one_epoch_is_a_visible_point(figs):
    ax = plot.plot_history(_records([0.69]))
    (line,) = ax.get_lines()
    assert line.get_marker() == "o" and line.get_markersize() >= 3
    lo, hi = ax.get_xlim()
    assert lo < 1 < hi and hi - lo >= 1                     # centred, not on an edge
    assert [t for t in ax.get_xticks() if lo <= t <= hi] == [0, 1, 2]   # whole epochs only


def test_plot_history_series_differ_beyond_colour(figs):
    """Each line has its own (colour, marker, line style): red against green alone is lost on a
    colour-blind reader, and colours alone repeat after 10 lines."""
    histories = {f"model {i}": _records([0.7 - 0.01 * i, 0.5]) for i in range(25)}
    lines = plot.plot_history(histories).get_lines()
    styles = [(line.get_color(), line.get_marker(), line.get_linestyle()) for line in lines]
    assert len(set(styles)) == 25
    for a, b in zip(styles, styles[1:]):           # neighbours differ in marker and style too
        assert a[1] != b[1] and a[2] != b[2]
    (single,) = plot.plot_history(_records([0.7, 0.5])).get_lines()
    assert (single.get_marker(), single.get_linestyle()) == ("o", "-")


def test_nan_and_missing_values_are_gaps(figs):
    history = _records([0.7, 0.6, 0.5, 0.4], **{"recall@20": [0.1, float("nan"), 0.3, 0.35]})
    del history[3]["recall@20"]
    (line,) = plot.plot_history(history, "recall@20").get_lines()
    y = line.get_ydata()
    assert y[0] == 0.1 and y[2] == 0.3 and np.isnan(y[1]) and np.isnan(y[3])


def test_history_errors_name_what_is_wrong(figs):
    import minigraphrec as mgr
    toy = mgr.datasets.article_toy()
    with pytest.raises(DataError, match=r"'recall@20' is not in the history of _Trained; "
                                        r"its records have: epoch, loss, time"):
        plot.plot_history(_Trained(_records([0.7])), "recall@20")
    with pytest.raises(DataError, match=r"'ndcg@20' is not in histories\['b'\]; its records "
                                        r"have: epoch, loss, time"):
        plot.plot_history({"a": _records([0.7], **{"ndcg@20": [0.1]}), "b": _records([0.7])},
                          "ndcg@20")
    with pytest.raises(DataError, match="empty .*epochs=0.*nothing to draw"):
        plot.plot_history(mgr.MF(dim=4, epochs=0).fit(toy))
    with pytest.raises(DataError, match="every value of 'loss'.* NaN"):
        plot.plot_history(_records([float("nan")]))
    with pytest.raises(DataError, match="record 0 has no 'epoch'"):
        plot.plot_history([{"loss": 0.7}])
    with pytest.raises(TypeError, match="ItemKNN has no history_"):
        plot.plot_history(mgr.ItemKNN().fit(toy))
    with pytest.raises(TypeError, match="single history record"):
        plot.plot_history({"epoch": 1, "loss": 0.7})
    with pytest.raises(TypeError, match="metric must be a str"):
        plot.plot_history(_records([0.7]), metric=20)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        plot.plot_history(_records([0.7]), ax="left")


# --------------------------------------------------------------------------- plot_metrics

def _result(recall10, recall20, ndcg20, n_users=100):
    """An evaluate() dict: accuracy metrics and the ones on other scales."""
    return {"recall@10": recall10, "recall@20": recall20, "ndcg@20": ndcg20, "auc": 0.9,
            "coverage@20": 0.4, "novelty@20": 7.5, "n_users": n_users}


def _bar_widths(container):
    return [patch.get_width() for patch in container.patches]


def test_plot_metrics_default_bars(figs):
    results = {"Popularity": _result(0.1, 0.18, 0.12), "EASE": _result(0.4, 0.5, 0.45)}
    ax = plot.plot_metrics(results)                  # recall and ndcg at the largest k
    assert [c.get_label() for c in ax.containers] == ["recall@20", "ndcg@20"]
    assert _bar_widths(ax.containers[0]) == [0.18, 0.5]
    assert _bar_widths(ax.containers[1]) == [0.12, 0.45]
    every = plot.plot_metrics({"EASE": {"map@10": 0.2, "mrr@10": 0.3}})   # else every one
    assert [c.get_label() for c in every.containers] == ["map@10", "mrr@10"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Popularity", "EASE"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["recall@20", "ndcg@20"]
    labels = {t.get_text() for t in ax.texts}
    assert {"0.180", "0.120", "0.500", "0.450"} <= labels          # 3 significant digits
    assert ax.get_xlabel().startswith("value") and ax.get_ylabel() == "model"
    # the first model is drawn on top
    top = ax.containers[0].patches[0].get_y()
    assert ax.yaxis_inverted() and top < ax.containers[0].patches[1].get_y()


def test_plot_metrics_chosen_metrics_into_a_given_ax(figs):
    fig, ax = plot.subplots()
    results = {"A": _result(0.1, 0.2, 0.3), "B": _result(0.2, 0.3, 0.041372)}
    assert plot.plot_metrics(results, "ndcg@20", ax=ax) is ax
    (bars,) = ax.containers
    assert _bar_widths(bars) == [0.3, 0.041372]
    assert "0.0414" in {t.get_text() for t in ax.texts}
    assert ax.get_legend() is None and ax.get_xlabel().startswith("ndcg@20")


@pytest.mark.parametrize("values", [(-0.5, 0.3, 0.2, -0.05), (-0.4, -0.1, -0.2, -0.3),
                                    (0.1, 0.5, 0.45, 0.3), (0.0, 0.0, 0.0, 0.0)])
def test_plot_metrics_limits_hold_every_value_label(values, figs):
    """A negative bar's label sits left of its end: the x limits leave room for it."""
    results = {"A": {"recall@20": values[0], "ndcg@20": values[1]},
               "B": {"recall@20": values[2], "ndcg@20": values[3]}}
    ax = plot.plot_metrics(results)
    renderer = ax.figure.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    assert len(ax.texts) == 4
    for text in ax.texts:
        t = text.get_window_extent(renderer)
        assert box.x0 <= t.x0 and t.x1 <= box.x1, (text.get_text(), t, box)


def test_nan_is_marked_not_a_silent_gap(figs):
    results = {"A": _result(0.1, float("nan"), 0.3), "B": _result(0.2, 0.3, 0.4)}
    ax = plot.plot_metrics(results, ["recall@20", "ndcg@20"])
    assert _bar_widths(ax.containers[0]) == [0.0, 0.3]
    na = [t for t in ax.texts if t.get_text() == "n/a"]
    assert len(na) == 1 and na[0].get_visible()


def test_many_long_named_models_stay_readable(figs):
    name = "LightGCN(dim=64, n_layers=3, lr=0.001, reg=0.0001, dropout=0.1) seed {}"
    few = plot.plot_metrics({name.format(i): _result(0.1, 0.2, 0.3) for i in range(2)},
                            ["recall@20", "ndcg@20"])
    many = plot.plot_metrics({name.format(i): _result(0.1, 0.2, 0.3) for i in range(50)},
                             ["recall@20", "ndcg@20"])
    h_few, h_many = few.figure.get_figheight(), many.figure.get_figheight()
    assert h_many > 10 * h_few / 2 and h_many / 100 > 0.12      # about 0.16 in per bar
    ticks = [t.get_text() for t in many.get_yticklabels()]
    assert len(ticks) == 50 and len(set(ticks)) == 50           # all shown, all distinct
    assert all(len(t) <= 32 and "…" in t for t in ticks)
    assert ticks[7].startswith("LightGCN(dim=64") and ticks[7].endswith("seed 7")


def test_shortened_names_that_coincide_are_numbered(figs):
    a = "X" * 40 + "tail"
    ax = plot.plot_metrics({a: _result(0.1, 0.2, 0.3), "X" * 41 + "tail": _result(0.1, 0.2, 0.3)})
    first, second = (t.get_text() for t in ax.get_yticklabels())
    assert first.endswith("tail (1)") and second.endswith("tail (2)")


def test_metrics_errors_name_what_is_wrong(figs):
    ok = _result(0.1, 0.2, 0.3)
    with pytest.raises(DataError, match=r"'ndcg@20' is missing from the result of model 'B'"):
        plot.plot_metrics({"A": ok, "B": {"recall@10": 0.1, "recall@20": 0.2}},
                          ["recall@20", "ndcg@20"])
    with pytest.raises(DataError, match="no '@k' accuracy metric .* pass metrics="):
        plot.plot_metrics({"A": {"coverage@20": 0.4, "n_users": 3}})
    with pytest.raises(DataError, match="results is empty"):
        plot.plot_metrics({})
    with pytest.raises(DataError, match="metrics is empty"):
        plot.plot_metrics({"A": ok}, [])
    with pytest.raises(DataError, match=r"results\['A'\]\['recall@20'\] is 'high'"):
        plot.plot_metrics({"A": dict(ok, **{"recall@20": "high"})})
    with pytest.raises(DataError, match=r"results\['A'\]\['recall@20'\] is inf"):
        plot.plot_metrics({"A": dict(ok, **{"recall@20": float("inf")})})
    with pytest.raises(TypeError, match=r"results\['A'\] must be a dict from mgr.evaluate"):
        plot.plot_metrics({"A": 0.3})
    with pytest.raises(TypeError, match="results must be a dict"):
        plot.plot_metrics([ok])


def test_only_accuracy_metrics_by_default():
    assert [k for k in _result(0, 0, 0) if plot._is_accuracy(k)] == [
        "recall@10", "recall@20", "ndcg@20"]
    assert not plot._is_accuracy("coverage@20") and not plot._is_accuracy("auc")


# --------------------------------------------------------------------------- plot_embeddings

def _clusters(n, rng, d=6):
    """Three clusters along two strong directions (columns 0 and 1) plus weak noise."""
    labels = rng.integers(0, 3, n)
    centres = np.array([[6.0, 0.0], [-6.0, 2.0], [0.0, -4.0]])
    X = 0.3 * rng.standard_normal((n, d))
    X[:, :2] += centres[labels]
    return X, labels


def test_plot_embeddings_is_pca(figs):
    rng = np.random.default_rng(0)
    X, labels = _clusters(300, rng)
    ax = plot.plot_embeddings(X, max_points=None)
    Z = ax.collections[0].get_offsets()                              # (300, 2), shuffled
    Xc = X - X.mean(axis=0)
    w, V = np.linalg.eigh(Xc.T @ Xc)                                 # ascending eigenvalues
    V2 = V[:, ::-1][:, :2]
    V2 *= np.sign(V2[np.argmax(np.abs(V2), axis=0), [0, 1]])          # largest loading > 0
    expected = Xc @ V2
    order = np.lexsort(expected.T[::-1])
    got = np.asarray(Z)[np.lexsort(np.asarray(Z).T[::-1])]
    np.testing.assert_allclose(got, expected[order], atol=1e-9)
    share = w[::-1][:2] / w.sum()
    assert ax.get_xlabel() == f"PC 1 ({100 * share[0]:.1f} % of variance)"
    assert ax.get_ylabel() == f"PC 2 ({100 * share[1]:.1f} % of variance)"


def test_plot_embeddings_of_a_model_with_categories(figs):
    rng = np.random.default_rng(1)
    X, labels = _clusters(120, rng)
    model = _Trained([])
    model.item_embeddings_ = X
    model.user_embeddings_ = X[:10]
    ax = plot.plot_embeddings(model, labels=labels)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "1", "2"]
    colours = ax.collections[0].get_facecolors()
    assert len({tuple(c) for c in colours}) == 3                     # one colour per label
    assert "_Trained item embeddings" in ax.get_title()
    users = plot.plot_embeddings(model, kind="users")
    assert len(users.collections[0].get_offsets()) == 10
    assert "user embeddings" in users.get_title()


def test_many_categories_keep_the_largest_and_other(figs):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((400, 4))
    labels = np.array([f"genre {i}" for i in rng.integers(0, 30, 400)])
    ax = plot.plot_embeddings(X, labels=labels)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(texts) == 20 and texts[-1] == "other"


def test_numeric_labels_get_a_colour_bar(figs):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 4))
    degree = rng.exponential(10.0, 200)
    degree[0] = np.nan
    ax = plot.plot_embeddings(X, labels=degree)
    assert len(ax.figure.axes) == 2                                   # the colour bar's axes
    assert ax.figure.axes[1].get_ylabel() == "label"
    # the grey NaN dot is said to be missing, in a legend of that one entry
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["missing (1)"]
    full = plot.plot_embeddings(X, labels=np.nan_to_num(degree))
    assert full.get_legend() is None                                  # nothing missing


def test_plot_embeddings_label_title(figs):
    rng = np.random.default_rng(5)
    X, labels = _clusters(90, rng)
    ax = plot.plot_embeddings(X, labels=labels, label_title="community")
    assert ax.get_legend().get_title().get_text() == "community"
    assert plot.plot_embeddings(X, labels=labels).get_legend().get_title().get_text() == "label"
    numeric = plot.plot_embeddings(X, labels=rng.exponential(5.0, 90), label_title="degree")
    assert numeric.figure.axes[1].get_ylabel() == "degree"
    with pytest.raises(TypeError, match="label_title must be a str"):
        plot.plot_embeddings(X, labels=labels, label_title=3)


def test_subsampling_is_seeded_and_said(figs):
    rng = np.random.default_rng(4)
    X, _ = _clusters(30_000, rng, d=3)
    a = plot.plot_embeddings(X, max_points=1000, random_state=7)
    b = plot.plot_embeddings(X, max_points=1000, random_state=7)
    c = plot.plot_embeddings(X, max_points=1000, random_state=8)
    pa, pb, pc = (np.asarray(ax.collections[0].get_offsets()) for ax in (a, b, c))
    assert pa.shape == (1000, 2)
    np.testing.assert_array_equal(pa, pb)
    assert not np.array_equal(pa, pc)
    assert "1,000 random points of 30,000" in a.get_title()


def test_dots_get_smaller_and_fainter_with_more_points(figs):
    rng = np.random.default_rng(5)
    few = plot.plot_embeddings(rng.standard_normal((100, 3))).collections[0]
    many = plot.plot_embeddings(rng.standard_normal((20_000, 3))).collections[0]
    assert many.get_alpha() < few.get_alpha() and many.get_sizes()[0] < few.get_sizes()[0]
    assert many.get_alpha() <= 0.35


def test_plot_embeddings_takes_object_labels_with_none(figs):
    """np.unique on object labels mixing None and str raised a TypeError ('<' not supported)."""
    rng = np.random.default_rng(0)
    labels = np.array(["a", None] * 250 + [f"c{i}" for i in range(30)], dtype=object)
    ax = plot.plot_embeddings(rng.standard_normal((530, 4)), labels=labels)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "None" in texts and "a" in texts and texts[-1] == "other"


def test_embedding_errors_name_what_is_needed(figs):
    import minigraphrec as mgr
    with pytest.raises(DataError, match="ItemKNN has no item_embeddings_: .*embedding model"):
        plot.plot_embeddings(mgr.ItemKNN().fit(mgr.datasets.article_toy()))
    with pytest.raises(RuntimeError, match="MF is not fitted yet"):
        plot.plot_embeddings(mgr.MF(), kind="users")
    with pytest.raises(ValueError, match="kind must be 'items' or 'users'"):
        plot.plot_embeddings(np.eye(3), kind="nodes")
    with pytest.raises(DataError, match=r"shape \(5,\)"):
        plot.plot_embeddings(np.arange(5.0))
    with pytest.raises(DataError, match="row 1 is not finite"):
        plot.plot_embeddings(np.array([[0.0, 1.0], [np.nan, 1.0], [2.0, 0.0]]))
    with pytest.raises(DataError, match=r"labels must have one entry per row .*\(3,\)"):
        plot.plot_embeddings(np.eye(3), labels=[0, 1])
    with pytest.raises(DataError, match="no variance"):
        plot.plot_embeddings(np.ones((4, 3)))
    for bad in (0, 2.0):
        with pytest.raises(ValueError, match="max_points must be an integer >= 1"):
            plot.plot_embeddings(np.eye(3), max_points=bad)
    with pytest.raises(TypeError, match="random_state"):
        plot.plot_embeddings(np.eye(3), random_state="seed")


def test_drawing_helpers_do_not_save_or_show(figs, monkeypatch):
    plt = plot._pyplot()
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("show was called"))
    plot.plot_history(_records([0.7, 0.6]))
    plot.plot_metrics({"A": _result(0.1, 0.2, 0.3)})
    plot.plot_embeddings(np.eye(4))
    assert not figs.exists()


# --------------------------------------------------------------------------- failed saves

def test_save_errors_name_the_figure_not_the_temporary_file(figs, monkeypatch):
    """A read-only folder said "Permission denied: '<folder>/.tmp-23010-e79b28ec.png'"."""
    import errno
    fig, _ = plot.subplots()

    def savefig(fname, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(fname))
    monkeypatch.setattr(fig, "savefig", savefig)
    with pytest.raises(PermissionError) as info:
        plot.save_figure(fig, "x")
    assert str(info.value) == f"[Errno 13] cannot write x.png in {figs}: Permission denied"
    assert info.value.errno == errno.EACCES and ".tmp" not in str(info.value)

    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):           # a folder that cannot be created
        if self == figs / "sub":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)
    monkeypatch.setenv(plot.FIGURES_ENV, str(figs / "sub"))
    monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(PermissionError, match=rf"cannot write y\.png in {figs / 'sub'}: cannot "
                                              rf"create {figs / 'sub'}: Permission denied"):
        plot.save_figure(plot.subplots()[0], "y")


def test_a_folder_at_the_figure_s_name_is_refused_before_rendering(figs, monkeypatch):
    """It was found only by the rename, after rendering, naming the temporary file."""
    (figs / "d.png").mkdir(parents=True)
    fig, _ = plot.subplots()
    monkeypatch.setattr(fig, "savefig", lambda *a, **k: pytest.fail("rendered"))
    with pytest.raises(IsADirectoryError, match=rf"cannot write d\.png in {figs}: "
                                                rf"{figs / 'd.png'} is a folder"):
        plot.save_figure(fig, "d")
    assert [p.name for p in figs.iterdir()] == ["d.png"] and not _is_open(fig)


def test_a_failed_save_removes_the_folders_it_created_only(tmp_path, monkeypatch):
    def savefig(fname, **kwargs):
        Path(fname).write_bytes(b"\x89PNG partial")
        raise RuntimeError("agg died")

    monkeypatch.setenv(plot.FIGURES_ENV, str(tmp_path / "new" / "a" / "b"))
    fig, _ = plot.subplots()
    monkeypatch.setattr(fig, "savefig", savefig)
    with pytest.raises(RuntimeError, match="agg died"):
        plot.save_figure(fig, "y")
    assert list(tmp_path.iterdir()) == []               # new/a/b made by the call: gone

    (tmp_path / "old").mkdir()                          # one that was there stays
    monkeypatch.setenv(plot.FIGURES_ENV, str(tmp_path / "old" / "figs"))
    fig, _ = plot.subplots()
    monkeypatch.setattr(fig, "savefig", savefig)
    with pytest.raises(RuntimeError, match="agg died"):
        plot.save_figure(fig, "y")
    assert [p.name for p in tmp_path.iterdir()] == ["old"]
    assert list((tmp_path / "old").iterdir()) == []

    (tmp_path / "kept").mkdir()                         # an existing figures folder stays
    monkeypatch.setenv(plot.FIGURES_ENV, str(tmp_path / "kept"))
    fig, _ = plot.subplots()
    monkeypatch.setattr(fig, "savefig", savefig)
    with pytest.raises(RuntimeError, match="agg died"):
        plot.save_figure(fig, "y")
    assert (tmp_path / "kept").is_dir() and list((tmp_path / "kept").iterdir()) == []


# ------------------------------------------------------------------ lossy and silent inputs

def test_complex_embeddings_are_refused_not_cut_to_their_real_part(figs):
    X = np.random.default_rng(0).standard_normal((5, 3)) + 1j     # was: a ComplexWarning only
    with pytest.raises(DataError, match=r"model_or_matrix must be an \(n, d\) array of real "
                                        r"numbers, got complex128 .*imaginary part"):
        plot.plot_embeddings(X)
    with pytest.raises(DataError, match="must be an .* array of numbers"):
        plot.plot_embeddings(np.array([[1 + 1j, 2.0], [3.0, 4.0]], dtype=object))


def test_plot_history_refuses_an_infinite_value_naming_series_and_record(figs):
    """NaN is a gap in the line; inf was left out silently, as if it were one."""
    with pytest.raises(DataError, match=r"^histories: record 1's 'loss' is inf; values must be "
                                        r"finite \(or NaN, a gap in the line\)$"):
        plot.plot_history(_records([0.7, float("inf"), 0.5]))
    with pytest.raises(DataError, match=r"^histories\['MF'\]: record 0's 'recall@20' is -inf"):
        plot.plot_history({"MF": _records([0.7], **{"recall@20": [-np.inf]})}, "recall@20")
    (line,) = plot.plot_history(_records([0.7, float("nan"), 0.5])).get_lines()   # NaN: a gap
    assert np.isnan(line.get_ydata()[1])


def test_default_metrics_are_recall_and_ndcg_at_their_largest_common_cutoff(figs):
    """A larger cut-off of another metric (hit@50) no longer pulls in every metric."""
    ax = plot.plot_metrics({"a": {"recall@10": 0.1, "ndcg@10": 0.2, "hit@50": 0.3}})
    assert [c.get_label() for c in ax.containers] == ["recall@10", "ndcg@10"]
    both = {"recall@10": 0.1, "recall@20": 0.2, "ndcg@20": 0.3, "precision@50": 0.1}
    ax = plot.plot_metrics({"a": both, "b": dict(both, **{"ndcg@50": 0.4})})
    assert [c.get_label() for c in ax.containers] == ["recall@20", "ndcg@20"]
    ax = plot.plot_metrics({"a": {"recall@10": 0.1, "ndcg@20": 0.2}})   # the larger one alone
    assert [c.get_label() for c in ax.containers] == ["ndcg@20"]
    ax = plot.plot_metrics({"a": {"hit@10": 0.1, "mrr@20": 0.2, "recall@5": 0.3},
                            "b": {"hit@10": 0.2, "mrr@20": 0.1}})    # no common recall, NDCG
    assert [c.get_label() for c in ax.containers] == ["hit@10", "mrr@20"]


def test_the_missing_legend_sits_under_the_colour_bar_not_on_the_title(figs):
    """It was drawn above the axes' right corner, over the end of the title."""
    rng = np.random.default_rng(6)
    degree = rng.exponential(10.0, 150)
    degree[:10] = np.nan
    X = rng.standard_normal((150, 8))                      # one map for both: same ticks
    ax = plot.plot_embeddings(X, labels=degree, label_title="degree")
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    title = ax.title.get_window_extent(renderer)
    bar = fig.axes[1].get_window_extent(renderer)
    assert not legend.overlaps(title)
    assert legend.y1 <= bar.y0 + 1 and bar.x0 <= (legend.x0 + legend.x1) / 2 <= bar.x1
    alone = plot.plot_embeddings(X, labels=np.nan_to_num(degree), label_title="degree")
    alone.figure.canvas.draw()
    assert ax.get_position().bounds == pytest.approx(alone.get_position().bounds)  # same map


def test_an_infinite_numeric_label_is_refused(figs):
    """An inf label was painted grey like a NaN but not counted as missing."""
    labels = np.array([0.1, np.inf, 0.3, 0.5])
    with pytest.raises(DataError, match=r"labels\[1\] is inf; numeric labels must be finite"):
        plot.plot_embeddings(np.random.default_rng(7).random((4, 3)), labels=labels)


def test_a_sparse_table_is_told_to_be_made_dense(figs):
    import scipy.sparse
    X = scipy.sparse.random(10, 4, density=0.5, format="csr", random_state=0)
    with pytest.raises(DataError, match=r"model_or_matrix is a scipy sparse matrix; pass it "
                                        r"dense \(\.toarray\(\)\)"):
        plot.plot_embeddings(X)
