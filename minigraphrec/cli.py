r"""The ``minigraphrec`` command.

::

    minigraphrec demo                                  # synthetic data, baselines, a table
    minigraphrec train DATA [--test TEST] --model lightgcn -o model.npz
    minigraphrec train DATA --validation VALID -p patience=5 --checkpoint ck.npz -o model.npz
    minigraphrec train DATA --resume ck.npz [--epochs 10] -o model.npz
    minigraphrec evaluate model.npz TEST [-k 10 20]
    minigraphrec recommend model.npz --user ID [-k 10]
    minigraphrec explain model.npz --user ID --item ID [--k 10]
    minigraphrec sessions LOG --test-span 86400 [--model srgnn] [-o model.npz]

Nothing imports this module; it is the only place that prints. Results (metric tables,
recommendation lists, explanations, ``--json``) go to stdout; progress lines, notices and
warnings to stderr, so ``> results.txt`` keeps the results alone.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import json
import logging
import os
import re
import sys
import tempfile
import threading
import time

import numpy as np

from .errors import DataError

FORMATS = ("auto", "lightgcn", "triples", "movielens", "recbole")


# ------------------------------------------------------------------ output
def _note(text):
    """A progress line or a notice: on stderr, so that stdout holds the results alone."""
    print(text, file=sys.stderr, flush=True)


def _warn(text):
    """A warning of the command's own, on stderr as the library's logged ones are."""
    _note(f"minigraphrec: warning: {text}")


def _json_plain(value):
    """``value`` with NumPy scalars and arrays as Python ones and NaN or infinity as None,
    for JSON."""
    if isinstance(value, dict):
        return {str(k): _json_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


class _StdoutError(Exception):
    """Writing the results to standard output failed (a full disk, say; not a reader that
    left, which is a BrokenPipeError): ``args[0]`` is the OSError."""


def _out(text=""):
    """Print a line of the results on stdout; a failure to write it is a :class:`_StdoutError`,
    which :func:`_run` reports as standard output's."""
    try:
        print(text)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _StdoutError(exc) from None


def _flush_stdout():
    """Flush stdout (buffered when it is a file), so that a failure to write the results is
    reported as the command's, not by the interpreter at exit."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _StdoutError(exc) from None


def _print_json(obj):
    """``--json``: ``obj`` as one JSON object on one line of stdout."""
    _out(json.dumps(_json_plain(obj), ensure_ascii=False))


def _print_metrics(metrics, args):
    """The metrics (``mgr.evaluate``'s dict, or None: no test set) as a table, with the
    number of users they average over below it, or with ``--json`` as one JSON object,
    ``{"metrics": {name: value, ..., "n_users": n} or null}``."""
    if args.json:
        _print_json({"metrics": metrics})
    elif metrics is not None:
        rows = [{"metric": k, "value": v} for k, v in metrics.items() if k != "n_users"]
        _out(_table(rows, ["metric", "value"]))
        _out(f"(averaged over {metrics['n_users']:,} test users)")


#: what a cut-off above the catalogue means for the metrics (-k's warning)
_K_BEYOND_METRICS = ("at such a cut-off every list holds every candidate item, and "
                     "precision@k still divides by k")


def _warn_k_beyond(ks, n_items, consequence):
    """Warn, naming ``-k``, about cut-offs above the catalogue's ``n_items`` items (the
    library accepts them: a list holds at most every item)."""
    big = sorted({k for k in ks if k > n_items})
    if big:
        _warn(f"-k {' '.join(map(str, big))}: more than the model's {n_items} items; "
              f"{consequence}")


# ----------------------------------------------------------------- helpers
def _model_registry():
    """Model name (lower case) -> class, for every recommender at the top level."""
    import minigraphrec as mgr

    names = ["Popularity", "MF", "LightGCN", "GCN", "NGCF", "GAT", "ItemKNN", "UserKNN",
             "ContentBased", "EASE", "GFCF", "Hybrid"]
    return {n.lower(): getattr(mgr, n) for n in names if hasattr(mgr, n)}


#: one line per model for ``train --help``
MODEL_HELP = {
    "popularity": "items ranked by how many users took them (the baseline to beat)",
    "mf": "matrix factorisation trained with BPR or BCE (LightGCN with 0 layers)",
    "lightgcn": "LightGCN (He et al., SIGIR 2020): propagation only, layer mean",
    "gcn": "the article's GCN layer σ(Σ W h + b), with optional features and edge weights",
    "ngcf": "NGCF (Wang et al., SIGIR 2019): GCN plus element-wise interaction terms",
    "gat": "graph attention (Veličković et al., ICLR 2018) over the user–item graph",
    "itemknn": "item-based collaborative filtering: pruned cosine item–item similarities",
    "userknn": "user-based collaborative filtering: pruned cosine user–user similarities",
    "contentbased": "cosine between user profiles and item features (needs item features)",
    "ease": "EASE (Steck, WWW 2019): closed-form item–item ridge regression",
    "gfcf": "GF-CF (Shen et al., CIKM 2021): a training-free graph filter",
    "hybrid": "a normalised blend of models: -p models=itemknn,userknn -p weights=tune",
}


def _models_epilog(flag="--model"):
    width = max(map(len, MODEL_HELP))
    lines = [f"  {name.ljust(width)}  {text}" for name, text in MODEL_HELP.items()]
    return (f"models ({flag}):\n" + "\n".join(lines) + "\n\n"
            "-p KEY=VALUE sets any other constructor argument of the model, e.g. "
            "-p n_heads=4 for gat or -p l2=500 for ease; see help(minigraphrec.<Model>).")


def _parse_value(text):
    """'64' -> 64, '1e-3' -> 0.001, 'true' -> True, 'none' -> None, else the string."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        # deep nesting ('[[[...', '----1') exhausts the parser: no Python literal either, and
        # the model's check then names the value, rather than an out-of-memory message
        return text


def _parse_params(pairs):
    """``-p KEY=VALUE`` pairs -> ``{key: value}``; a key given twice stops the command."""
    params, given = {}, {}
    for pair in pairs or ():
        if "=" not in pair:
            raise SystemExit(f"minigraphrec: --param expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        key = key.strip().replace("-", "_")
        if key in given:
            raise SystemExit(f"minigraphrec: -p {given[key]} and -p {pair} both set {key}; "
                             "give one of them")
        params[key], given[key] = _parse_value(value), pair
    return params, given


def _flag_params(args, named, cls=None):
    """The hyperparameters set by ``-p KEY=VALUE`` and by the named flags (``--epochs``,
    ``--dim``, ...): ``(params, given, flags)``.

    ``named`` pairs each flag's attribute on ``args`` with the keyword it sets; ``given``
    is ``_parse_params``' record of the ``-p`` pairs, and ``flags`` names the flag that set
    each keyword, for messages. A keyword set by both a flag and ``-p`` stops the command
    (neither silently wins), as does ``--seed`` with ``-p random_state`` (``--seed`` itself
    is the caller's: it seeds the split as well). With ``cls``, a flag whose keyword is not
    one of its hyperparameters stops the command too.
    """
    params, given = _parse_params(args.param)
    flags = {key: f"-p {key}" for key in params}               # which flag set each keyword
    for flag, key in (*named, ("seed", "random_state")):
        value = getattr(args, flag)
        option = "--" + flag.replace("_", "-")
        if value is None:
            continue
        if key in given:
            raise SystemExit(f"minigraphrec: {option} {value} and -p {given[key]} both set "
                             f"{key}; give one of them")
        if flag == "seed":
            continue
        if cls is not None and key not in cls._param_names():
            raise SystemExit(f"minigraphrec: {option}: {cls.__name__} has no "
                             f"hyperparameter {key!r} (it is not trained by epochs)")
        params[key], flags[key] = value, option
    return params, given, flags


def _checked(convert, ok, expected):
    """An argparse type: ``convert(text)``, refused unless ``ok(value)``; ``expected`` says
    what is wanted. A bad value stops the command before it reads or trains anything."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value
    return parse


_positive_int = _checked(int, lambda v: v >= 1, "a positive integer")          # -k
_seed = _checked(int, lambda v: v >= 0, "an integer >= 0")                     # --seed
_fraction = _checked(float, lambda v: 0 <= v < 1, "a number in [0, 1)")        # --test-size
_open_fraction = _checked(float, lambda v: 0 < v < 1, "a number in (0, 1)")    # --test-fraction
_nonneg_number = _checked(float, lambda v: v >= 0 and np.isfinite(v),
                          "a finite number >= 0")                              # --test-span


def _encoding(name):
    """``--encoding``: an ASCII-compatible text encoding Python knows (the loaders' own check,
    before anything is read)."""
    from .datasets._parse import _check_encoding
    try:
        _check_encoding(name)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return name


def _separator(text):
    r"""``--sep``: the separator taken literally, but ``\t`` (backslash, t) for a tab; an
    empty one, or one holding a line break, is refused (the loader's rule) before any reading."""
    if not text or "\n" in text or "\r" in text:
        raise argparse.ArgumentTypeError(f"expected a non-empty separator without line breaks "
                                         f"(leave --sep out to detect it), got {text!r}")
    return "\t" if text == "\\t" else text


def _refuses_new_files(folder):
    """Why the existing ``folder`` takes no new file (the OS's reason), or None if it does:
    the one sure test, making (and dropping) a file there."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".minigraphrec-check-"):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _same_file(a, b):
    """Whether the paths ``a`` and ``b`` name one file: the same inode where both exist (a
    hard link, a symbolic link, another spelling), else the same resolved path."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def _files_read(data, test, validation=None):
    """The files a ``train`` run reads, as ``(path, words for it)``: DATA (for a folder, the
    MovieLens-100K files the loader reads in it), ``--test`` and ``--validation``. (The
    ``--resume`` model is not among them: it is read whole before training, so ``-o`` and
    ``--checkpoint`` may write the continued model over it.)"""
    files = []
    if data and os.path.isdir(data):
        files += [(os.path.join(data, name), f"the data folder {data}'s {name}")
                  for name in ("u.data", "u.user", "u.item")]
    elif data:
        files.append((data, f"the input file {data}"))
    if test:
        files.append((test, f"the --test file {test}"))
    if validation:
        files.append((validation, f"the --validation file {validation}"))
    return files


def _check_not_read(flag, path, reads):
    """Stop if ``path`` (what ``flag`` writes) is one of the files the run reads (``reads``,
    from :func:`_files_read`): writing it would replace the data."""
    for given, words in reads:
        if _same_file(path, given):
            raise SystemExit(f"minigraphrec: {flag}: {path} is {words}; saving would "
                             "overwrite it")


def _holds_other_data(path):
    """Whether ``path`` is a regular file (not a symbolic link: saving replaces the link, not
    its target) that holds something, and not a zip archive such as a saved model: saving
    there would destroy it. An unreadable file is left to the other checks."""
    import stat
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError:
        return False
    from .datasets._parse import ZIP_MAGIC           # every saved model is a zip (.npz)
    return bool(magic) and magic not in ZIP_MAGIC


def _npz_name(path):
    """``path`` with its extension (and a .gz after it) as ``.npz``: ``ratings.csv`` ->
    ``ratings.npz``, for messages."""
    stem = path[:-3] if path.lower().endswith(".gz") else path
    return os.path.splitext(stem)[0] + ".npz"


def _check_output(path, reads=(), flag="-o"):
    """Stop unless the model can be saved at ``path`` (``flag``: ``-o`` or ``--checkpoint``):
    not a folder, not another kind of file that is no regular file (a device, a FIFO, a
    socket: the save would replace it, :mod:`minigraphrec._atomic`), not one of the files the
    run reads (``reads``, from :func:`_files_read`), not a read-only file, not an existing file
    that holds something else than a saved model (a data file the run does not read, say; a
    model, or an empty file, may be replaced), in a folder that exists and is writable.
    Checked before the data are read."""
    if not path:
        raise SystemExit(f"minigraphrec: {flag}: give a file name, e.g. {flag} model.npz")
    if os.path.isdir(path) or path.endswith(("/", os.sep)):
        raise SystemExit(f"minigraphrec: {flag}: {path} names a folder; give a file name, e.g. "
                         f"{os.path.join(path, 'model.npz')}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        parent = folder
        while parent and not os.path.exists(parent) and os.path.dirname(parent) != parent:
            parent = os.path.dirname(parent)
        what = (f"{parent} is a file, not a folder" if os.path.exists(parent)
                and not os.path.isdir(parent) else f"the folder {folder} does not exist")
        raise SystemExit(f"minigraphrec: {flag}: cannot save to {path}: {what}")
    import stat
    with contextlib.suppress(OSError):               # nothing there: a new file
        mode = os.lstat(path).st_mode                # a symbolic link is replaced, as a file
        if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            from ._atomic import _kind
            raise SystemExit(f"minigraphrec: {flag}: cannot save to {path}: it is "
                             f"{_kind(mode)}, not a regular file, and would be replaced; "
                             f"remove it first or choose another name")
    refused = _refuses_new_files(folder)
    if refused:
        raise SystemExit(f"minigraphrec: {flag}: cannot save to {path}: the folder {folder} "
                         f"takes no new file ({refused})")
    _check_not_read(flag, path, reads)
    if os.path.isfile(path) and not os.access(path, os.W_OK):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        raise SystemExit(f"minigraphrec: {flag}: cannot save to {path}: the file is read-only "
                         f"(mode {mode:04o}) for you; make it writable, remove it or choose "
                         "another name")
    if _holds_other_data(path):
        other = _npz_name(path)
        example = f", e.g. {other}" if other != path and not os.path.exists(other) else ""
        raise SystemExit(f"minigraphrec: {flag}: {path} exists and is not a model file saved by "
                         f"minigraphrec (a data file?); saving would replace it: remove it first "
                         f"or choose another name{example}")


def _check_figure(name):
    """The file stem of ``--figure`` (a PNG into ``./figures`` or ``$MINIGRAPHREC_FIGURES``),
    checked before any data are read, as is the folder: one that is or can be created (its
    nearest existing ancestor is a folder) and takes a new file. Nothing is created here."""
    if name is None:
        return None
    from .plot import FIGURES_ENV, _figure_folder, _figure_stem
    try:
        stem = _figure_stem(name)
    except DataError as exc:
        raise SystemExit(f"minigraphrec: --figure: {exc}") from None
    given = os.environ.get(FIGURES_ENV)
    folder = os.path.abspath(_figure_folder())
    where = (f"${FIGURES_ENV} names {given}" if given else
             f"the default ./figures; ${FIGURES_ENV} names another folder")
    existing = folder
    while not os.path.exists(existing):       # the folder is created on demand, from here
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise SystemExit(f"minigraphrec: --figure: cannot write into the figure folder "
                         f"{folder} ({where}): {existing} is a file, not a folder")
    refused = _refuses_new_files(existing)
    if refused:
        raise SystemExit(f"minigraphrec: --figure: cannot write into the figure folder "
                         f"{folder} ({where}): {existing} takes no new file ({refused})")
    target = os.path.join(folder, f"{stem}.png")
    if os.path.isdir(target):
        raise SystemExit(f"minigraphrec: --figure: cannot write {target}: it is a folder; "
                         f"remove it or choose another --figure name")
    return stem


def _figure_target(stem):
    """The PNG file ``--figure`` writes for ``stem``."""
    from .plot import _figure_folder
    return os.path.join(os.path.abspath(_figure_folder()), f"{stem}.png")


def _reason(exc):
    """What went wrong, in words: an OSError's own text without its errno, an error without
    a message (a MemoryError, say) by its type, an unexpected one's type in front."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, ValueError) and str(exc):         # DataError is a ValueError
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _joined(text, more):
    """``text`` and then ``more`` (``"; the model was saved to m.npz"``, or ""), the final "."
    of ``text`` dropped when ``more`` follows it: a library message ends in one, and ".;"
    would join them."""
    return (text[:-1] if more and text.endswith(".") else text) + more


def _save_plot(draw, stem, saved=None):
    """Draw (``draw()`` returns the Axes) and save the ``--figure``; any failure (an OSError,
    matplotlib's ValueError or RuntimeError, a MemoryError) is one line naming the flag and
    the file and, where the model was saved before it, saying so (``saved``, its path).
    Ctrl-C is let through: :func:`main` reports it."""
    from .plot import _figure_folder, save_figure
    kept = f"; the model was saved to {saved}" if saved else ""
    try:
        figure = draw().figure
    except Exception as exc:                 # e.g. nothing to draw
        if _is_interrupt(exc):
            raise
        raise SystemExit(f"minigraphrec: --figure: cannot draw the figure: "
                         f"{_joined(_reason(exc), kept)}") from None
    try:
        path = save_figure(figure, stem)
    except Exception as exc:
        if _is_interrupt(exc):
            raise
        reason = _reason(exc)
        if f"{stem}.png" not in reason:      # save_figure's OSErrors name the file already
            reason = f"cannot write {os.path.join(_figure_folder(), stem + '.png')}: {reason}"
        raise SystemExit(f"minigraphrec: --figure: {_joined(reason, kept)}") from None
    _note(f"wrote {path}")


def _check_hyperparameters(model):
    """Run the model's own hyperparameter checks (and its components'), which ``fit`` runs
    too, so that a bad value stops the command before the data are read; a value of the
    wrong type that a check trips over (a TypeError) is a ValueError here."""
    for m in [model, *getattr(model, "models", ())]:
        try:
            m._check_own_params()
        except TypeError as exc:
            raise ValueError(f"{type(m).__name__}: a hyperparameter has the wrong type: "
                             f"{exc}") from None


def _save_model(model, path):
    """``mgr.save``, an OS failure (disk full, say) reported as ``-o``'s: save names ``path``,
    not the temporary file it writes first."""
    import minigraphrec as mgr

    try:
        mgr.save(model, path)
    except OSError as exc:
        raise SystemExit(f"minigraphrec: -o: {exc.strerror or exc}") from None


#: the lines of a .txt file that :func:`_guess_format` looks at
_TXT_SAMPLE = 1000


def _txt_field_counts(path):
    """The field counts of the first ``_TXT_SAMPLE`` non-blank lines of ``path`` (gzip read
    as such), as a set, and the number of lines seen; an unreadable file gives an empty set
    (the loader then says what is wrong)."""
    from .datasets._parse import _open_binary
    counts, n = set(), 0
    try:
        with _open_binary(path) as f:
            for raw in f:
                fields = raw.split()
                if fields:
                    counts.add(len(fields))
                    n += 1
                    if n == _TXT_SAMPLE:
                        break
    except (OSError, DataError):
        return set(), 0
    return counts, n


def _guess_format(path):
    """The format ``--format auto`` reads ``path`` in, from its name (and a .txt's lines).

    A folder is movielens, ``.inter`` recbole, ``.csv`` / ``.tsv`` / ``.dat`` / ``.data``
    triples (``.gz`` after any of them too). A ``.txt`` is lightgcn (``user item item ...``,
    whose lines vary in length), unless its first ``_TXT_SAMPLE`` lines all have 3 fields,
    or all 4: such lines read as ``user item rating [timestamp]`` triples as well, so the
    command stops and asks for ``--format``.
    """
    if os.path.isdir(path):
        return "movielens"
    name = os.path.basename(path).lower()
    if name.endswith(".npz"):
        raise SystemExit(f"minigraphrec: {path} is a .npz file, such as a model saved by "
                         "`minigraphrec train -o`, not a data file; evaluate, recommend and "
                         "explain take a model, train a data file (.csv, .tsv, .txt, .inter, "
                         "a MovieLens-100K folder)")
    if name.endswith(".gz"):                 # the loaders decompress it; the name says the rest
        name = name[:-3]
    if name.endswith(".inter"):
        return "recbole"
    if name.endswith((".csv", ".tsv", ".dat", ".data")):
        return "triples"
    if name.endswith(".txt"):
        counts, n = _txt_field_counts(path)
        if counts in ({3}, {4}):
            k = counts.pop()
            raise SystemExit(f"minigraphrec: cannot guess the format of {path!r}: each of its "
                             f"first {n} line(s) has {k} fields, which reads as LightGCN lists "
                             f"('user item item ...', {k - 1} items per user) or as 'user item "
                             f"rating{' timestamp' if k == 4 else ''}' triples; give "
                             f"--format lightgcn or --format triples")
        return "lightgcn"
    raise SystemExit(f"minigraphrec: cannot guess the format of {path!r}; "
                     f"give --format (one of {', '.join(FORMATS[1:])})")


#: loader keyword -> (its flag, the formats whose loader takes it)
LOADER_OPTIONS = {"sep": ("--sep", ("triples",)),
                  "header": ("--header/--no-header", ("triples",)),
                  "columns": ("--columns", ("triples",)),
                  "time_unit": ("--time-unit", ("triples",)),
                  "quoting": ("--no-quoting", ("triples", "recbole")),
                  "on_missing": ("--on-missing", ("triples", "recbole")),
                  "comments": ("--comments", ("triples",)),
                  "encoding": ("--encoding", ("triples", "recbole"))}


def _add_loader_options(p, group=True, columns_help=None):
    """``--sep``, ``--header`` / ``--no-header``, ``--columns``, ``--time-unit``,
    ``--no-quoting``, ``--on-missing``, ``--comments``, ``--encoding``: how to read a
    delimited file; each goes to the loader only when given. ``group=False``: into ``p``
    itself (an argument group of the caller's); ``columns_help``: ``--columns``' help where
    the roles differ (a session log's)."""
    g = p if not group else p.add_argument_group(
        "reading the data file (delimited triples; --no-quoting, --on-missing and "
        "--encoding: recbole too)")
    g.add_argument("--sep", type=_separator, metavar="SEP",
                   help="the field separator, taken literally (',', ';', '::'); '\\t' for a "
                        "tab, '\\s+' for runs of whitespace (default: detected: '::', tab, "
                        "',' or ';', whichever the first line holds; if it holds several, "
                        "the one that splits the first 20 lines evenly into the most fields, "
                        "else an error asks for --sep)")
    g.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                   help="the first line is (--header) or is not (--no-header) a header "
                        "(default: guessed where certain, else an error asks for one of them)")
    g.add_argument("--columns", metavar="ROLES",
                   help=columns_help or
                   "the role of each field, in order, from user, item, rating, timestamp, "
                   "'-' to skip one: e.g. item,user,rating,timestamp (default: by the "
                   "header's names, else user,item[,rating[,timestamp]])")
    g.add_argument("--time-unit", choices=("s", "ms", "us", "ns", "none"),
                   help="the unit of numeric timestamps, converted to seconds (default s; "
                        "'none' keeps them as written); ISO-8601 ones are read as seconds")
    g.add_argument("--no-quoting", dest="quoting", action="store_false", default=None,
                   help='read " as an ordinary character (a TSV whose names hold quotes) '
                        "instead of as CSV quoting")
    g.add_argument("--on-missing", choices=("error", "drop", "keep"),
                   help="a line whose user or item id is empty or a missing-value mark (NA, "
                        "null, ...): stop with an error (default), drop it (counted in a "
                        "warning), or keep the mark as an id")
    g.add_argument("--comments", metavar="PREFIX",
                   help="lines starting with PREFIX above the first data line are skipped "
                        "(default '#'; '' for none)")
    g.add_argument("--encoding", type=_encoding,
                   help="text encoding of the file (default utf-8), e.g. latin-1")


def _loader_options(args):
    """The loader keyword arguments given on the command line."""
    options = {key: getattr(args, key, None) for key in LOADER_OPTIONS}
    options = {key: value for key, value in options.items() if value is not None}
    if options.get("comments") == "":
        options["comments"] = None                     # --comments '': no comment lines
    if options.get("time_unit") == "none":
        options["time_unit"] = None                    # --time-unit none: as written
    return options


def _load(path, test=None, fmt="auto", on_unknown="error", options=None):
    """Load DATA (and TEST) with the loader for ``fmt``; returns (train, test or None).

    ``options`` (from :func:`_loader_options`) go to the loader; :func:`_hint` names the
    flag where its message names a loader argument.
    """
    from . import datasets

    fmt = _guess_format(path) if fmt == "auto" else fmt
    options = options or {}
    for key, (flag, formats) in LOADER_OPTIONS.items():
        if key in options and fmt not in formats:
            raise SystemExit(f"minigraphrec: {flag} applies to {' and '.join(formats)} files "
                             f"only, and {path} is read as {fmt}")
    if fmt == "movielens":
        if test is not None:
            raise SystemExit("minigraphrec: the MovieLens folder has no separate test file; "
                             "use --test-size to split it")
        return datasets.load_movielens_100k(path), None
    loader = {"lightgcn": datasets.load_lightgcn, "triples": datasets.load_triples,
              "recbole": datasets.load_recbole}[fmt]
    try:
        if test is None:
            return loader(path, **options), None
        return loader(path, test_path=test, on_unknown=on_unknown, **options)
    except OSError as exc:                   # a failed read names no file: say which
        if exc.filename is not None or isinstance(exc, BrokenPipeError):
            raise
        from ._atomic import reworded
        which = path if test is None else f"{path} or the test file {test}"
        raise reworded(exc, f"cannot read {which}") from None


def _cell(value, floatfmt):
    """A table cell: a float by ``floatfmt``, NaN (a metric undefined here: the AUC of users
    with no test item left to rank, say) as ``n/a``."""
    if isinstance(value, float):
        return floatfmt.format(value) if not np.isnan(value) else "n/a"
    return str(value)


def _table(rows, columns, floatfmt="{:.4f}"):
    """A plain-text table: rows is a list of dicts, columns the keys to show."""
    cells = [[str(c) for c in columns]]
    for row in rows:
        cells.append([_cell(row.get(c, ""), floatfmt) for c in columns])
    widths = [max(len(r[j]) for r in cells) for j in range(len(columns))]
    lines = ["  ".join(r[j].rjust(widths[j]) if j else r[j].ljust(widths[j])
                       for j in range(len(columns))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class _Progress:
    """Prints one line per step with its time, on stderr:
    ``[2/4] fitting Popularity ... 0.01 s``."""

    def __init__(self, n_steps):
        self.n_steps, self.step = n_steps, 0

    def __call__(self, text):
        self.step += 1
        sys.stderr.write(f"[{self.step}/{self.n_steps}] {text} ... ")
        sys.stderr.flush()
        self.t0 = time.perf_counter()
        return self

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            _note(f"{time.perf_counter() - self.t0:.2f} s")
        else:
            _note("interrupted" if _is_interrupt(value) else "failed")


def _is_interrupt(exc):
    """Whether ``exc`` is Ctrl-C, or an error raised because Ctrl-C arrived inside compiled
    code: numba's dispatcher, interrupted while it loads a cached function, raises a
    SystemError with the KeyboardInterrupt as its cause."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _epoch_printer(name):
    def callback(record):
        extra = "  ".join(f"{k} {v:.4f}" for k, v in record.items()
                          if k not in ("epoch", "loss", "time") and isinstance(v, float))
        _note(f"    {name} epoch {record['epoch']:>4d}  loss {record['loss']:.5f}  "
              f"{record['time']:.2f} s  {extra}".rstrip())
    return callback


def _fit(model, train, validation=None, verbose=True, epochs=None, resume=False,
         checkpoint=None):
    """Fit, passing a validation set and a per-epoch printer where the model takes them;
    ``epochs`` and ``resume`` go to ``fit`` when given, and ``checkpoint(record)`` (which
    saves the model) is called after each epoch's line is printed."""
    import inspect

    accepted = inspect.signature(model.fit).parameters
    kwargs = {}
    if validation is not None and "validation" in accepted:
        kwargs["validation"] = validation
    if epochs is not None:
        kwargs["epochs"] = epochs
    if resume:
        kwargs["resume"] = True
    calls = []
    if verbose and "callback" in accepted:
        calls.append(_epoch_printer(type(model).__name__))
    if checkpoint is not None:
        calls.append(checkpoint)
    if calls:
        def callback(record):
            for call in calls:
                call(record)
        kwargs["callback"] = callback
    if not verbose:
        return model.fit(train, **kwargs)
    with _progress_lines():
        return model.fit(train, **kwargs)


class _ProgressPrinter(logging.Handler):
    def emit(self, record):
        _note(f"    {record.getMessage()}")


_PROGRESS_LOCK = threading.Lock()
_progress_users = [0, None]                 # fits printing progress now; the logger's state


@contextlib.contextmanager
def _progress_lines():
    """The library's lines inside a long epoch (every 30 s: the batch, the time left) printed
    as the epoch lines are, between them, while the fit runs, with or without -v. The
    logger's state is set by the first of overlapping fits (``main`` called from two
    threads) and restored by the last."""
    log = logging.getLogger("minigraphrec.progress")
    with _PROGRESS_LOCK:
        if _progress_users[0] == 0:
            handler = _ProgressPrinter()
            _progress_users[1] = (handler, log.level, log.propagate)
            log.addHandler(handler)
            log.setLevel(logging.DEBUG)     # a fit logs them at DEBUG unless verbose=True
            log.propagate = False           # printed here only, not again by -v's handler
        _progress_users[0] += 1
    try:
        yield
    finally:
        with _PROGRESS_LOCK:
            _progress_users[0] -= 1
            if _progress_users[0] == 0:
                handler, level, propagate = _progress_users[1]
                log.removeHandler(handler)
                log.setLevel(level)
                log.propagate = propagate


# ---------------------------------------------------------------- commands
def cmd_demo(args):
    import minigraphrec as mgr
    from . import datasets, split

    registry = _model_registry()
    names = [n.lower() for n in args.models]
    for n in names:
        if n not in registry:
            raise SystemExit(f"minigraphrec: --models: unknown model {n!r}; available: "
                             f"{', '.join(registry)}")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SystemExit(f"minigraphrec: --models: {', '.join(twice)} given more than once; "
                         "each model is compared once")
    models = []                                        # made and checked before any data
    for n in names:
        takes = registry[n]._param_names()
        params = {"random_state": args.seed} if "random_state" in takes else {}
        if args.epochs is not None and "epochs" in takes:
            params["epochs"] = args.epochs
        models.append(_checked_model(registry, n, params, args.seed,    # hybrid: itemknn+userknn
                                     {"epochs": "--epochs", "random_state": "--seed"}))
    figure = _check_figure(args.figure)
    progress = _Progress(2 + len(names))
    with progress("generating the synthetic default data set"):
        data = datasets.synthetic(random_state=args.seed)
    with progress("splitting it 80/20 per user"):
        train, test = split.random_split(data, test_size=0.2, random_state=args.seed)
    _note(f"    {data}")
    from .data import _count
    _note(f"    train: {_count(len(train), 'interaction')}, test: "
          f"{_count(len(test), 'interaction')}")
    rows, fitted, results = [], {}, {}
    for name, model in zip(names, models):
        progress.step += 1
        _note(f"[{progress.step}/{progress.n_steps}] fitting {type(model).__name__}")
        args.doing = f"training {type(model).__name__}"
        t0 = time.perf_counter()
        _fit(model, train)
        fit_time = time.perf_counter() - t0
        args.doing = f"evaluating {type(model).__name__}"
        metrics = mgr.evaluate(model, test, k=(10, 20))
        args.doing = None
        rows.append({"model": type(model).__name__, **metrics})
        results[type(model).__name__] = metrics
        fitted[name] = model
        _note(f"    done in {fit_time:.2f} s")
    # the fit times are on stderr ("done in"): stdout holds only what the seed decides, so
    # that two runs with one --seed print the same
    _out(_table(rows, ["model", "recall@20", "ndcg@20", "precision@20", "hit@20",
                       "coverage@20"]))
    _out()
    users = np.array([0, 1, 2])
    for name, model in fitted.items():
        items, _ = model.recommend(users, k=5)
        _out(f"{type(model).__name__} top-5 for users {', '.join(map(str, data.user_ids[users]))}:")
        for u, row in zip(users, items):
            test_items = set(test.items[test.users == u].tolist())
            shown = [f"{data.item_ids[i]}{'*' if i in test_items else ''}" for i in row if i >= 0]
            _out(f"    user {data.user_ids[u]}: {' '.join(shown)}")
    _out("(* = a held-out test item of that user)")
    if figure is not None:
        from .plot import plot_metrics

        def draw():
            ax = plot_metrics(results)
            ax.set_title(f"demo: {len(data):,} synthetic interactions, 80/20 split (seed "
                         f"{args.seed})", fontsize=9)
            return ax
        _save_plot(draw, figure)
    return 0


def _make_model(registry, name, params, seed=0):
    """An unfitted model; ``hybrid`` takes ``models=a,b,c``, names of its components, each
    seeded with ``seed`` where it has a ``random_state``."""
    if name != "hybrid":
        return registry[name]().set_params(**params)
    given = params.pop("models", "itemknn,userknn")
    names = given if isinstance(given, (list, tuple)) else str(given).split(",")
    # -p models=[...] may hold numbers or None; only names of the other models are components
    unknown = [n for n in names if not isinstance(n, str) or n.strip().lower() not in registry
               or n.strip().lower() == "hybrid"]
    if unknown:
        choices = ", ".join(n for n in registry if n != "hybrid")
        raise ValueError(f"hybrid: models={given!r} holds {', '.join(map(repr, unknown))}, not "
                         f"the name of a component model; give names separated by commas, "
                         f"from {choices}")
    components = [registry[n.strip().lower()]() for n in names]
    for m in components:
        if "random_state" in m._param_names():
            m.set_params(random_state=seed)
    return registry["hybrid"](components).set_params(**params)


def _named(exc, flags):
    """``exc``'s message with the flag that set the keyword it names first in front of it
    (``flags`` maps keywords to flags: ``--layers: MF has no hyperparameter 'n_layers'``)."""
    found = [(m.start(), flag) for key, flag in flags.items()
             if (m := re.search(rf"\b{re.escape(key)}\b", str(exc)))]
    return f"{min(found)[1]}: {exc}" if found else str(exc)


def _checked_model(registry, name, params, seed, flags):
    """:func:`_make_model`, then the model's own hyperparameter checks, before any data are
    read. A refused value stops the command naming the flag that set it: ``flags`` maps the
    keywords to their flags (``{"n_layers": "--layers", "l2": "-p l2"}``), and the one the
    message names first is put in front of it (``--layers: MF has no hyperparameter
    'n_layers'``)."""
    try:
        model = _make_model(registry, name, params, seed)
        _check_hyperparameters(model)
    except ValueError as exc:
        raise SystemExit(f"minigraphrec: {_named(exc, flags)}") from None
    return model


def _trainable(registry):
    """The names of the models trained by epochs (they have ``loss_and_grad``)."""
    return [n for n, cls in registry.items() if hasattr(cls, "loss_and_grad")]


#: train's flags that only models trained by epochs take, and what each is for
_EPOCH_FLAGS = (("validation", "--validation", "early stopping needs epochs to stop"),
                ("checkpoint", "--checkpoint", "there is no epoch to save after"),
                ("resume", "--resume", "there is no epoch to continue from"))


def _resumed_model(args, registry, params, given, flags):
    """The model saved in ``--resume``, with the flags' hyperparameters set, and the number
    of epochs to train it on. Refused, before any data are read: a file that holds no model
    trained by epochs or no state to continue from, a ``--model`` other than its class, a
    flag that changes a hyperparameter that defines the model (``--dim``, ``--layers``, ...:
    only how training proceeds may change). ``--epochs`` (or ``-p epochs``) is the number of
    epochs *more*; without it, the rest of the saved model's ``epochs``."""
    import minigraphrec as mgr

    path = args.resume
    if not os.path.exists(path):
        raise SystemExit(f"minigraphrec: --resume: no such file: {path}")
    try:
        model = mgr.load(path)
    except DataError as exc:
        raise SystemExit(f"minigraphrec: --resume: {exc}") from None
    cls = type(model).__name__
    if not hasattr(model, "loss_and_grad"):
        raise SystemExit(f"minigraphrec: --resume: the model in {path} is {cls}, which is not "
                         f"trained by epochs; only {', '.join(_trainable(registry))} models can "
                         "be resumed")
    if args.model is not None and registry[args.model] is not type(model):
        raise SystemExit(f"minigraphrec: --model {args.model}: the model in {path} is {cls}; "
                         "leave --model out when resuming")
    missing = [a for a in ("history_", "optimizer_state_", "rng_state_")
               if getattr(model, a, None) is None]
    if missing:
        raise SystemExit(f"minigraphrec: --resume: {path} holds no training state to continue "
                         f"from (no {', '.join(missing)}: saved by an older minigraphrec?); "
                         "train it anew")
    current = model.get_params()
    free = getattr(model, "_resume_may_change", ())
    for key, value in params.items():
        if key == "epochs":
            continue
        if key in current and key not in free and current[key] != value:
            shown = f"-p {given[key]}" if flags[key] == f"-p {key}" else f"{flags[key]} {value}"
            raise SystemExit(f"minigraphrec: {shown}: the {cls} in {path} has "
                             f"{key}={current[key]!r}, and a resumed run cannot change it; "
                             f"only {', '.join(k for k in free if k in current)} may change")
    more = params.pop("epochs", None)
    try:
        model.set_params(**params)
        _check_hyperparameters(model)
    except ValueError as exc:
        raise SystemExit(f"minigraphrec: {_named(exc, flags)}") from None
    done = len(model.history_)
    if more is not None and (not isinstance(more, int) or isinstance(more, bool) or more < 0):
        raise SystemExit(f"minigraphrec: {flags['epochs']}: the number of epochs more must be "
                         f"an integer >= 0, got {more!r}")
    if more is None:
        more = model.epochs - done
        if more <= 0:
            raise SystemExit(f"minigraphrec: --resume: {path} has trained {done} epochs, all "
                             f"the {model.epochs} it was set to; give --epochs N to train N "
                             "more")
    model.set_params(epochs=done + more)         # the saved file then says the epochs run
    return model, done, more


def _checkpoint_saver(model, args):
    """``--checkpoint``'s callback: save the model (atomically, :mod:`minigraphrec._atomic`)
    after each epoch and note which epoch the file holds (``args.checkpointed``), for the
    message of an interruption or a failure."""
    def save(record):
        try:
            model.save(args.checkpoint)
        except OSError as exc:
            reason = _joined(str(exc.strerror or exc), _checkpoint_kept(args))
            raise SystemExit(f"minigraphrec: --checkpoint: {reason}") from None
        args.checkpointed = record["epoch"]
    return save


def _checkpoint_kept(args):
    """``; the checkpoint ck.npz holds epoch 3`` once a checkpoint was saved, else ''."""
    if getattr(args, "checkpointed", None) is None:
        return ""
    return (f"; the checkpoint {args.checkpoint} holds epoch {args.checkpointed} (--resume "
            f"{args.checkpoint} continues from it)")


def _note_best_epoch(model):
    """After a fit with validation: the epoch whose parameters the model holds, its score,
    and whether early stopping ended the run before its ``epochs``."""
    from .metrics import metric_key, parse_metric

    if model.best_epoch_ is None:                        # no epoch trained
        return
    name, k = parse_metric(model.metric)
    key = metric_key(name, k or 20)
    record = next((r for r in model.history_ if r["epoch"] == model.best_epoch_), {})
    last = model.history_[-1]["epoch"] if model.history_ else 0
    if last < model.epochs:
        _note(f"stopped early after epoch {last} of {model.epochs}: no better {model.metric} "
              f"on the validation data for {model.patience} epochs")
    score = f" ({model.metric} {record[key]:.4f})" if key in record else ""
    _note(f"best epoch {model.best_epoch_}{score}: the model holds its parameters")


def _check_validation(args):
    """``--validation``: an existing file, not DATA nor ``--test`` (validation data are held
    out from both: early stopping picks the epoch by them), and not with a MovieLens folder,
    whose loader takes no second file (as for ``--test``)."""
    path = args.validation
    if not os.path.exists(path):
        raise SystemExit(f"minigraphrec: --validation: no such file or folder: {path}")
    if args.test and _same_file(path, args.test):
        raise SystemExit(f"minigraphrec: --validation: {path} is the --test file "
                         f"{args.test}; validate on other interactions than the test ones "
                         "(early stopping picks the epoch by them)")
    for given, words in _files_read(args.data, None):
        if _same_file(path, given):
            raise SystemExit(f"minigraphrec: --validation: {path} is {words}; validate on "
                             "interactions held out from training")
    fmt = _quiet_guess(args.data) if args.format == "auto" else args.format
    if fmt == "movielens":
        raise SystemExit("minigraphrec: --validation: the MovieLens folder is read as a whole, "
                         "with no separate file; give its interactions as a triples file "
                         "(u.data, --format triples) to add --validation")


def _load_validation(args, train):
    """``--validation``'s interactions, read in DATA's format with the loader options (as
    ``--test`` is) and put into the training data's id space by raw id (as ``evaluate`` does
    with its test file): an id training never saw stops the command, or with
    ``--on-unknown drop`` is left out, with a warning saying how many."""
    fmt = _guess_format(args.data) if args.format == "auto" else args.format
    validation, _ = _load(args.validation, None, fmt, options=_loader_options(args))
    validation = validation.align(train.user_ids, train.item_ids, on_unknown=args.on_unknown,
                                  source=f"the --validation file {args.validation}")
    if validation.n_dropped and len(validation) == 0:
        raise DataError(f"{args.validation}: every validation interaction has an id training "
                        f"never saw ({validation.n_dropped}); is it this data's validation "
                        "file?")
    if validation.n_dropped:
        _warn(f"{args.validation}: dropped {validation.n_dropped} of "
              f"{validation.n_dropped + len(validation)} validation interactions whose user "
              f"or item training never saw (--on-unknown drop)")
    R = train.to_csr()
    seen = np.asarray(R[validation.users, validation.items]).ravel() != 0 if len(validation) \
        else np.zeros(0, dtype=bool)
    if seen.any() and not seen.all():     # all: the library says there is nothing to validate
        # evaluation leaves them out anyway, and would warn about them after every epoch
        _warn(f"{args.validation}: left out {int(seen.sum())} of {len(validation)} validation "
              "interactions that are training pairs too (they cannot be recommended)")
        validation = validation.subset(~seen)
    return validation


def _seen(model, *more):
    """The pairs ``evaluate`` leaves out of the test rankings: None (the model's training
    pairs) when ``more`` holds no Interactions; else the training pairs and those of
    ``more`` (in the model's ids): ``train --validation``'s pairs, which the model did not
    train on but which chose its epoch (RecBole's full-ranking test leaves them out too),
    or ``evaluate --exclude``'s."""
    more = [m for m in more if m is not None]
    if not more:
        return None
    from .data import Interactions
    R = model.R_.tocoo()
    return Interactions(np.concatenate([R.row] + [m.users for m in more]),
                        np.concatenate([R.col] + [m.items for m in more]),
                        n_users=model.n_users_, n_items=model.n_items_,
                        user_ids=model.user_ids_, item_ids=model.item_ids_)


def cmd_train(args):
    r"""Check every argument, then load, split, fit, evaluate, save and (last) draw.

    Nothing is read before the arguments (models, hyperparameters, -o, --checkpoint,
    --figure, the --resume model) are checked, and the model is saved only once everything
    before succeeded: a failed run writes no file but the checkpoints of the epochs it
    finished; the figure comes after the model, and its failure says the model was saved.
    ``--seed`` defaults to 0, so the same command gives the same split and model.
    """
    import minigraphrec as mgr
    from . import split

    registry = _model_registry()
    name = "lightgcn" if args.model is None else args.model.lower()
    if name not in registry:
        raise SystemExit(f"minigraphrec: unknown model {args.model!r}; available: {', '.join(registry)}")
    if args.test is not None and args.test_size:
        raise SystemExit("minigraphrec: give --test or --test-size, not both")
    seed = 0 if args.seed is None else args.seed
    params, given, flags = _flag_params(args, (
        ("epochs", "epochs"), ("dim", "dim"), ("layers", "n_layers"), ("lr", "lr"),
        ("batch_size", "batch_size"), ("reg", "reg"), ("loss", "loss")))
    epochs, resumed = None, None
    if args.resume is not None:
        # --seed seeds the split alone: a resumed run goes on with the saved generator
        model, resumed, epochs = _resumed_model(args, registry, params, given, flags)
    else:
        # --seed also seeds the split, so the model may have no random_state; -p random_state
        # (without --seed) seeds the model alone
        if "random_state" in registry[name]._param_names() and "random_state" not in params:
            params["random_state"], flags["random_state"] = seed, "--seed"
        model = _checked_model(registry, name, params, seed, flags)
        for attr, flag, why in _EPOCH_FLAGS:
            if getattr(args, attr) is not None and not hasattr(model, "loss_and_grad"):
                raise SystemExit(f"minigraphrec: {flag}: {type(model).__name__} is not trained "
                                 f"by epochs, so {why}; {flag} applies to "
                                 f"{', '.join(_trainable(registry))}")
    figure = _check_figure(args.figure)
    if figure is not None and not hasattr(model, "loss_and_grad"):
        raise SystemExit(f"minigraphrec: --figure draws the training loss by epoch, and "
                         f"{type(model).__name__} is not trained by epochs")
    for flag, path in (("DATA", args.data), ("--test", args.test)):
        if path is not None and not os.path.exists(path):
            raise SystemExit(f"minigraphrec: {flag}: no such file or folder: {path}")
    reads = _files_read(args.data, args.test, args.validation)
    if args.validation is not None:
        _check_validation(args)
    if args.output is not None:
        _check_output(args.output, reads)
    if args.checkpoint is not None:
        _check_output(args.checkpoint, reads, flag="--checkpoint")
        if args.output and _same_file(args.checkpoint, args.output):
            raise SystemExit(f"minigraphrec: --checkpoint and -o both name {args.output}; the "
                             "checkpoint holds the last epoch trained, -o the model the run "
                             "ends with: give two files")
    if figure is not None:
        target = _figure_target(figure)
        _check_not_read("--figure", target, reads)
        for flag, path in (("-o", args.output), ("--checkpoint", args.checkpoint)):
            if path and _same_file(target, path):
                raise SystemExit(f"minigraphrec: --figure {args.figure} writes {target}, the "
                                 f"file {flag} {path} saves the model to; the figure would "
                                 f"replace the model: choose another --figure name or {flag} "
                                 "file")

    args.doing = "reading the data"                     # for an out-of-memory message
    train, test = _load(args.data, args.test, args.format, args.on_unknown,
                        _loader_options(args))
    if test is None and args.test_size:
        train, test = split.random_split(train, test_size=args.test_size, random_state=seed)
    validation = None if args.validation is None else _load_validation(args, train)
    if test is not None:
        _warn_k_beyond(args.k, train.n_items, _K_BEYOND_METRICS)
    if resumed is not None and validation is None \
            and any("eval_time" in r for r in model.history_):
        _warn(f"the model in {args.resume} was trained with validation data; without "
              "--validation this run goes on without it (no early stopping, no best epoch "
              "kept)")
    if resumed is None:
        _note(f"training {model} on {train}")
    else:
        _note(f"resuming {model} from {args.resume} after epoch {resumed}, for {epochs} more "
              f"on {train}")
    args.doing = f"training {type(model).__name__}"
    saver = None if args.checkpoint is None else _checkpoint_saver(model, args)
    t0 = time.perf_counter()
    try:
        _fit(model, train, validation, verbose=not args.quiet, epochs=epochs,
             resume=resumed is not None, checkpoint=saver)
    except DataError as exc:
        if resumed is None or not str(exc).startswith("cannot resume"):
            raise
        data = ("the same DATA, --test-size and --seed" if args.test_size else "the same DATA")
        raise SystemExit(f"minigraphrec: --resume: {_flags(str(exc))} (a resumed run trains on "
                         f"the data it was trained on: {data})") from None
    _note(f"fitted in {time.perf_counter() - t0:.2f} s")
    if validation is not None:
        _note_best_epoch(model)
    args.doing = "evaluating the model"
    metrics = None if test is None else mgr.evaluate(model, test, k=tuple(args.k),
                                                     train=_seen(model, validation))
    if args.output:                         # saved before the results are printed: a failure
        args.doing = "saving the model"     # to print them (a full disk) keeps the model
        _save_model(model, args.output)
        args.saved = args.output                        # for an interruption's message
        _note(f"saved to {args.output}")
    args.doing = None
    _print_metrics(metrics, args)
    if figure is not None and model.history_:
        from .plot import plot_history

        def draw():
            ax = plot_history({type(model).__name__: model.history_}, metric="loss")
            ax.set_ylabel(f"{model.loss.upper()} loss (mean over the epoch's batches)")
            ax.set_title(f"training loss, {os.path.basename(args.data)}", fontsize=9)
            return ax
        _save_plot(draw, figure, saved=args.output)
    elif figure is not None:
        _note("no figure: the model trained no epoch (--epochs 0)")
    return 0


def _load_user_item_model(args):
    """The model saved in ``args.model``; a session model (``minigraphrec sessions -o``) is
    refused by name: it scores sessions, not the users and items of a rating file, and
    ``sessions`` evaluates it."""
    import minigraphrec as mgr
    from .models.session_base import SessionRecommender

    model = mgr.load(args.model)
    if isinstance(model, SessionRecommender):
        raise SystemExit(f"minigraphrec: {args.command}: the model in {args.model} is "
                         f"{type(model).__name__}, a session model: it predicts the next "
                         f"item of a session, and `minigraphrec sessions` evaluates it (in "
                         f"Python: model.recommend_history(items) for one session); "
                         f"`{args.command}` works on user-item models")
    return model


def cmd_evaluate(args):
    import minigraphrec as mgr

    for path in args.exclude or ():                 # before anything is read
        if _same_file(path, args.test):
            raise SystemExit(f"minigraphrec: --exclude: {path} is the test file; leaving its "
                             "pairs out would leave nothing to find")
    model = _load_user_item_model(args)
    _warn_k_beyond(args.k, model.n_items_, _K_BEYOND_METRICS)
    test, _ = _load(args.test, None, args.format, options=_loader_options(args))
    test = test.align(model.user_ids_, model.item_ids_, on_unknown=args.on_unknown,
                      source=args.test)
    if test.n_dropped and len(test) == 0:
        raise DataError(f"{args.test}: every test interaction has an id unknown to the model "
                        f"({test.n_dropped}); is it the model's test file?")
    if test.n_dropped:
        _warn(f"{args.test}: dropped {test.n_dropped} of {test.n_dropped + len(test)} test "
              f"interactions whose user or item is unknown to the model (--on-unknown drop)")
    excluded = []
    for path in args.exclude or ():
        pairs, _ = _load(path, None, args.format, options=_loader_options(args))
        pairs = pairs.align(model.user_ids_, model.item_ids_, on_unknown=args.on_unknown,
                            source=f"the --exclude file {path}")
        if pairs.n_dropped:
            _warn(f"{path}: dropped {pairs.n_dropped} of {pairs.n_dropped + len(pairs)} "
                  "interactions to exclude whose user or item is unknown to the model (they "
                  "are in no ranking anyway; --on-unknown drop)")
        excluded.append(pairs)
    _print_metrics(mgr.evaluate(model, test, k=tuple(args.k), train=_seen(model, *excluded)),
                   args)
    return 0


def _title(labels, i):
    """Item ``i``'s title (``item_labels_``, when the loader had them), or None; files saved
    before partial_fit extended the labels hold fewer than the items."""
    return labels[i] if labels is not None and i < len(labels) and labels[i] else None


def cmd_recommend(args):
    model = _load_user_item_model(args)
    rows = _known(model, "user", args.user)                          # (len(args.user),)
    _warn_k_beyond([args.k], model.n_items_, "a list holds at most every candidate item")
    items, scores = model.recommend(rows, k=args.k,
                                    exclude_seen=not args.include_seen)
    labels = getattr(model, "item_labels_", None)
    if args.json:
        out = []
        for row, irow, srow in zip(rows, items, scores):
            keep = irow >= 0                                          # padding past the items
            entry = {"user": model.user_ids_[row], "items": model.item_ids_[irow[keep]],
                     "scores": srow[keep]}
            if labels is not None:
                entry["titles"] = [_title(labels, i) for i in irow[keep]]
            out.append(entry)
        _print_json({"recommendations": out})
        return 0
    for raw, row, srow in zip(args.user, items, scores):
        _out(f"user {raw}:")
        if row.size == 0 or row[0] < 0:
            _out("  (nothing to recommend: no candidate item is left once the user's own "
                  "items are excluded; --include-seen adds them)")
        for rank, (i, s) in enumerate(zip(row, srow), start=1):
            if i < 0:
                break
            title = _title(labels, i)
            label = f"  {title}" if title else ""
            _out(f"  {rank:>3d}. item {model.item_ids_[i]}  score {s:.4f}{label}")
    return 0


def _find_raw(raw_ids, given):
    """The internal ids of the raw ids ``given`` (typed by the user) among a model's
    ``raw_ids``, -1 where unknown (:func:`~minigraphrec.data.match_raw_ids`: ``"7"`` finds
    the integer raw id 7)."""
    from .data import match_raw_ids
    return match_raw_ids(np.asarray(given, dtype=str), raw_ids)


def _known(model, kind, given):
    """The internal ids of the raw ids ``given`` with ``--user`` or ``--item`` (``kind``);
    an unknown one stops the command, naming the flag."""
    raw_ids = model.user_ids_ if kind == "user" else model.item_ids_
    found = _find_raw(raw_ids, given)
    for raw, k in zip(given, found):
        if k < 0:
            known = "known to the model" if kind == "user" else "in the model's catalogue"
            raise SystemExit(f"minigraphrec: --{kind}: {kind} {raw!r} is not {known} "
                             f"({len(raw_ids)} {kind}s, e.g. {_examples(raw_ids)})")
    return found


def _examples(raw_ids):
    return ", ".join(map(str, np.asarray(raw_ids)[:3].tolist()))


def _node_label(model, kind, source):
    """A source of an explanation in raw ids: ``item X``, ``user X`` (nodes: users first)."""
    if kind == "item":
        return f"item {model.item_ids_[source]}"
    if kind == "user":
        return f"user {model.user_ids_[source]}"
    if source < model.n_users_:
        return f"user {model.user_ids_[source]}"
    return f"item {model.item_ids_[source - model.n_users_]}"


def cmd_explain(args):
    from .explain import _COLUMN

    if args.k < 0:
        raise SystemExit(f"minigraphrec: --k must be 0 (every contribution) or a positive "
                         f"integer, got {args.k}")
    model = _load_user_item_model(args)
    u = int(_known(model, "user", [args.user])[0])
    i = int(_known(model, "item", [args.item])[0])
    try:
        e = model.explain(u, i, k=args.k or None)
    except NotImplementedError as exc:
        raise SystemExit(f"minigraphrec: {_explain_advice(exc)}") from None
    how = {"split": "exact" if e.exact else "approximate",
           "gradient_input": "approximate: gradient x input",
           "similarity": "not a split of the score: similarities"}[e.quantity]
    _out(f"{type(model).__name__}: score of item {args.item} for user {args.user}: "
         f"{e.score:.6g} ({how})")
    if e.method:
        _out(f"  {e.method}")
    # contributions that split the score (exact, or gradient x input adding up to it) get
    # shares and a total; gradient x input that does not add up gets its sum, labelled as
    # not the score; similarities (cosines) are neither summed nor shared
    quantity, additive = e.quantity, e.additive
    column = "contribution" if additive else _COLUMN[quantity]      # as str(e) heads it
    rows = [{"source": _node_label(model, e.kind, int(src)), column: float(c)}
            for src, c in zip(e.sources, e.contributions)]
    columns = ["source", column]
    if additive:
        columns.append("share")
        for row, f in zip(rows, e.shares):
            row["share"] = f"{f:.1%}" if np.isfinite(f) else "-"
    if e.paths is not None:
        for row, path in zip(rows, e.paths):
            row["path"] = " -> ".join(_node_label(model, "node", int(n)) for n in path)
        columns.append("path")
    if quantity != "similarity":
        rest = e.total - float(e.contributions.sum())
        if rest != 0:
            rows.append({"source": "(others)", column: float(rest)})
        rows.append({"source": "total" if additive else "(sum)", column: float(e.total)})
    _out(_table(rows, columns, floatfmt="{:.6g}"))
    if quantity == "similarity":
        _out(f"(these are similarities to item {args.item}, not a split of the score)")
    elif not additive:
        _out(f"(sum) is the sum over every source, {e.total:.6g}, not the score "
             f"{e.score:.6g}: these numbers are not a split of the score, so no shares")
    elif not e.exact:
        _out(f"the total is {e.total - e.score:+.3g} from the score (approximately a split)")
    return 0


def _explain_advice(exc):
    """A model's reason not to explain, its Python advice (``hybrid.models_[0].explain``)
    said on the command line."""
    text = str(exc)
    return re.sub(r"e\.g\. hybrid\.models_\[0\]\.explain\(user, item\)",
                  "e.g. train one on its own (`minigraphrec train ... --model itemknn -o "
                  "m.npz`) and run `minigraphrec explain` on that file", text)


# ------------------------------------------------------------------ parser
def _version():
    """The package's version, for ``--version``."""
    from . import __version__
    return __version__


#: ``sessions``' models: name -> (class name, one line for --help)
SESSION_MODELS = {
    "srgnn": ("SRGNN", "SR-GNN (Wu et al., AAAI 2019): a gated graph network over each "
                       "session's graph, trained by epochs"),
    "markov": ("MarkovChain", "what followed the session's last item in training"),
    "sknn": ("SessionItemKNN", "items that shared training sessions with the session's items"),
    "popularity": ("SessionPopularity", "the most clicked items (the baseline to beat)"),
}


def _session_format(path):
    """``--format auto`` for a session log: ``cikm`` when the first line names the CIKM
    Cup 2016 columns (``sessionId;...;timeframe;eventdate``), else ``triples``."""
    from .datasets._parse import _open_binary
    with _open_binary(path) as f:
        first = f.readline(4096).decode("utf-8", "replace").lower().replace("_", "")
    return "cikm" if ";" in first and "timeframe" in first and "sessionid" in first \
        else "triples"


def cmd_sessions(args):
    r"""Next-item prediction on a session log: load, clean, split by time, fit, evaluate.

    The steps of the SR-GNN papers' preprocessing (``docs/data_formats.md``):
    ``load_sessions``, ``filter_sessions``, ``split_sessions_by_time``, optionally
    ``recent_fraction`` of the training sessions, then every prefix of every test session
    predicts the click after it (``evaluate_next_item``). Everything that can be checked
    before the log is read is (the model and its hyperparameters, -o, the split's flags).
    """
    import minigraphrec as mgr
    from .datasets import load_sessions
    from .sequences import (evaluate_next_item, filter_sessions, prefix_examples,
                            recent_fraction, split_sessions_by_time)

    name = args.model.lower()
    cls = getattr(mgr, SESSION_MODELS[name][0])
    seed = 0 if args.seed is None else args.seed
    params, given, flags = _flag_params(
        args, (("epochs", "epochs"), ("dim", "dim"), ("lr", "lr"), ("batch_size", "batch_size")),
        cls=cls)
    if "random_state" in cls._param_names() and "random_state" not in params:
        params["random_state"], flags["random_state"] = seed, "--seed"
    try:
        model = cls().set_params(**params)
        _check_hyperparameters(model)
    except ValueError as exc:
        raise SystemExit(f"minigraphrec: {_named(exc, flags)}") from None
    cut = [f for f, v in (("--test-span", args.test_span),
                          ("--test-fraction", args.test_fraction)) if v is not None]
    if len(cut) != 1:
        raise SystemExit("minigraphrec: give one of --test-span SECONDS (the test sessions "
                         "are those that end in the last SECONDS: 86400 for YooChoose, "
                         "604800 for DIGINETICA in the SR-GNN paper) and --test-fraction F "
                         "(the latest fraction F of the sessions)" if not cut else
                         "minigraphrec: give --test-span or --test-fraction, not both")
    if args.boundary == "drop" and args.test_fraction is not None:
        raise SystemExit("minigraphrec: --boundary drop goes with --test-span: with "
                         "--test-fraction the cut is the end time of a training session, "
                         "which it would drop")
    if not os.path.exists(args.log):
        raise SystemExit(f"minigraphrec: LOG: no such file: {args.log}")
    if os.path.isdir(args.log):
        raise SystemExit(f"minigraphrec: LOG: {args.log} is a folder; give the session log "
                         "file")
    if args.output is not None:
        _check_output(args.output, [(args.log, f"the session log {args.log}")])

    fmt = _session_format(args.log) if args.session_format == "auto" else args.session_format
    options = _loader_options(args)
    for key, value in (("events", args.events), ("gap", args.gap)):
        if value is not None:
            options[key] = value
    if fmt == "cikm":
        shown = {"sep": "--sep", "header": "--header/--no-header", "columns": "--columns",
                 "time_unit": "--time-unit", "comments": "--comments", "quoting": "--no-quoting",
                 "events": "--events", "gap": "--gap"}
        wrong = [shown[k] for k in shown if k in options]
        if wrong:
            raise SystemExit(f"minigraphrec: {', '.join(wrong)}: not for a CIKM Cup 2016 log "
                             f"(its layout is fixed), and {args.log} is read as one "
                             "(--format triples reads other layouts)")
    args.doing = "reading the session log"
    t0 = time.perf_counter()
    sessions = load_sessions(args.log, fmt, **options)
    _note(f"read {len(sessions):,} sessions ({len(sessions.items):,} events, "
          f"{sessions.n_items:,} items) from {args.log} as {fmt} in "
          f"{time.perf_counter() - t0:.2f} s")
    sessions, _ = filter_sessions(sessions, min_length=args.min_length,
                                  min_item_count=args.min_item_count)
    _note(f"after filter_sessions(min_length={args.min_length}, "
          f"min_item_count={args.min_item_count}): {len(sessions):,} sessions, "
          f"{len(sessions.items):,} events")
    train, test, stats = split_sessions_by_time(
        sessions, test_span=args.test_span, test_fraction=args.test_fraction,
        boundary=args.boundary)
    if args.recent_fraction is not None:
        train = recent_fraction(train, args.recent_fraction)
    prefixes, targets = prefix_examples(test)
    _note(f"split at {stats['cutoff']:.0f} s: {len(train):,} training sessions"
          f"{' (the most recent, --recent-fraction)' if args.recent_fraction else ''}, "
          f"{len(test):,} test sessions ({targets.shape[0]:,} next-item examples), "
          f"{stats['n_items']:,} items")
    _note(f"training {model}")
    args.doing = f"training {type(model).__name__}"
    t0 = time.perf_counter()
    _fit(model, train, verbose=not args.quiet)
    _note(f"fitted in {time.perf_counter() - t0:.2f} s")
    args.doing = "evaluating the model"
    metrics = evaluate_next_item(model, prefixes, targets, k=tuple(args.k))
    if args.output:
        args.doing = "saving the model"
        _save_model(model, args.output)
        args.saved = args.output
        _note(f"saved to {args.output}")
    args.doing = None
    if args.json:
        _print_json({"metrics": metrics})
    else:
        rows = [{"metric": k, "value": v} for k, v in metrics.items() if k != "n_examples"]
        _out(_table(rows, ["metric", "value"]))
        _out(f"(averaged over {metrics['n_examples']:,} test examples: every prefix of every "
             "test session, predicting the click after it)")
    return 0


def _env_threads():
    """``$MINIGRAPHREC_THREADS`` as a count, or None when unset; read only when ``--threads``
    is not given (an explicit flag wins over a bad variable)."""
    from .threadpools import THREADS_ENV
    value = os.environ.get(THREADS_ENV)
    if value is None or value == "":
        return None
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"minigraphrec: ${THREADS_ENV} must be a whole number >= 1, "
                         f"got {value!r} (or pass --threads N)")
    return int(value)


def _add_evaluation_options(p, unknown):
    """``-k`` and ``--on-unknown``, shared by the subcommands that evaluate; ``unknown``
    says which test interactions count as unknown."""
    p.add_argument("-k", "--k", type=_positive_int, nargs="+", default=[10, 20],
                   help="cut-offs of the metrics (default 10 20)")
    p.add_argument("--on-unknown", choices=("error", "drop"), default="error",
                   help=f"test interactions {unknown}: stop with an error (default) or drop "
                        "them and say how many")


def _add_json_option(p, shape):
    """``--json``: the results as one JSON object of the given ``shape`` on stdout."""
    p.add_argument("--json", action="store_true",
                   help=f"print the results as one JSON object, {shape}, instead of text")


def _default_param(key="epochs"):
    """The trainable models' default ``key`` (``epochs``, ``dim``), as its flag's help says
    it: ``"50"``, or ``"mf 50, lightgcn 100, ..."`` should they differ."""
    import inspect
    defaults = {}
    for name, cls in _model_registry().items():
        parameter = inspect.signature(cls).parameters.get(key)
        if parameter is not None:
            defaults[name] = parameter.default
    if len(set(defaults.values())) == 1:
        return str(next(iter(defaults.values())))
    return ", ".join(f"{name} {value}" for name, value in defaults.items())


#: -v's help: given before the command or after it
VERBOSE_HELP = ("also print minigraphrec's own info and debug log messages on stderr (each "
                "epoch's loss and time as the library logs it, early stopping, lines a "
                "loader skipped); other libraries' stay hidden")
#: --threads' help: given before the command or after it
THREADS_HELP = ("threads for numba kernels and BLAS alike, a whole number >= 1 (default: "
                "$MINIGRAPHREC_THREADS, else the libraries' own defaults); more than the "
                "CPUs this process may run on is lowered to their number, with a warning; on "
                "a busy machine 1 is often fastest")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="minigraphrec",
        description="Graph-based recommendation, written out in NumPy. Start with "
                    "`minigraphrec demo`; each command has its own --help. Results go to "
                    "stdout, progress and warnings to stderr.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    parser.add_argument("--threads", type=int, default=None, metavar="N", help=THREADS_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    verbose = argparse.ArgumentParser(add_help=False)       # -v, --threads after it too
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help=VERBOSE_HELP)
    verbose.add_argument("--threads", type=int, default=argparse.SUPPRESS, metavar="N",
                         help=THREADS_HELP)
    epochs_help = f"{_default_param()}, the models' own"

    p = sub.add_parser("demo", help="train on the embedded synthetic data and compare models",
                       description="Generate the embedded synthetic data set (no download), "
                                   "split it 80/20 per user, fit models, print their metrics.",
                       epilog=_models_epilog("--models"), parents=[verbose],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=None, metavar="MODEL",
                   help="models to compare (default: popularity lightgcn)")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"epochs for trainable models (default {epochs_help})")
    p.add_argument("--seed", type=_seed, default=0,
                   help="seeds the data, the split and the models (an integer >= 0; "
                        "default 0)")
    p.add_argument("--figure", metavar="NAME",
                   help="also draw the models' Recall@20 and NDCG@20 as bars, into "
                        "NAME.png in ./figures (or $MINIGRAPHREC_FIGURES)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train a model on a data file and save it",
                       description="Train a model on a data file, evaluate it on --test or a "
                                   "held-out --test-size, and save it with -o.",
                       epilog=_models_epilog(), parents=[verbose],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="training data: a file, or a MovieLens-100K folder")
    p.add_argument("--test", help="a test file in the same format (evaluated after training)")
    p.add_argument("--test-size", type=_fraction, default=0.0,
                   help="without --test: hold out this fraction (0 to 1) of each user's items "
                        "and evaluate on it (default 0: no evaluation); the model is trained, "
                        "and saved by -o, on the remaining part only")
    p.add_argument("--format", choices=FORMATS, default="auto",
                   help="file format; auto guesses from the path: a folder is movielens, "
                        ".inter recbole, .txt lightgcn ('user item item ...' lines; a .txt "
                        f"whose first {_TXT_SAMPLE} lines all have 3 fields, or all 4, could be "
                        "triples too: give --format), .csv/.tsv/.dat triples ('user item "
                        "[rating [timestamp]]')")
    p.add_argument("--validation", metavar="FILE",
                   help="validation interactions, read as --test is (in DATA's format, raw "
                        "ids matched to training's; see --on-unknown) and evaluated after "
                        "every epoch (trainable models): the "
                        "per-epoch lines show their metrics, -p metric=ndcg@20 picks the one "
                        "that decides (default recall@20), -p patience=N stops after N epochs "
                        "without a better one, and the best epoch's parameters are kept; "
                        "the --test rankings leave its pairs out, as they do the training "
                        "pairs; neither DATA nor the --test file")
    p.add_argument("--model", default=None, choices=sorted(MODEL_HELP), metavar="MODEL",
                   type=str.lower,
                   help="which model (default lightgcn; with --resume, the saved one's); the "
                        "list is below")
    p.add_argument("--epochs", type=int,
                   help=f"training epochs (trainable models; default {epochs_help}); with "
                        "--resume, the epochs to train on top of the saved ones (default: "
                        "the rest of the saved model's epochs)")
    p.add_argument("--dim", type=int, help=f"embedding width d (trainable models; default "
                                           f"{_default_param('dim')}, the models' own)")
    p.add_argument("--layers", type=int, help="graph layers K (lightgcn, gcn, ngcf, gat)")
    p.add_argument("--lr", type=float, help="Adam's learning rate (trainable models)")
    p.add_argument("--batch-size", type=int, help="training examples per step")
    p.add_argument("--reg", type=float, help="L2 weight on the batch's layer-0 rows")
    p.add_argument("--loss", choices=("bpr", "bce"), help="bpr (pairwise) or bce (pointwise)")
    p.add_argument("--seed", type=_seed,
                   help="seeds the split and, where the model has one, its random_state "
                        "(default 0, as demo: the same command gives the same numbers); with "
                        "--resume, the split alone (the saved run's generator goes on)")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                   help="any other hyperparameter of the model, repeatable")
    _add_loader_options(p)
    _add_evaluation_options(p, unknown="(and --validation ones) whose user or item "
                                       "training never saw")
    p.add_argument("-o", "--output", help="where to save the fitted model (.npz)")
    p.add_argument("--checkpoint", metavar="FILE",
                   help="save the model to FILE (.npz, atomically) after every epoch "
                        "(trainable models), so that an interrupted or failed run keeps its "
                        "last finished epoch, which --resume FILE continues; may be the "
                        "--resume file, not the -o one")
    p.add_argument("--resume", metavar="FILE",
                   help="continue training the model saved in FILE (by -o or --checkpoint) "
                        "on the same DATA (and --test-size and --seed; --validation too if "
                        "the run had it), as if it had not stopped: the same numbers, bit for "
                        "bit; flags may change how training proceeds (--epochs, --lr, "
                        "--batch-size, --reg, --loss, -p patience, ...), not the model "
                        "(--dim, --layers, ...)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no per-epoch lines (progress goes to stderr in any case)")
    _add_json_option(p, '{"metrics": {"recall@10": ..., ...}} (null without a test set)')
    p.add_argument("--figure", metavar="NAME",
                   help="also draw the training loss by epoch (trainable models), into "
                        "NAME.png in ./figures (or $MINIGRAPHREC_FIGURES)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a saved model on a test file",
                       description="Full-ranking metrics of a saved model on a test file whose "
                                   "raw ids match the training file's (training items excluded).",
                       parents=[verbose])
    p.add_argument("model", help="a model saved by `minigraphrec train -o`")
    p.add_argument("test", help="test interactions, in a format --format reads")
    p.add_argument("--exclude", action="append", metavar="FILE",
                   help="interactions to leave out of the rankings besides the model's "
                        "training pairs, read as the test file is (repeat the flag for "
                        "several files): the --validation file the model was trained with "
                        "gives the metrics `train --validation --test` printed")
    p.add_argument("--format", choices=FORMATS, default="auto",
                   help="format of the test file and the --exclude files (default: "
                        "guessed from each path)")
    _add_loader_options(p)
    _add_evaluation_options(p, unknown="with ids the model does not know")
    _add_json_option(p, '{"metrics": {"recall@10": ..., ...}}')
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("recommend", help="top-k items for users of a saved model (raw ids)",
                       description="The k best items for each user, in raw ids as in the "
                                   "training file; items the user has seen are left out.",
                       parents=[verbose])
    p.add_argument("model", help="a model saved by `minigraphrec train -o`")
    p.add_argument("--user", nargs="+", required=True, help="raw user ids as in the data file")
    p.add_argument("-k", "--k", type=_positive_int, default=10,
                   help="items per user (default 10)")
    p.add_argument("--include-seen", action="store_true",
                   help="also rank the items each user already has")
    _add_json_option(p, '{"recommendations": [{"user": ID, "items": [ID, ...], "scores": '
                        '[...], "titles": [...]}, ...]}, in the order of --user ("titles" '
                        'only when the model has item titles)')
    p.set_defaults(func=cmd_recommend)

    p = sub.add_parser("explain", help="why a saved model scores an item for a user (raw ids)",
                       description="The training interactions (items, neighbour users or graph "
                                   "nodes) behind one score, largest first, in raw ids, and what "
                                   "the numbers are: an exact split of the score (kNN, EASE, "
                                   "GF-CF, LightGCN), gradient x input (GCN, NGCF, GAT: shares "
                                   "only where it adds up to the score) or, for MF, the "
                                   "similarity of each history item to the item (no split).",
                       parents=[verbose])
    p.add_argument("model", help="a model saved by `minigraphrec train -o`")
    p.add_argument("--user", required=True, help="raw user id as in the data file")
    p.add_argument("--item", required=True, help="raw item id as in the data file")
    p.add_argument("-k", "--k", type=int, default=10,
                   help="contributions shown (default 10; 0 shows every one)")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser(
        "sessions", help="next-item prediction on a session log (SR-GNN and baselines)",
        description="Load a session log, clean it and split it by time as the SR-GNN paper "
                    "does, fit a session model and print its next-item metrics (hit@K, the "
                    "papers' P@K; mrr@K; ndcg@K) over every prefix of every test session.",
        epilog="models:\n" + "\n".join(f"  {n:<11} {text}"
                                        for n, (_, text) in SESSION_MODELS.items()),
        parents=[verbose], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log", help="the session log: a CIKM Cup 2016 file (DIGINETICA's "
                               "train-item-views.csv) or delimited 'session item timestamp' "
                               "lines (other layouts with --columns)")
    p.add_argument("--format", dest="session_format", choices=("auto", "cikm", "triples"),
                   default="auto",
                   help="cikm or triples (load_sessions' formats; default: cikm when the "
                        "first line names sessionId and timeframe, else triples)")
    g = p.add_argument_group("reading a delimited log (--format triples; --on-missing and "
                             "--encoding: cikm too)")
    _add_loader_options(g, group=False, columns_help=(
        "the role of each field, in order, from session, user, item, timestamp, event, '-' "
        "to skip one: YooChoose's clicks session,timestamp,item,- (default: by the header's "
        "names, else session,item,timestamp)"))
    g.add_argument("--events", nargs="+", metavar="TYPE",
                   help="with an event column (--columns ...,event): the event types to keep")
    g.add_argument("--gap", type=_nonneg_number, metavar="SECONDS",
                   help="without a session column: cut each user's events into sessions at "
                        "inactivity gaps longer than SECONDS")
    g = p.add_argument_group("cleaning and splitting (the SR-GNN paper's steps)")
    g.add_argument("--min-length", type=_positive_int, default=2,
                   help="drop sessions shorter than this, before and after removing rare "
                        "items (default 2)")
    g.add_argument("--min-item-count", type=_positive_int, default=5,
                   help="remove the clicks of items clicked fewer times (default 5)")
    g.add_argument("--test-span", type=_nonneg_number, metavar="SECONDS",
                   help="test on the sessions that end in the last SECONDS of the log "
                        "(86400 for YooChoose, 604800 for DIGINETICA)")
    g.add_argument("--test-fraction", type=_open_fraction, metavar="F",
                   help="or test on the latest fraction F of the sessions")
    g.add_argument("--boundary", choices=("train", "drop"), default="train",
                   help="where sessions ending exactly at the cut go: train (default) or "
                        "nowhere (drop: the SR-GNN script's rule)")
    g.add_argument("--recent-fraction", type=_open_fraction, metavar="F",
                   help="train on the most recent training sessions that hold a fraction F "
                        "of the training examples (YooChoose 1/64: 0.015625)")
    g = p.add_argument_group("the model")
    g.add_argument("--model", default="srgnn", choices=sorted(SESSION_MODELS),
                   type=str.lower, metavar="MODEL",
                   help="which model (default srgnn; the list is below)")
    g.add_argument("--epochs", type=int, help="training epochs (srgnn; default 30)")
    g.add_argument("--dim", type=int, help="hidden size d (srgnn; default 100)")
    g.add_argument("--lr", type=float, help="Adam's learning rate (srgnn; default 0.001)")
    g.add_argument("--batch-size", type=int, help="sessions per step (srgnn; default 100)")
    g.add_argument("--seed", type=_seed,
                   help="the model's random_state where it has one (default 0)")
    g.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                   help="any other hyperparameter of the model, repeatable "
                        "(-p max_len=none, -p n_steps=2)")
    p.add_argument("-k", "--k", type=_positive_int, nargs="+", default=[20],
                   help="cut-offs of the metrics (default 20)")
    p.add_argument("-o", "--output", help="where to save the fitted model (.npz)")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-epoch lines")
    _add_json_option(p, '{"metrics": {"hit@20": ..., "mrr@20": ..., "ndcg@20": ..., '
                        '"n_examples": n}}')
    p.set_defaults(func=cmd_sessions)
    return parser


#: the library's arguments that error messages suggest -> the flags that set them
_FLAG_OF = (("on_unknown='drop'", "--on-unknown drop"), ("header=True", "--header"),
            ("header=False", "--no-header"),
            ("quoting=False", "--no-quoting"), ("time_unit=None", "--time-unit none"),
            ("comments=None", "--comments ''"),
            *((f"on_missing={v!r}", f"--on-missing {v}") for v in ("drop", "keep")),
            *((f"time_unit={u!r}", f"--time-unit {u}") for u in ("s", "ms", "us", "ns")),
            ("set max_items=None", "pass -p max_items=none"),        # EASE's size guard
            ("file read by load_triples", "file read with --format triples"),
            *((f"format={f!r}", f"--format {f}") for f in ("triples", "cikm")))   # sessions'


def _flags(text):
    """``text`` with the library's arguments that have a flag written as the flag:
    ``(on_unknown='drop')`` as ``(--on-unknown drop)``, ``header=False (--no-header)`` as
    ``--no-header``."""
    for argument, flag in _FLAG_OF:
        text = text.replace(f"{argument} ({flag})", flag).replace(argument, flag)
    # the other values of sep= and columns= (columns='session,timestamp,item,-' as --columns
    # 'session,timestamp,item,-'), and the bare ones ("pass sep= to choose it")
    text = re.sub(r"(?<![-\w])(sep|columns)=(?=')", r"--\1 ", text)
    text = re.sub(r"(?<![-\w])(sep|columns)=", r"--\1", text)
    # load_sessions' event types: events=('view',) as --events view, a bare events= as
    # --events TYPE
    text = re.sub(r"events=\(((?:'[^']*'(?:, )?)+),?\)",
                  lambda m: "--events " + " ".join(re.findall(r"'([^']*)'", m.group(1))), text)
    return text.replace("pass events= ", "pass --events TYPE ").replace("events= ", "--events ")


def _message(exc):
    """The text of ``exc``; an OSError's without its errno (``[Errno 5]``), naming its file."""
    if isinstance(exc, OSError) and exc.strerror:
        names = [os.fsdecode(n) for n in (exc.filename, exc.filename2)
                 if n is not None and not isinstance(n, int)]
        return ": ".join([exc.strerror, *names])
    return str(exc)


def _hint(exc, args):
    """The error message, with the command-line flag that fixes it where one does."""
    text = _flags(_message(exc))
    if not isinstance(exc, DataError) and text.startswith("columns"):
        text = "--" + text                             # a bad --columns value
    if not isinstance(exc, DataError) or getattr(args, "format", None) is None:
        return text
    # the file read first: train's DATA (whose format --test is read in), evaluate's TEST
    main = getattr(args, "data", None) if args.command == "train" else getattr(args, "test", None)
    test = getattr(args, "test", None) if args.command == "train" else None
    fmt = _quiet_guess(main) if args.format == "auto" else args.format
    if fmt in ("triples", "recbole") and "undecodable bytes" in text \
            and getattr(args, "encoding", None) is None:
        text += "\n(if the file is in another encoding, give it, e.g. --encoding latin-1)"
    if args.format != "auto":
        return text
    validation = getattr(args, "validation", None) if args.command == "train" else None
    named = [p for p in (main, test, validation) if p and os.path.basename(p) in text]
    if not fmt or not named:
        return text
    other = [(flag, p) for flag, p in (("--test", test), ("--validation", validation))
             if p in named and _quiet_guess(p) not in (None, fmt)]
    if other:
        flag, path = other[0]
        text += (f"\n(the {flag} file is read in DATA's format: {main} is read as "
                 f"{_FORMAT_WORDS[fmt]}, and so is {path}; both files are read in one format, "
                 "which --format sets)")
    elif fmt == "lightgcn" and "line" in text and "--format triples" not in text \
            and _lightgcn_misread(text):
        text += ("\n(the .txt file was read as LightGCN adjacency lists, 'user item item ...'; "
                 "if it holds 'user item [rating [timestamp]]' lines, pass --format triples)")
    return text


#: how each format reads a file, for messages
_FORMAT_WORDS = {"lightgcn": "LightGCN adjacency lists ('user item item ...')",
                 "triples": "delimited 'user item [rating [timestamp]]' triples",
                 "recbole": "a RecBole .inter file", "movielens": "a MovieLens-100K folder"}


def _quiet_guess(path):
    """The format ``--format auto`` reads ``path`` in, or None (no path, or no guess)."""
    if not path:
        return None
    try:
        return _guess_format(path)
    except SystemExit:
        return None


#: a field the LightGCN loader refuses as an id
_BAD_ID = re.compile(r"id (['\"])(.*)\1 is not a non-negative integer")


def _lightgcn_misread(text):
    """Whether the LightGCN loader's error ``text`` is what a triples file read as LightGCN
    causes: a field holding a separator, a decimal point or letters (a delimited line, a
    rating, a string id), or a user on several lines; not a negative id or a '#' comment."""
    if "is listed again" in text:
        return True
    bad = _BAD_ID.search(text)
    return bool(bad) and bool(re.search(r"[,;:|.A-Za-z]", bad.group(2))) \
        and not bad.group(2).startswith(("-", "#"))


class _LogFormatter(logging.Formatter):
    """minigraphrec's log records (the loaders' warnings, and with -v its info and debug
    ones) as the command's own lines, ``minigraphrec: warning: ...``, the library's
    arguments written as flags (:func:`_flags`); other libraries' records as
    ``WARNING name: message``."""

    def format(self, record):
        if record.name == "minigraphrec" or record.name.startswith("minigraphrec."):
            return f"minigraphrec: {record.levelname.lower()}: {_flags(record.getMessage())}"
        return super().format(record)


def _interrupted(args):
    """What Ctrl-C says: whether the model was saved, where the command saves anything, and
    which epoch ``--checkpoint``'s file holds."""
    if getattr(args, "saved", None):
        return f"minigraphrec: interrupted; the model was saved to {args.saved}"
    if getattr(args, "checkpointed", None) is not None:
        return f"minigraphrec: interrupted{_checkpoint_kept(args)}"
    if getattr(args, "checkpoint", None):
        return (f"minigraphrec: interrupted before an epoch ended; nothing was saved to "
                f"{args.checkpoint}")
    if getattr(args, "output", None) or getattr(args, "figure", None):
        return "minigraphrec: interrupted; nothing was saved"
    return "minigraphrec: interrupted"


def main(argv=None):
    args, package, level = None, logging.getLogger("minigraphrec"), None
    try:                                              # Ctrl-C while the parser is built too
        args = build_parser().parse_args(argv)
        handler = logging.StreamHandler()             # stderr
        handler.setFormatter(_LogFormatter("%(levelname)s %(name)s: %(message)s"))
        # a no-op where the root logger has handlers already (a program calling main, pytest)
        logging.basicConfig(level=logging.WARNING, handlers=[handler])
        level = package.level                         # -v: its records only, not matplotlib's
        if args.verbose:
            package.setLevel(logging.DEBUG)
        return _run(args)
    except (KeyboardInterrupt, Exception) as exc:     # Ctrl-C: no traceback, 128 + SIGINT
        if not _is_interrupt(exc):
            raise
        print(_interrupted(args), file=sys.stderr)
        return 130
    finally:
        if level is not None:
            package.setLevel(level)


def _run(args):
    """The command ``args`` asks for, a user's error reported in one line (status 2)."""
    source = "--threads"
    if args.threads is None:
        try:
            args.threads = _env_threads()
        except SystemExit as exc:
            print(exc.code, file=sys.stderr)
            return 2
        from .threadpools import THREADS_ENV
        source = f"${THREADS_ENV}"
    from .threadpools import usable_cpus
    cpus = usable_cpus()                 # taskset's or a container's, not the host's
    if args.threads is not None and cpus and args.threads > cpus:
        _warn(f"{source} {args.threads}: more than the {cpus} CPUs this process may run on; "
              f"using {cpus}")
        args.threads = cpus
    if args.threads is not None:
        from .threadpools import set_threads
        try:
            set_threads(args.threads)
        except DataError as exc:
            print(f"minigraphrec: --threads: {exc}", file=sys.stderr)
            return 2
    if args.command == "demo" and args.models is None:
        args.models = [n for n in ("popularity", "lightgcn") if n in _model_registry()]
    try:
        status = args.func(args)
        _flush_stdout()
        return status
    # bad data or hyperparameters, an unreadable file, training that diverged (too large an lr)
    except BrokenPipeError:                 # `... | head`: the reader left; say nothing
        sys.stdout = open(os.devnull, "w")  # (the interpreter's flush at exit fails too)
        return 141                          # 128 + SIGPIPE, as a shell reports it
    except _StdoutError as exc:             # a full disk under `> results.txt`, /dev/full
        if sys.stdout is sys.__stdout__:    # the interpreter's flush at exit would fail too
            sys.stdout = open(os.devnull, "w")
        kept = (f"; the model was saved to {args.saved}" if getattr(args, "saved", None)
                else "")
        print(f"minigraphrec: error: cannot write the results to standard output: "
              f"{_joined(_reason(exc.args[0]), kept)}", file=sys.stderr)
        return 2
    except MemoryError as exc:              # a data set or model too large for the machine
        doing = getattr(args, "doing", None) or f"running `minigraphrec {args.command}`"
        detail = f" ({exc})" if str(exc) else ""
        kept = (f"; the model was saved to {args.saved}" if getattr(args, "saved", None)
                else _checkpoint_kept(args))
        print(f"minigraphrec: error: out of memory while {doing}{detail}; use a smaller data "
              f"set, lighter settings (e.g. a smaller --dim or --batch-size) or a machine with "
              f"more memory{kept}", file=sys.stderr)
        return 2
    except (DataError, OSError, ValueError, LookupError, FloatingPointError) as exc:
        kept = "" if getattr(args, "saved", None) else _checkpoint_kept(args)
        print(f"minigraphrec: error: {_joined(_hint(exc, args), kept)}", file=sys.stderr)
        return 2
    except SystemExit as exc:               # the commands' own checks stop with a message
        if not isinstance(exc.code, str):
            raise
        print(exc.code, file=sys.stderr)    # a user's error exits 2, as argparse's do; 1 is
        return 2                            # left to a traceback (a bug)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
