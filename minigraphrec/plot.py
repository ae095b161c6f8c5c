r"""Figures for tutorials and benchmarks: one place decides where PNGs go and how they are drawn.

Matplotlib is imported on first use, never by ``import minigraphrec``. When no display is
available (no ``$DISPLAY`` on Linux, or ``$MPLBACKEND`` unset on a headless machine) the
non-interactive Agg backend is selected before ``pyplot`` is first imported, so a script that
draws never opens a window and never blocks. In an editor or a notebook the usual inline
backend is left alone.

Figures are written as PNG into ``$MINIGRAPHREC_FIGURES`` when it is set, else into
``figures/`` under the current working directory; the folder is created on demand.

    >>> from minigraphrec import plot
    >>> fig, ax = plot.subplots()
    >>> lines = ax.plot([1, 2, 3], [1, 4, 9])
    >>> _ = ax.set(xlabel="x", ylabel="x²")
    >>> path = plot.save_figure(fig, "squares")     # figures/squares.png
"""
import os
import sys
from pathlib import Path

from .errors import DataError

__all__ = ["figure_dir", "subplots", "save_figure", "FIGURES_ENV"]

#: environment variable naming the folder :func:`save_figure` writes PNGs to (else ``figures/``)
FIGURES_ENV = "MINIGRAPHREC_FIGURES"


def _headless():
    """True where no GUI can open: no ``$DISPLAY``/``$WAYLAND_DISPLAY`` on Linux and the BSDs."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return False


def _pyplot():
    """``matplotlib.pyplot``, with Agg selected first when headless and no backend was chosen."""
    import matplotlib
    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND") and _headless():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def figure_dir():
    r"""The folder figures are written to, created if missing.

    ``$MINIGRAPHREC_FIGURES`` when set (relative paths are taken from the current directory),
    else ``./figures``.

    Returns
    -------
    pathlib.Path
    """
    folder = Path(os.environ.get(FIGURES_ENV) or "figures")
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


def save_figure(fig, name, dpi=120):
    r"""Write ``fig`` as ``<figure_dir()>/<name>.png``, close it, and return the path.

    The PNG is written to a temporary file in the same folder and renamed into place, so a
    failed save never leaves a half-written figure behind.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    name : str
        File stem, letters, digits, ``-``, ``_`` and ``.`` only (``".png"`` is appended if
        missing).
    dpi : int

    Returns
    -------
    pathlib.Path
        The written file.
    """
    if not callable(getattr(fig, "savefig", None)):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    if not isinstance(name, str):
        raise TypeError(f"name must be a str (a file stem), got {type(name).__name__}")
    stem = name[:-4] if name.endswith(".png") else name
    if not stem or not all(c.isalnum() or c in "-_." for c in stem):
        raise DataError(f"figure name {name!r} must be a plain file stem "
                        f"(letters, digits, '-', '_', '.')")
    path = figure_dir() / f"{stem}.png"
    tmp = path.with_name(f".{stem}.{os.getpid()}.tmp.png")
    try:
        fig.savefig(tmp, dpi=dpi, format="png")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
        _pyplot().close(fig)
    return path
