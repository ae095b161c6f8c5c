r"""Figures for tutorials and benchmarks: where PNGs go, a headless-safe backend, and the three
pictures a recommender run asks for (training curves, metric comparisons, embedding maps).

Matplotlib is imported on first use, never by ``import minigraphrec``. The non-interactive Agg
backend is selected before ``pyplot`` is first imported when both hold: the machine is
headless (Linux or a BSD with neither ``$DISPLAY`` nor ``$WAYLAND_DISPLAY``), and no backend
has been chosen (``$MPLBACKEND`` unset, no earlier ``matplotlib.use(...)``, no ``backend:``
line in a matplotlibrc). So a script that draws never opens a window and never blocks, and a
backend you chose (``matplotlib.use("svg")``, a notebook's inline one) is left alone.

Figures are written as PNG into ``$MINIGRAPHREC_FIGURES`` when it is set (``~`` is expanded),
else into ``figures/`` under the current working directory; the folder is created on demand.

    >>> from minigraphrec import plot
    >>> fig, ax = plot.subplots()
    >>> lines = ax.plot([1, 2, 3], [1, 4, 9])
    >>> _ = ax.set(xlabel="x", ylabel="x²")
    >>> path = plot.save_figure(fig, "squares")     # figures/squares.png

The drawing helpers follow scikit-learn's plotting functions: each draws into the ``ax`` it is
given, or into a new figure sized for what it draws, and returns the Axes. None of them calls
``show`` or saves; :func:`save_figure` does that.

    >>> import minigraphrec as mgr
    >>> data = mgr.datasets.synthetic(n_users=100, n_items=150, random_state=0)
    >>> train, test = mgr.split.random_split(data, test_size=0.2, random_state=0)
    >>> mf = mgr.MF(dim=8, epochs=3, random_state=0).fit(train, validation=test)
    >>> ax = plot.plot_history(mf, metric="recall@20")           # one line, one point per epoch
    >>> ax = plot.plot_metrics({"MF": mgr.evaluate(mf, test)})   # bars, one per metric
    >>> ax = plot.plot_embeddings(mf, kind="items")              # a 2-d PCA map
    >>> path = plot.save_figure(ax.figure, "mf_items")
"""
import errno
import math
import os
import sys
from collections.abc import Mapping
from numbers import Real
from pathlib import Path

import numpy as np

from . import _atomic
from .errors import (DataError, check_bool, check_finite_number, check_int,
                     check_random_state)
from ._atomic import missing_folders

__all__ = ["figure_dir", "subplots", "save_figure", "plot_history", "plot_metrics",
           "plot_embeddings", "FIGURES_ENV"]

#: environment variable naming the folder :func:`save_figure` writes PNGs to (else ``figures/``)
FIGURES_ENV = "MINIGRAPHREC_FIGURES"

# Extensions of the formats matplotlib (and image viewers) write: a name ending in one of these
# asks for a format save_figure does not write. Other dots are part of the stem ("lr0.001").
_OTHER_FORMATS = frozenset({"pdf", "svg", "svgz", "eps", "ps", "pgf", "jpg", "jpeg", "tif",
                            "tiff", "webp", "gif", "bmp", "raw", "rgba", "avif", "html"})
_NAME_MAX = 255        # bytes in one file name on Linux, macOS and Windows file systems


def _headless():
    """True where no GUI can open: no ``$DISPLAY``/``$WAYLAND_DISPLAY`` on Linux and the BSDs."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return False


def _backend_chosen(rc=None):
    """Whether matplotlib's ``rcParams`` (or the mapping ``rc``) names a backend
    (``matplotlib.use``, ``$MPLBACKEND``, a matplotlibrc) rather than the "resolve it on first
    use" sentinel, read without resolving it (the resolution would pick a backend, the thing
    to decide here).

    matplotlib >= 3.10 answers with ``get_backend(auto_select=False)``; older releases with
    the private ``rcParams._get_backend_or_none``; a mapping without either is read by hand.
    """
    import matplotlib
    if rc is None:
        try:
            return matplotlib.get_backend(auto_select=False) is not None
        except TypeError:                               # matplotlib < 3.10: no auto_select
            rc = matplotlib.rcParams
    get = getattr(rc, "_get_backend_or_none", None)
    if get is not None:
        return get() is not None
    from matplotlib import rcsetup
    return dict.__getitem__(rc, "backend") is not rcsetup._auto_backend_sentinel


def _pyplot():
    """``matplotlib.pyplot``, with Agg selected first when headless and no backend was chosen."""
    import matplotlib
    if ("matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND")
            and _headless() and not _backend_chosen()):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _figure_folder():
    """The folder :func:`figure_dir` writes to, as a path; nothing is checked or created."""
    return Path(os.environ.get(FIGURES_ENV) or "figures").expanduser()


def figure_dir():
    r"""The folder figures are written to, created if missing.

    ``$MINIGRAPHREC_FIGURES`` when set (``~`` expanded; relative paths are taken from the
    current directory), else ``./figures``.

    Returns
    -------
    pathlib.Path
    """
    folder = _figure_folder()
    if folder.exists() and not folder.is_dir():
        raise DataError(f"figure folder {str(folder)!r} (from ${FIGURES_ENV} or the default "
                        f"'figures') exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def subplots(nrows=1, ncols=1, **kwargs):
    r"""``plt.subplots`` with a headless-safe backend and a readable default size.

    Parameters
    ----------
    nrows, ncols : int
    **kwargs
        Passed to ``matplotlib.pyplot.subplots``; ``figsize`` defaults to 4.8 in × 3.6 in per
        panel and ``layout`` to ``"constrained"``.

    Returns
    -------
    (matplotlib.figure.Figure, Axes or ndarray of Axes)
    """
    plt = _pyplot()
    kwargs.setdefault("figsize", (4.8 * ncols, 3.6 * nrows))
    kwargs.setdefault("layout", "constrained")
    return plt.subplots(nrows, ncols, **kwargs)


def _figure_stem(name):
    """The file stem of a figure name (``"a"``, ``"a.png"``, ``Path("a")``), or DataError."""
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"name must be a str or pathlib.Path (a file stem), got "
                        f"{type(name).__name__}")
    name = os.fspath(name)
    if not isinstance(name, str):
        raise TypeError(f"name must be a str or pathlib.Path (a file stem), got bytes {name!r}")
    plain = (f"a plain file stem (letters, digits, '-', '_', and '.' inside it), written as "
             f"<stem>.png into ${FIGURES_ENV} (else ./figures); only PNG is written")
    stem = name[:-4] if name.lower().endswith(".png") else name
    ext = stem.rpartition(".")[2].lower() if "." in stem else ""
    if ext in _OTHER_FORMATS:
        raise DataError(f"figure name {name!r} asks for .{ext}, but save_figure writes PNG "
                        f"only: name it {stem.rpartition('.')[0] or 'figure'!r} (or with "
                        f"'.png'), or call fig.savefig yourself for other formats")
    if (not stem or stem.startswith(".") or stem.endswith(".")
            or not all(c.isalnum() or c in "-_." for c in stem)):
        raise DataError(f"figure name {name!r} must be {plain}; it may not be empty or start "
                        f"or end with '.'")
    if len(os.fsencode(stem + ".png")) > _NAME_MAX:
        raise DataError(f"figure name {name[:40]!r}... is too long: its file name would be "
                        f"{len(os.fsencode(stem + '.png'))} bytes, and file names are limited "
                        f"to {_NAME_MAX}")
    return stem


def save_figure(fig, name, dpi=120, close=True):
    r"""Write ``fig`` as ``<figure_dir()>/<name>.png`` and return the path; close it unless told.

    The PNG is written atomically, by the rule every file the package writes follows
    (``minigraphrec._atomic``): to a temporary file (``.minigraphrec-<pid>-<random>.tmp``)
    in the same folder, synced to disk, then renamed into place (and the folder synced), so
    a failed save (Ctrl-C included) never leaves a half-written figure or a temporary file
    behind, and an existing ``<name>.png`` stays as it was. The figure is closed (when
    ``close``) whether or not the save worked. A failed save also removes the figure folder
    (and its parents) if this call created them and they are still empty. A new PNG gets
    the mode a plain ``open`` gives (0o666 less the umask); a PNG replaced keeps its
    permission bits. An OSError names ``<name>.png`` and its folder, never the temporary
    file (one raised while drawing that names another file is raised as it is). Refused
    before anything is drawn: a folder at ``<name>.png`` (IsADirectoryError), an existing
    ``<name>.png`` the caller may not write (PermissionError: a read-only figure is not
    replaced), a device, FIFO or socket there (FileExistsError).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    name : str or pathlib.Path
        File stem: letters, digits, ``-``, ``_``, and ``.`` inside it (``"lr0.001"``);
        ``".png"`` is appended if missing. Only PNG is written: a name ending in another
        format's extension (``"a.pdf"``, ``"a.svg"``) is refused, as are empty names, names
        starting or ending with ``.``, folders (``"a/b"``), and names longer than 255 bytes
        with ``.png``. The folder comes from ``$MINIGRAPHREC_FIGURES``, not from the name.
    dpi : float
        Resolution, a finite number > 0.
    close : bool
        Close the figure afterwards (the default: a script drawing many figures does not keep
        them all in memory). ``False`` keeps it open, to show it in a notebook or draw on.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    if not callable(getattr(fig, "savefig", None)):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    stem = _figure_stem(name)
    dpi = check_finite_number(dpi, "dpi", above=0)
    close = check_bool(close, "close")
    created = []
    try:
        folder = _figure_folder()
        path = folder / f"{stem}.png"
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, f"cannot write {path.name} in {folder}: "
                                    f"{path} is a folder; remove it or choose another name")
        created = missing_folders(folder)
        try:
            figure_dir()
        except OSError as err:          # no permission to create it, say
            raise _atomic.reworded(err, f"{_at_figure(path)}: cannot create "
                                        f"{err.filename or folder}") from None
        _atomic.write_file(path, _atomic.PathWriter(
            lambda tmp: fig.savefig(tmp, dpi=dpi, format="png")), prefix=_at_figure(path))
    except BaseException:
        for made in reversed(created):              # the folders this call made, if empty
            try:
                os.rmdir(made)
            except OSError:
                break
        raise
    finally:
        if close:
            _pyplot().close(fig)
    return path


def _at_figure(path):
    """The words an OSError about the figure ``path`` begins with: its name and folder."""
    return f"cannot write {path.name} in {path.parent}"


# --------------------------------------------------------------------------- shared helpers

def _check_ax(ax):
    if ax is not None and not (callable(getattr(ax, "plot", None))
                               and callable(getattr(ax, "barh", None))):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")


def _as_value(value, where):
    """``value`` as a float (NaN kept), or DataError naming ``where``."""
    if value is None:
        return math.nan
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise DataError(f"{where} is {value!r}, expected a number")
    return float(value)


def _shorten(label, width):
    """``label`` cut in the middle with "…" to at most ``width`` characters."""
    if len(label) <= width:
        return label
    head = (width - 1) // 2 + (width - 1) % 2
    return label[:head] + "…" + label[len(label) - (width - 1 - head):]


# --------------------------------------------------------------------------- training curves

def _history_records(value, where):
    """(default label, list of records) of a model with ``history_`` or a list of records."""
    if callable(getattr(value, "_check_fitted", None)):
        value._check_fitted()                         # RuntimeError, as everywhere, if not
    if hasattr(value, "history_"):
        records, label = value.history_, type(value).__name__
    elif isinstance(value, (list, tuple)):
        records, label = value, None
    elif callable(getattr(value, "fit", None)):
        raise TypeError(f"{where}: {type(value).__name__} has no history_; only a fitted "
                        f"model trained by epochs (MF, LightGCN, GCN, NGCF, GAT, ...) has one")
    else:
        raise TypeError(f"{where} must be a fitted model with a history_ (MF, LightGCN, ...), "
                        f"a history_ list of records, or a dict {{label: either}}, got "
                        f"{type(value).__name__}")
    for r, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise TypeError(f"{where}: record {r} is {type(record).__name__}, expected a dict "
                            f"such as {{'epoch': 1, 'loss': 0.69}}")
        if "epoch" not in record:
            raise DataError(f"{where}: record {r} has no 'epoch' (keys: {', '.join(record)})")
    return label, list(records)


#: markers and line styles of the series of :func:`plot_history`; with the 10 tab10 colours
#: (10, 9 and 4 share no common cycle) the first 180 series all differ in (colour, marker, style)
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<")
_LINESTYLES = ("-", "--", ":", "-.")


def _series_style(i):
    """``(colour, marker, linestyle)`` of series ``i``: neighbours differ in all three, so
    that lines are told apart without colour (red against green is lost on a colour-blind
    reader, and tab10 alone repeats after 10 series)."""
    return f"C{i % 10}", _MARKERS[i % len(_MARKERS)], _LINESTYLES[i % len(_LINESTYLES)]


def plot_history(histories, metric="loss", ax=None):
    r"""Training curves: ``metric`` against the epoch, one line per model.

    Draws ``y = record[metric]`` at ``x = record["epoch"]`` for every record of each history
    (:mod:`minigraphrec.train` appends one per epoch: ``"epoch"``, ``"loss"``, ``"time"``, and
    with validation data the validation metrics such as ``"recall@20"`` and ``"eval_time"``).
    Every point has a marker, so a one-epoch history is a visible point; each line has its own
    colour, marker and line style, so that lines are told apart without colour. A NaN or
    missing value (a record without the metric, among records that have it) is a gap in the
    line: its neighbours are not joined across it. An infinite value is refused, as
    :func:`plot_metrics` refuses one: a gap would hide it.

    Parameters
    ----------
    histories : model, list of dict, or dict {label: model or list of dict}
        A fitted trainable model (its ``history_``), a ``history_`` list itself, or several of
        either under the labels the legend shows.
    metric : str
        A key of the records: ``"loss"`` (default), ``"time"``, or a validation metric.
    ax : matplotlib Axes, optional
        Where to draw; default a new figure from :func:`subplots`.

    Returns
    -------
    matplotlib.axes.Axes
        x labelled ``"epoch"``, y labelled ``metric``, a legend when the histories come
        labelled (a dict).

    Raises
    ------
    DataError
        An empty history (``fit(train, epochs=0)``: nothing to draw), a metric that is in none
        of a history's records (the message lists the keys there are), a metric whose values
        are all NaN, a record without ``"epoch"`` or with a value that is no number or is
        infinite (naming the history and the record).
    TypeError
        ``histories`` or a record of another kind, ``metric`` not a str, ``ax`` not an Axes.
    RuntimeError
        An unfitted model.
    """
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a str (a key of the history records, e.g. 'loss' or "
                        f"'recall@20'), got {type(metric).__name__}")
    _check_ax(ax)
    if isinstance(histories, Mapping):
        if not histories:
            raise DataError("histories is an empty dict: nothing to draw")
        if "epoch" in histories and isinstance(histories["epoch"], Real):
            raise TypeError("histories looks like a single history record (it has the key "
                            "'epoch'); pass the list of records, model.history_")
        series, labelled = [], True
        for key, value in histories.items():
            _, records = _history_records(value, f"histories[{key!r}]")
            series.append((str(key), records, f"histories[{key!r}]"))
    else:
        label, records = _history_records(histories, "histories")
        series = [(label, records, f"the history of {label}" if label else "histories")]
        labelled = False

    curves = []
    for label, records, where in series:
        if not records:
            raise DataError(f"{where} is empty (a model fitted with epochs=0 has no epochs): "
                            f"nothing to draw")
        if not any(metric in r for r in records):
            keys = list(dict.fromkeys(k for r in records for k in r))
            raise DataError(f"metric {metric!r} is not in {where}; its records have: "
                            f"{', '.join(keys)}")
        x = np.array([_as_value(r["epoch"], f"{where}: record {i}'s 'epoch'")
                      for i, r in enumerate(records)])                     # (n_epochs,)
        y = np.array([_as_value(r.get(metric), f"{where}: record {i}'s {metric!r}")
                      for i, r in enumerate(records)])                     # (n_epochs,)
        if not np.isfinite(x).all():
            raise DataError(f"{where}: record {int(np.flatnonzero(~np.isfinite(x))[0])} has "
                            f"epoch {x[~np.isfinite(x)][0]}, expected a number")
        if np.isinf(y).any():                  # a gap would hide it; NaN is the gap
            i = int(np.flatnonzero(np.isinf(y))[0])
            raise DataError(f"{where}: record {i}'s {metric!r} is {y[i]}; values must be "
                            f"finite (or NaN, a gap in the line)")
        if np.isnan(y).all():
            raise DataError(f"every value of {metric!r} in {where} is NaN: nothing to draw")
        curves.append((label, x, y))

    if ax is None:
        _, ax = subplots()
    from matplotlib.ticker import MaxNLocator
    for i, (label, x, y) in enumerate(curves):
        colour, marker, linestyle = _series_style(i)
        ax.plot(x, y, color=colour, marker=marker, linestyle=linestyle,
                markersize=4 if len(x) <= 60 else 2.5, linewidth=1.4,
                label=label if label is not None else "_nolegend_")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # whole epochs
    epochs = np.concatenate([x for _, x, _ in curves])
    if epochs.min() == epochs.max():                      # one epoch: a point in the middle
        ax.set_xlim(epochs.min() - 1, epochs.max() + 1)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    if labelled or len(curves) > 1:                       # labels given: the legend shows them
        ax.legend(fontsize=8)
    return ax


# --------------------------------------------------------------------------- metric bars

_ACCURACY = ("recall", "precision", "ndcg", "hit", "map", "mrr")
_LABEL_WIDTH = 32            # characters of a model name shown beside its bars


def _is_accuracy(key):
    name, sep, k = key.partition("@")
    return bool(sep) and name in _ACCURACY and k.isdigit()


def _significant(value):
    """``value`` to 3 significant digits, trailing zeros kept: 0.5 -> "0.500", 120 -> "120"."""
    return f"{value:#.3g}".rstrip(".")


def _metric_colours(metrics):
    """One colour per metric: a hue per metric name (tab10), lighter for smaller cut-offs."""
    from matplotlib import colormaps, colors
    base = colormaps["tab10"]
    names = list(dict.fromkeys(m.partition("@")[0] for m in metrics))
    out = {}
    for m in metrics:
        name, _, k = m.partition("@")
        rgb = np.array(colors.to_rgb(base(names.index(name) % 10)))
        cutoffs = sorted({int(x.partition("@")[2]) for x in metrics
                          if x.partition("@")[0] == name and x.partition("@")[2].isdigit()})
        if len(cutoffs) > 1 and k.isdigit():
            lighten = 0.55 * (len(cutoffs) - 1 - cutoffs.index(int(k))) / (len(cutoffs) - 1)
            rgb = rgb + (1.0 - rgb) * lighten
        out[m] = tuple(rgb)
    return out


def plot_metrics(results, metrics=None, ax=None):
    r"""Compare models on evaluation metrics: grouped horizontal bars, one group per model.

    Each model (a key of ``results``, top to bottom in the dict's order) gets one bar per
    metric, coloured by metric: one hue per metric name, lighter for a smaller cut-off
    (recall@10 light, recall@20 dark). Every bar ends in its value to 3 significant digits; a
    NaN value (e.g. ``evaluate`` on a test set without users) has no bar and is marked
    ``"n/a"``, never left as a silent gap.

    By default the bars are recall and NDCG (those of the two that every result has) at the
    largest such cut-off: the LightGCN protocol's two figures; other metrics are left out,
    even at a larger cut-off. When no recall or NDCG key is in every result, the bars are
    every ``"@k"`` accuracy metric (recall, precision, NDCG, hit rate, MAP, MRR) common to
    the results, at every cut-off. They share the scale [0, 1]. Coverage is a share of the
    catalogue and novelty is in bits, on other scales, and AUC has no cut-off: they and
    ``"n_users"`` are left out unless named in ``metrics`` (better in a figure of their own).

    A new figure (``ax=None``) is about 0.16 in tall per bar: 22 in for 50 models at the
    default two metrics.
    Model names longer than 32 characters are shortened in the middle with "…" (the ends of
    ``"LightGCN(dim=64, n_layers=3)"``-style names are what tells them apart); names that
    would then coincide are numbered.

    Parameters
    ----------
    results : dict {model name: dict}
        What :func:`minigraphrec.metrics.evaluate` returned for each model.
    metrics : str or sequence of str, optional
        Keys of every result to draw, in this order (e.g. ``["recall@20", "ndcg@20"]``).
    ax : matplotlib Axes, optional
        Where to draw; default a new figure sized to the number of bars.

    Returns
    -------
    matplotlib.axes.Axes
        One ``BarContainer`` per metric in ``ax.containers`` (bar widths are the values, 0 for
        "n/a"), model names as y tick labels, a legend of the metrics when there are several.

    Raises
    ------
    DataError
        Empty ``results`` or ``metrics``, a metric missing from a model (naming both), a
        value that is no number or is infinite, no default metric common to every result.
    TypeError
        ``results`` not a dict of dicts, ``metrics`` not str(s), ``ax`` not an Axes.
    """
    if not isinstance(results, Mapping):
        raise TypeError(f"results must be a dict {{model name: dict from mgr.evaluate}}, got "
                        f"{type(results).__name__}")
    if not results:
        raise DataError("results is empty: nothing to draw")
    for name, result in results.items():
        if not isinstance(result, Mapping):
            raise TypeError(f"results[{name!r}] must be a dict from mgr.evaluate, got "
                            f"{type(result).__name__}")
    _check_ax(ax)
    first = next(iter(results.values()))
    if metrics is None:
        common = [k for k in first if isinstance(k, str) and _is_accuracy(k)
                  and all(k in r for r in results.values())]
        # recall and NDCG at their largest common cut-off, else every common @k metric
        pair = [k for k in common if k.partition("@")[0] in ("recall", "ndcg")]
        top = max((int(k.partition("@")[2]) for k in pair), default=None)
        metrics = [k for k in pair if int(k.partition("@")[2]) == top] or common
        if not metrics:
            raise DataError(f"no '@k' accuracy metric ({', '.join(_ACCURACY)}) is in every "
                            f"result; pass metrics=[...] (the first result has: "
                            f"{', '.join(map(str, first))})")
    else:
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        for m in metrics:
            if not isinstance(m, str):
                raise TypeError(f"metrics must be a str or a sequence of str, got an item "
                                f"{type(m).__name__} {m!r}")
        if not metrics:
            raise DataError("metrics is empty: nothing to draw")
        twice = [m for i, m in enumerate(metrics) if m in metrics[:i]]
        if twice:
            raise DataError(f"metrics names {twice[0]!r} twice")
    for name, result in results.items():
        for m in metrics:
            if m not in result:
                raise DataError(f"metric {m!r} is missing from the result of model {name!r} "
                                f"(it has: {', '.join(map(str, result))})")
    values = np.array([[_as_value(results[name][m], f"results[{name!r}][{m!r}]")
                        for m in metrics] for name in results])            # (n_models, n_metrics)
    if np.isinf(values).any():
        i, j = np.argwhere(np.isinf(values))[0]
        raise DataError(f"results[{list(results)[i]!r}][{metrics[j]!r}] is {values[i, j]}; "
                        f"values must be finite (or NaN, drawn as 'n/a')")

    n_models, n_metrics = values.shape
    if ax is None:
        height = max(2.4, 0.8 + 0.16 * n_models * n_metrics + 0.1 * n_models)
        _, ax = subplots(figsize=(7.2, height))
    short = [_shorten(str(name), _LABEL_WIDTH) for name in results]
    labels = [f"{label} ({short[:i].count(label) + 1})" if short.count(label) > 1 else label
              for i, label in enumerate(short)]                   # numbered where they clash
    bar = 0.8 / n_metrics                                                  # bar thickness
    centres = np.arange(n_models, dtype=float)                             # (n_models,)
    colours = _metric_colours(metrics)
    for j, m in enumerate(metrics):
        y = centres + (j - (n_metrics - 1) / 2) * bar                     # (n_models,)
        finite = np.isfinite(values[:, j])
        bars = ax.barh(y, np.where(finite, values[:, j], 0.0), height=bar * 0.92,
                       color=colours[m], label=m)
        texts = ax.bar_label(bars, labels=[_significant(v) if ok else "n/a"
                                           for v, ok in zip(values[:, j], finite)],
                             padding=2, fontsize=7 if n_metrics * n_models > 12 else 8)
        for text, ok in zip(texts, finite):
            if not ok:
                text.set(color="0.25", fontstyle="italic")
    ax.set_yticks(centres, labels, fontsize=8 if n_models > 8 else 9)
    ax.set_ylim(n_models - 0.5, -0.5)                                     # first model on top
    top = max(0.0, np.nanmax(values)) if np.isfinite(values).any() else 0.0
    low = min(0.0, np.nanmin(values)) if np.isfinite(values).any() else 0.0
    span = (top - low) if top > low else 1.0
    # room for the value labels on both sides: a negative bar's label is left of its end
    ax.set_xlim(low - 0.18 * span if low < 0 else 0.0,
                top + 0.15 * span if top > 0 else (0.15 * span if low < 0 else 1.15))
    ax.xaxis.grid(True, color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_xlabel("value" if n_metrics > 1 else metrics[0])
    ax.set_ylabel("model")
    if n_metrics > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="metric",
                  title_fontsize=8, frameon=False)
    return ax


# --------------------------------------------------------------------------- embedding maps

def _embedding_table(source, kind):
    """(X (n, d) float64, description) from a fitted embedding model or an array."""
    attr = {"items": "item_embeddings_", "users": "user_embeddings_"}.get(kind)
    if attr is None:
        raise ValueError(f"kind must be 'items' or 'users', got {kind!r}")
    if callable(getattr(source, "_check_fitted", None)):
        source._check_fitted()                        # RuntimeError, as everywhere, if not
    if getattr(source, attr, None) is not None:      # a fitted embedding model
        what = f"{type(source).__name__} {kind[:-1]} embeddings"
        table = getattr(source, attr)
        name = attr
    elif callable(getattr(source, "fit", None)):     # a model without embeddings
        raise DataError(f"{type(source).__name__} has no {attr}: plot_embeddings needs a "
                        f"fitted embedding model (MF, LightGCN, GCN, NGCF, GAT) or an "
                        f"(n, d) array of embeddings")
    else:                                            # an array, a list, a DataFrame, ...
        what = f"{kind[:-1]} embeddings"
        table = source
        name = "model_or_matrix"
    import scipy.sparse
    if scipy.sparse.issparse(table):
        raise DataError(f"{name} is a scipy sparse matrix; pass it dense (.toarray()): PCA "
                        f"centres the rows, which fills it in anyway")
    try:
        X = np.asarray(table)
        real = X.dtype.kind != "c"               # a cast would drop the imaginary part, warning
        if real:
            X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(f"{name} must be an (n, d) array of numbers: {error}") from None
    if not real:
        raise DataError(f"{name} must be an (n, d) array of real numbers, got {X.dtype} "
                        f"(complex values are not taken: the imaginary part would be lost)")
    if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] < 2:
        raise DataError(f"{name} must be an (n, d) array with n >= 2 rows and d >= 2 "
                        f"columns to project on 2 components, got shape {X.shape}")
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise DataError(f"{name} row {int(np.flatnonzero(bad)[0])} is not finite "
                        f"({int(bad.sum())} such rows)")
    return X, what


def _pca_2d(X):
    r"""The first two principal components of ``X`` (n, d): ``Z = (X - mean) V[:, :2]``.

    Plain NumPy: the thin SVD ``X_c = U S Vᵀ`` of the centred float64 matrix. Each component's
    sign is fixed so that its largest-magnitude loading (in ``Vᵀ``'s row) is positive, so the
    same embeddings always give the same picture. Returns ``Z`` (n, 2) and the share of the
    total variance of each component, (2,).
    """
    Xc = X - X.mean(axis=0)                                                # (n, d)
    _, S, Vt = np.linalg.svd(Xc, full_matrices=False)                      # (k,), (k, d)
    total = np.sum(S ** 2)
    if not total > 0:
        raise DataError("all embedding rows are equal: there is no variance to project")
    V2 = Vt[:2]                                                            # (2, d)
    signs = np.sign(V2[np.arange(2), np.argmax(np.abs(V2), axis=1)])       # (2,)
    V2 = V2 * signs[:, None]
    return Xc @ V2.T, S[:2] ** 2 / total                                   # (n, 2), (2,)


def plot_embeddings(model_or_matrix, kind="items", labels=None, ax=None, max_points=20000,
                    random_state=0, label_title="label"):
    r"""A 2-d map of embeddings: their first two principal components, one dot per row.

    PCA in plain NumPy, float64: ``X_c = X - mean(X)`` (n, d), the thin SVD
    ``X_c = U S Vᵀ``, and the dots ``Z = X_c V[:, :2]`` (n, 2). Each axis is labelled with its
    share of the total variance, ``S_k² / Σ S²``. The sign of each component is fixed (its
    largest-magnitude loading is positive), so the picture is deterministic. PCA is linear:
    clusters apart on the map are apart in the embedding space, but clusters that overlap
    here may still be separable in the other ``d - 2`` directions. Both axes share one scale.

    The components come from every row; only the drawing is subsampled: above
    ``max_points`` rows, ``max_points`` of them are drawn, chosen uniformly without
    replacement by ``numpy.random.default_rng(random_state)`` (the title says so), and drawn
    in random order so that no label is painted over the others. The dots shrink and grow
    more transparent as there are more of them (area about 1/n, opacity about 1/√n), so
    that 100,000 points (in an ad-hoc run) showed their density, not one solid blob.

    Parameters
    ----------
    model_or_matrix : fitted embedding model or array-like (n, d)
        A model with ``item_embeddings_`` / ``user_embeddings_`` (MF, LightGCN, GCN, NGCF,
        GAT: the final embeddings its scores use) or the embeddings themselves.
    kind : {"items", "users"}
        Which table of a model to draw (for an array, only the title uses it).
    labels : array-like (n,), optional
        One label per row (e.g. the item's community or genre). Integers with at most 20
        values and any non-numbers are categories, each a colour in a legend (beyond 20
        categories, the 19 largest and "other"); floats, or integers with more values (a
        degree), colour through a colour bar, NaN in light grey (a legend entry "missing"
        under the colour bar says so); an infinite label is refused.
    ax : matplotlib Axes, optional
        Where to draw; default a new square figure.
    max_points : int or None
        Most dots to draw (default 20,000); None draws all.
    random_state : int, Generator or None
        Seeds the subsample (and the drawing order).
    label_title : str
        Title of the legend or colour bar of ``labels`` (default ``"label"``), e.g.
        ``"genre"`` or ``"degree"``.

    Returns
    -------
    matplotlib.axes.Axes
        One ``PathCollection`` in ``ax.collections``; axes labelled ``"PC 1 (x % of
        variance)"`` and ``"PC 2 (y % of variance)"``.

    Raises
    ------
    DataError
        A model without embeddings (ItemKNN, EASE, an unfitted model), an array that is not
        (n >= 2, d >= 2), not finite or complex, labels of another length or infinite, rows
        all equal.
    """
    _check_ax(ax)
    if not isinstance(label_title, str):
        raise TypeError(f"label_title must be a str (the title of the labels' legend or "
                        f"colour bar), got {type(label_title).__name__}")
    X, what = _embedding_table(model_or_matrix, kind)                      # (n, d)
    n = X.shape[0]
    if max_points is not None:
        max_points = check_int(max_points, "max_points")
    rng = np.random.default_rng(check_random_state(random_state))
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise DataError(f"labels must have one entry per row of the {kind} embeddings, "
                            f"shape ({n},), got {labels.shape}")
        if labels.dtype.kind == "f" and np.isinf(labels).any():    # grey, yet not "missing"
            i = int(np.flatnonzero(np.isinf(labels))[0])
            raise DataError(f"labels[{i}] is {labels[i]}; numeric labels must be finite (or "
                            f"NaN, drawn in grey as missing)")
    Z, share = _pca_2d(X)                                                  # (n, 2), (2,)

    shown = n if max_points is None else min(n, max_points)
    order = rng.permutation(n)[:shown]                                     # (shown,)
    Z = Z[order]
    title = f"{what}, PCA ({n:,} × {X.shape[1]})"
    if shown < n:
        seed = (f"random_state={random_state}" if isinstance(random_state, (int, np.integer))
                else "a random_state draw")
        title += f"\n{shown:,} random points of {n:,} drawn ({seed})"
    size = float(np.clip(4000.0 / shown, 1.5, 20.0))                      # points², per dot
    alpha = float(np.clip(np.sqrt(2000.0 / shown), 0.15, 0.9))

    if ax is None:
        _, ax = subplots(figsize=(5.6, 5.2))
    kw = dict(s=size, alpha=alpha, linewidths=0, rasterized=shown > 5000)
    if labels is None:
        ax.scatter(Z[:, 0], Z[:, 1], color="C0", **kw)
    else:
        _labelled_scatter(ax, Z, labels, labels[order], kw, label_title)
    ax.set_xlabel(f"PC 1 ({100 * share[0]:.1f} % of variance)")
    ax.set_ylabel(f"PC 2 ({100 * share[1]:.1f} % of variance)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title, fontsize=9)
    return ax


def _labelled_scatter(ax, Z, all_labels, labels, kw, title="label"):
    """Dots coloured by category (a legend) or by number (a colour bar; NaN grey, and a legend
    entry "missing" says what grey means), ``title`` over the legend or colour bar."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.lines import Line2D
    numeric = all_labels.dtype.kind in "iuf"
    categorical = (not numeric or (all_labels.dtype.kind in "iu"
                                   and np.unique(all_labels).size <= 20))
    if not categorical:
        values = labels.astype(np.float64)
        cmap = colormaps["viridis"].with_extremes(bad="lightgrey")
        dots = ax.scatter(Z[:, 0], Z[:, 1], c=np.ma.masked_invalid(values), cmap=cmap,
                          plotnonfinite=True, **kw)
        bar = ax.figure.colorbar(ScalarMappable(norm=dots.norm, cmap=cmap), ax=ax,
                                 label=title, shrink=0.8)
        missing = int(np.isnan(values).sum())
        if missing:                # grey dots: say what they are, under the colour bar
            legend = ax.legend(
                handles=[Line2D([], [], linestyle="", marker="o", markersize=5,
                                color="lightgrey", label=f"missing ({missing:,})")],
                fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.01),
                bbox_transform=bar.ax.transAxes, frameon=False, borderaxespad=0.2,
                handletextpad=0.1)
            legend.set_in_layout(False)    # in the bar's spare height: the map keeps its size
        return
    names, counts = np.unique(all_labels.astype(str) if not numeric else all_labels,
                              return_counts=True)
    n_categories = names.size
    if names.size > 20:                        # the 19 largest categories, then "other"
        keep = np.sort(np.argsort(-counts, kind="stable")[:19])
        names = names[keep]
    palette = colormaps["tab10" if names.size <= 10 else "tab20"]
    keys = labels.astype(str) if not numeric else labels
    code = np.searchsorted(names, keys)                                    # (shown,)
    code = np.where((code < names.size) & (names[np.minimum(code, names.size - 1)] == keys),
                    code, names.size)                                      # names.size: other
    colours = np.array([palette(c % palette.N) for c in range(names.size)]
                       + [(0.6, 0.6, 0.6, 1.0)])                           # (n_names + 1, 4)
    ax.scatter(Z[:, 0], Z[:, 1], color=colours[code], **kw)
    handles = [Line2D([], [], linestyle="", marker="o", markersize=5, color=colours[c],
                      label=str(names[c])) for c in range(names.size)]
    if (code == names.size).any() or n_categories > names.size:
        handles.append(Line2D([], [], linestyle="", marker="o", markersize=5,
                              color=colours[-1], label="other"))
    ax.legend(handles=handles, fontsize=7, title=title, title_fontsize=7, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False)
