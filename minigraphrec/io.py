r"""Save and load fitted recommenders as ``.npz`` files, without pickle.

``save(model, path)`` writes one NumPy ``.npz`` archive (uncompressed) holding

* ``__meta__``: a JSON string -- format name and version, the class
  (module and name), the hyperparameters (``model.get_params()``) and, for
  every saved attribute, its kind;
* one or more arrays per saved attribute, named ``<attribute>`` (an array),
  ``<attribute>/<key>`` (a dict of arrays, e.g. ``params/E0``) or
  ``<attribute>/indptr|indices|data|shape`` (a scipy sparse matrix, kept as
  CSR or CSC);
* ``__sha256__``: the SHA-256 of everything above (each entry's name, dtype,
  shape and bytes, in name order), checked on load.

``load(path)`` (``mgr.load``) reads it back with ``allow_pickle=False``,
checks format, version and checksum, rebuilds the model with its
hyperparameters and restores the attributes; a model that derives more
state from them (a normalised graph, say) does so in its ``_restore()``.
A file with a valid checksum that save would not have written (edited with
the checksum recomputed, or by another program) is refused too, from the
description, the arrays' shapes and dtypes, and one pass over the index arrays
of its sparse matrices: one without an attribute the class needs (its
``_state_attrs`` less its ``_optional_state``, what a file may lack: saved only
when set, or added after older files were written; the library's classes
without ``_state_attrs`` list theirs in ``_GENERIC_STATE``), one with a sparse
matrix whose indices do not lie within its shape (SciPy would read and write out
of bounds with it), one whose arrays disagree with ``n_users_`` and ``n_items_``
(``_SHAPES``) or hold another dtype than fit writes (``_KINDS``), and one
labelled with a class whose hyperparameters it only partly has while it has
exactly another class's (an MF file relabelled LightGCN). Only the
library's own classes' declarations are required (with the attributes every
model holds), and the sizes and dtypes checked for them alone: a library class that adds
a name to ``_state_attrs`` adds it to ``_optional_state`` too, or the files of
earlier versions stop loading; what a class of one's own adds is restored when
the file has it.

Which attributes. A class lists its fitted state in ``_state_attrs``
(attribute names; one the model does not have is skipped). A class without the
list is saved generically: every public attribute whose name ends in ``_``.
Supported values: ndarrays of numbers, booleans or str (never object
arrays), scipy sparse matrices, dicts of such arrays (``params``),
:class:`~minigraphrec.sequences.Sequences` (a session model's training
sequences, as ``<attribute>/indptr|items|users|...``), and
JSON data (None, bool, int, float, str, lists and dicts of them, e.g.
``history_``); NumPy scalars become Python numbers. Anything else is an
error at save time, naming the attribute.

Models inside a model (a :class:`~minigraphrec.models.hybrid.Hybrid`'s
components, alone or in a list) are saved in the same archive: in the meta
as ``{"__model__": {...}}`` with their own class and hyperparameters, and
their arrays under a prefix, e.g. ``models_.0/params/E0``. One in an
attribute (``models_``, the fitted components) keeps its fitted state; one
in a hyperparameter (``models``, what the caller passed) is saved as a
specification, class and hyperparameters only, as scikit-learn's ``clone``
reads it: the fitted state a caller's object may still hold (data a
``forget`` removed from the blend's copies, say) is not the model's, and is
not written. A model met twice in one role is stored once and referred to
as ``{"__model_ref__": k}``; loading gives back one shared object. Version 2
of the format added these; version 1 files still load.

A ``random_state`` that is a ``numpy.random.Generator`` is saved as None, with a
logged warning: a generator's state is not the seed the model was fitted from, so a
loaded model refitted is unseeded (an integer seed refits the same model).

A hyperparameter that is a matrix (dense or sparse, e.g. ContentBased's
``item_features``) is stored like an attribute's arrays, under its name, and
described in the meta as ``{"__array__": {"kind": ...}, "key": name}``.
Version 3 of the format added this; a file without such a hyperparameter is
still written as version 2, so earlier versions of the library read it.

Writing is atomic, by the rule every file the package writes follows
(``minigraphrec._atomic``): the archive goes to a temporary file in the target's
folder, is flushed to disk, then renamed over ``path`` with ``os.replace``; a
failure (Ctrl-C included) leaves no partial file behind (and an existing file at
``path`` untouched). Only a process killed while saving (SIGKILL, a power cut)
can leave its temporary ``.minigraphrec-<pid>-<random>.tmp`` file next to the
target, which is still intact. After the rename the folder is flushed to disk
too, where the platform allows it, so that the rename itself survives a power
cut.

Permissions are those an editor keeps. A new file gets the mode a plain
``open`` would give it (0o666 less the umask), not the temporary file's
0o600. Replacing an existing file keeps that file's permission bits (a model
at 0o640 stays 0o640; owner and group become the saving user's; a set-user-id,
set-group-id or sticky bit is not carried over), and a file the caller could
not open for writing (``os.access(path, os.W_OK)`` false: a read-only 0o444
file, say) is refused with a PermissionError rather than silently replaced, as
``open(path, "w")`` and the shell's ``>`` refuse it. The file is written
exactly at ``path`` (no ``.npz`` is appended); a symbolic link there is
replaced by the file, not written through (the refusal and the kept mode apply
to regular files only), and a device, FIFO or socket there is refused
(FileExistsError), never replaced.
"""
from __future__ import annotations

import errno
import hashlib
import importlib
import json
import logging
import os
import zipfile

import numpy as np
import scipy.sparse as sp

from . import _atomic
from .errors import DataError, check_compressed
from .sequences import Sequences

logger = logging.getLogger(__name__)

__all__ = ["save", "load", "FORMAT", "FORMAT_VERSION"]

#: the format name :func:`save` writes into ``__meta__`` and :func:`load` requires
FORMAT = "minigraphrec-model"
#: the newest format version :func:`save` writes (a file without a matrix hyperparameter is
#: written as version 2)
FORMAT_VERSION = 3
#: versions :func:`load` reads (1: no nested models; 2: no matrix hyperparameters). A file
#: is written as version 2 when it holds no matrix hyperparameter, so older readers read it.
READ_VERSIONS = (1, 2, 3)
_META = "__meta__"
_SHA = "__sha256__"


# ================================================================ encoding
def _json_value(value, what):
    """``value`` as plain JSON data (NumPy scalars and dtypes converted), or a DataError."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(v, what) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _json_value(v, what) for k, v in value.items()}
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return np.dtype(value).name
    raise DataError(f"cannot save {what}: {type(value).__name__} is not JSON data (None, a "
                    "bool, number or string, or a list or dict of them)")


#: the classes save and load handle: these and their subclasses. models/base.py registers
#: Recommender, so that this module, a lower layer, never imports the models.
_MODEL_BASES = []


def register_model_base(cls):
    """Let :func:`save` and :func:`load` handle ``cls`` and its subclasses; returns ``cls``."""
    if cls not in _MODEL_BASES:
        _MODEL_BASES.append(cls)
    return cls


def _is_model(value):
    return isinstance(value, tuple(_MODEL_BASES))


def _is_models(value):
    return isinstance(value, (list, tuple)) and any(_is_model(v) for v in value)


def _value(value, key, arrays, memo, what, state=True):
    """A hyperparameter or attribute value as JSON data; models nested (arrays under ``key/``;
    without their fitted state unless ``state``); a dense or sparse matrix (ContentBased's
    ``item_features``) stored as arrays under ``key`` and described by
    ``{"__array__": <its kind>, "key": key}`` (format version 3)."""
    if _is_model(value):
        return _model_meta(value, key + "/", arrays, memo, state)
    if _is_models(value):
        return [_value(v, f"{key}.{i}", arrays, memo, f"{what}[{i}]", state)
                for i, v in enumerate(value)]
    if isinstance(value, np.ndarray) or sp.issparse(value):
        return {"__array__": _encode(key, value, arrays, memo, what), "key": key}
    return _json_value(value, what)


def _model_meta(model, prefix, arrays, memo, state=True):
    """``{"__model__": {...}}``: ``model``'s class, hyperparameters and (with ``state``) fitted
    state. A model in a hyperparameter is a specification: its own hyperparameters, never
    its fitted state (``state=False``, for every model nested in it too)."""
    key = (id(model), state)
    if key in memo:
        return {"__model_ref__": memo[key][0]}
    memo[key] = (len(memo), model)                  # keep the object alive: ids stay unique
    ref = memo[key][0]
    hyper = {}
    for name, value in model.get_params().items():
        if isinstance(value, (np.random.Generator, np.random.RandomState)):
            logger.warning("%s: %s%s is a %s, saved as None (a refit of the loaded model is "
                           "not seeded; an integer seed refits the same model)",
                           type(model).__name__, prefix, name, type(value).__name__)
            value = None                            # a Generator is saved as None
        hyper[name] = _value(value, prefix + name, arrays, memo, f"hyperparameter {name!r}",
                             state=False)
    names = []
    if state:
        try:
            model._check_fitted()
            names = _state_names(model)
        except RuntimeError:                        # an unfitted component: no state
            pass
    attributes = {}
    for name in names:
        if name in (_META, _SHA) or "/" in name:
            raise DataError(f"cannot save attribute {name!r}: reserved name")
        attributes[name] = _encode(prefix + name, getattr(model, name), arrays, memo)
    cls = type(model)
    return {"__model__": {"ref": ref, "prefix": prefix, "module": cls.__module__,
                          "class": cls.__qualname__, "hyperparameters": hyper,
                          "attributes": attributes}}


def _check_array(arr, what):
    arr = np.asarray(arr)
    if arr.dtype.kind not in "biufcUS":
        raise DataError(f"cannot save {what}: arrays of dtype {arr.dtype} need pickle; "
                        "store numbers, booleans or str")
    return arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)   # keeps 0-d arrays 0-d


def _encode(name, value, arrays, memo, what=None):
    """Put ``value``'s arrays into ``arrays``; return its kind (and extra info) for the meta."""
    what = f"attribute {name!r}" if what is None else what
    if _is_model(value) or _is_models(value):
        return {"kind": "models", "value": _value(value, name, arrays, memo, what)}
    if isinstance(value, np.ndarray):
        arrays[name] = _check_array(value, what)
        return {"kind": "array"}
    if sp.issparse(value):
        fmt = value.format if value.format in ("csr", "csc") else "csr"
        M = value.asformat(fmt)
        arrays[f"{name}/indptr"] = np.ascontiguousarray(M.indptr)
        arrays[f"{name}/indices"] = np.ascontiguousarray(M.indices)
        arrays[f"{name}/data"] = _check_array(M.data, what)
        arrays[f"{name}/shape"] = np.asarray(M.shape, dtype=np.int64)
        return {"kind": "sparse", "format": fmt}
    if isinstance(value, Sequences):
        present = [f for f in _SEQUENCE_FIELDS if getattr(value, f) is not None]
        for field in present:
            arrays[f"{name}/{field}"] = _check_array(getattr(value, field),
                                                      f"{what}, field {field!r}")
        return {"kind": "sequences", "n_items": int(value.n_items), "fields": present}
    if (isinstance(value, dict) and value
            and all(isinstance(v, np.ndarray) for v in value.values())):
        for key, arr in value.items():
            if not isinstance(key, str) or "/" in key:
                raise DataError(f"cannot save attribute {name!r}: key {key!r} must be a str "
                                "without '/'")
            arrays[f"{name}/{key}"] = _check_array(arr, f"{name}[{key!r}]")
        return {"kind": "dict", "keys": list(value)}
    return {"kind": "json", "value": _json_value(value, f"attribute {name!r}")}


#: the arrays of a :class:`~minigraphrec.sequences.Sequences` (``n_items`` goes in the meta)
_SEQUENCE_FIELDS = ("indptr", "items", "users", "item_ids", "end_time", "session_ids",
                    "user_ids")


def _state_names(model):
    names = getattr(model, "_state_attrs", None)
    if names is None:
        names = sorted(k for k in vars(model) if k.endswith("_") and not k.startswith("_"))
    names = list(names) + [n for n in _ALWAYS_SAVED if n not in names]
    return [n for n in names if hasattr(model, n)]


#: saved whenever a model has them, whatever its ``_state_attrs`` say
_ALWAYS_SAVED = ("item_labels_",)


def _digest(meta_json, arrays):
    """SHA-256 over the meta and every array (name, dtype, shape, bytes), in name order."""
    h = hashlib.sha256()
    h.update(meta_json.encode("utf-8"))
    for key in sorted(arrays):
        arr = np.ascontiguousarray(arrays[key])
        h.update(b"\0" + key.encode("utf-8") + b"\0" + arr.dtype.str.encode("ascii")
                 + b"\0" + repr(arr.shape).encode("ascii") + b"\0")
        h.update(arr.view(np.uint8).reshape(-1) if arr.size else b"")
    return h.hexdigest()


def _array_digest(value):
    """SHA-256 of a dense or sparse matrix (its dtype, shape and bytes): a fingerprint that
    tells whether a matrix hyperparameter changed."""
    if sp.issparse(value):
        M = value.tocsr()
        arrays = {"indptr": M.indptr, "indices": M.indices, "data": M.data,
                  "shape": np.asarray(M.shape, dtype=np.int64)}
    else:
        arrays = {"array": np.asarray(value)}
    return _digest("", arrays)


def _has_matrix_hyperparameter(info):
    """Whether a model's meta (or a model nested in it) holds an ``__array__`` hyperparameter."""
    def walk(value):
        if isinstance(value, dict):
            if "__array__" in value:
                return True
            if "__model__" in value:
                return _has_matrix_hyperparameter(value["__model__"])
            return any(walk(v) for v in value.values())
        if isinstance(value, list):
            return any(walk(v) for v in value)
        return False
    return walk(info["hyperparameters"]) or walk(info["attributes"])


# ==================================================================== save
def save(model, path):
    r"""Write a fitted ``model`` to ``path`` (.npz, no pickle), atomically.

    Parameters
    ----------
    model : Recommender, fitted
    path : str or os.PathLike, written exactly there (no suffix appended)

    Raises
    ------
    TypeError
        If ``model`` is not a Recommender.
    RuntimeError
        If the model is not fitted.
    DataError
        If some hyperparameter or attribute cannot be stored without pickle,
        or ``path`` is empty.
    OSError
        Naming ``path`` (never the temporary file) if it cannot be written:
        IsADirectoryError for a folder (or a path ending in ``/``, or a symbolic
        link to a folder), PermissionError for an existing file the caller may not
        write or a folder that takes no new file, FileExistsError for a device,
        FIFO or socket at ``path``, FileNotFoundError for a folder that does not
        exist. The old file at ``path``, if any, is then unchanged, and no
        temporary file is left.
    """
    if not _is_model(model):
        raise TypeError(f"model must be a Recommender, got {type(model).__name__}")
    model._check_fitted()
    arrays = {}
    top = _model_meta(model, "", arrays, {})["__model__"]
    version = FORMAT_VERSION if _has_matrix_hyperparameter(top) else 2
    meta = {"format": FORMAT, "format_version": version, "module": top["module"],
            "class": top["class"], "hyperparameters": top["hyperparameters"],
            "attributes": top["attributes"]}
    meta_json = json.dumps(meta, sort_keys=True, allow_nan=True)
    arrays[_META] = np.array(meta_json)
    arrays[_SHA] = np.array(_digest(meta_json, {k: v for k, v in arrays.items() if k != _META}))

    path = os.fspath(path)
    if not path:
        raise DataError("cannot save the model: the path is empty; give a file name")
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"cannot save the model to {path}: it is a "
                                "folder; give a file name")
    if path.endswith(tuple(s for s in (os.sep, os.altsep) if s)):
        named = path.rstrip(os.sep + (os.altsep or "")) or path
        raise IsADirectoryError(errno.EISDIR, f"cannot save the model to {path}: it names a "
                                f"folder ({named}, which does not exist as one); give a file "
                                f"name, e.g. {os.path.join(named, 'model.npz')}")
    _atomic.write_file(path, lambda f: np.savez(f, **arrays),
                       prefix=f"cannot save the model to {path}")


# ==================================================================== load
def _find_class(module, name, path):
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    for _ in range(2):
        found = []
        for cls in (c for base in _MODEL_BASES for c in [base, *subclasses(base)]):
            if cls.__module__ == module and cls.__qualname__ == name and cls not in found:
                found.append(cls)
        if len(found) == 1:
            return found[0]
        if found:                    # defined again (a notebook cell run twice): the latest
            serials = [cls.__dict__.get("_definition_serial") for cls in found]
            if None not in serials:
                return found[serials.index(max(serials))]
            raise DataError(f"{path}: the saved model is a {module}.{name}, and this Python "
                            f"session holds {len(found)} live classes of that name (defined "
                            "again, with instances of the old one still alive) and cannot tell "
                            "which was defined last; delete the old instances or restart")
        if not (module == "minigraphrec" or module.startswith("minigraphrec.")):
            break
        try:                    # our own modules only: a file never makes us import anything else
            importlib.import_module(module)
        except ImportError:
            break
    raise DataError(f"{path}: the saved model is a {module}.{name}, which is not a Recommender "
                    "this Python session knows (import the module that defines it first)")


def load(path):
    r"""Read a model written by :func:`save`; ``mgr.load(path)``.

    The file names its class by module and qualified name. When this session holds
    several live classes of that name (a notebook cell defining the class run again,
    while an instance of the earlier definition is still alive), the one defined last
    is used: what the name means now.

    Raises
    ------
    DataError
        Naming the file and the problem: not a readable .npz (missing, empty,
        a folder, truncated, not a zip), not a minigraphrec model, another format
        version, a checksum mismatch (the contents were changed or damaged),
        or inconsistent contents: a fitted attribute the class needs missing
        (named, with the class), a sparse matrix whose index arrays do not fit
        its shape (named, with the first bad row), a fitted array of the wrong
        dtype (a str or integer table where the library writes floats) or
        holding NaN, an infinity or a negative degree, arrays whose shapes
        disagree with ``n_users_`` / ``n_items_`` (named, with both shapes), or
        a file of another class relabelled (see the module's notes). Every such
        file is refused here, rather than failing (or crashing the process)
        at its first scoring.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise DataError(f"{path} is a folder, not a model file saved by minigraphrec")
    if os.path.isfile(path):
        with open(path, "rb") as f:
            magic = f.read(4)
        if not magic:
            raise DataError(f"{path} is empty, not a model file saved by minigraphrec")
        if magic not in (b"PK\x03\x04", b"PK\x05\x06"):       # a zip archive, as .npz are
            raise DataError(f"{path} is not a model file saved by minigraphrec (not a .npz "
                            f"archive; a data file given in its place?)")
    try:
        # our own handle: np.load leaves its file open when the zip is unreadable
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as err:
        raise DataError(f"{path}: not a readable .npz model file (truncated or damaged?): "
                        f"{type(err).__name__}: {err}") from None
    except Exception as err:            # zlib.error and other decoder failures
        raise DataError(f"{path}: not a readable .npz model file: "
                        f"{type(err).__name__}: {err}") from None
    if _META not in arrays or _SHA not in arrays:
        raise DataError(f"{path}: not a minigraphrec model file (no {_META} / {_SHA} entry)")
    try:
        meta_json = str(arrays.pop(_META)[()])
        meta = json.loads(meta_json)
        stored_sha = str(arrays.pop(_SHA)[()])
    except (ValueError, TypeError) as err:
        raise DataError(f"{path}: the model description is damaged: {err}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"{path}: not a minigraphrec model file (format {meta.get('format')!r})"
                        if isinstance(meta, dict) else f"{path}: the model description is damaged")
    version = meta.get("format_version")
    if version not in READ_VERSIONS:
        raise DataError(f"{path}: format version {version!r}; this minigraphrec reads versions "
                        f"{', '.join(map(str, READ_VERSIONS))}")
    if _digest(meta_json, arrays) != stored_sha:
        raise DataError(f"{path}: checksum mismatch: the contents were modified or damaged "
                        "after saving")

    top = {"ref": None, "prefix": "", "module": meta.get("module"), "class": meta.get("class"),
           "hyperparameters": meta.get("hyperparameters"), "attributes": meta.get("attributes")}
    try:
        return _build(top, arrays, path, {})
    except (KeyError, TypeError, AttributeError) as err:
        raise DataError(f"{path}: the model description is damaged: "
                        f"{type(err).__name__}: {err}") from None


def _build(info, arrays, path, memo):
    """The model ``info`` (a ``"__model__"`` entry) describes, state restored."""
    cls = _find_class(info["module"], info["class"], path)
    hyper = {name: _unvalue(value, arrays, path, memo)
             for name, value in info["hyperparameters"].items()}
    try:
        model = cls(**hyper)
    except (TypeError, ValueError) as err:
        raise DataError(f"{path}: cannot rebuild {info['class']} from the saved "
                        f"hyperparameters: {err}") from None
    _check_label(cls, hyper, info, path)
    if info["ref"] is not None:
        memo[info["ref"]] = model
    for name, ainfo in info["attributes"].items():
        value = _decode(name, ainfo, arrays, path, memo, info["prefix"])
        if name not in getattr(cls, "_may_hold_nonfinite", ()):
            _check_finite(value, name, path)
        setattr(model, name, value)
    # the file's own model is fitted (save refuses others); a nested one is when it has state
    fitted = info["ref"] is None or bool(info["attributes"])
    if fitted:
        _check_present(model, info, path)
        _check_dtypes(model, info, path)
    restore = getattr(model, "_restore", None)
    if restore is not None and info["attributes"]:          # fitted: derive the rest
        try:
            restore()
        except ValueError as err:                           # e.g. a value this version refuses
            raise DataError(f"{path}: cannot restore the fitted {info['class']}: "
                            f"{err}") from err
    if fitted:
        _check_shapes(model, info, path)
    return model


# ============================================================ consistency
# A file with a valid checksum can still be one save never writes: a tool rewriting archives,
# another library version or a hand edit can drop a fitted attribute, leave arrays of other
# sizes, or relabel one class's file as another's. Such a model would load and fail at its
# first scoring call (an AttributeError, a matmul dimension mismatch) without naming the
# file, or score as a model it is not. load checks, from the meta and the arrays' shapes and
# dtypes (passes over the data: _check_finite's over the floats, _decode's over the sparse
# index arrays, and the degrees'): that every attribute the class needs is there
# (_check_present, before _restore, which reads them), that the dtypes are those fit writes
# (_check_dtypes, before _restore too), that the sizes agree with n_users_ and n_items_
# (_check_shapes, after _restore, whose own checks name R_ and the ids first), and that the
# hyperparameters are the class's (_check_label).

#: what every fitted model holds: ``Recommender._fit_interactions`` sets them in every ``fit``,
#: and every version of the format has saved them
_BASE_STATE = ("n_users_", "n_items_", "R_", "user_ids_", "item_ids_")

#: the library's models saved without ``_state_attrs`` (every public attribute ending in
#: ``_``, so no declaration to read): what each needs to score, beyond ``_BASE_STATE``, by the
#: defining class's module and name (a subclass needs its bases' too). Attributes saved only
#: when set (Hybrid's ``grid_``, ContentBased's ``R_weighted_``) are not listed.
_GENERIC_STATE = {
    "minigraphrec.models.popularity.Popularity": ("popularity_",),
    "minigraphrec.models.ease.EASE": ("B_",),
    "minigraphrec.models.knn._NeighbourhoodCF": ("similarity_",),
    "minigraphrec.models.content.ContentBased": ("user_profiles_", "item_profiles_"),
    "minigraphrec.models.hybrid.Hybrid": ("models_", "weights_"),
    "minigraphrec.models.gfcf.GFCF": ("R_tilde_", "d_users_", "d_items_", "V_"),
    "minigraphrec.models.session_base.SessionRecommender": ("sequences_",),
    "minigraphrec.models.sequential.SessionPopularity": ("popularity_",),
    "minigraphrec.models.sequential.MarkovChain": ("popularity_", "transitions_"),
    "minigraphrec.models.sequential.SessionItemKNN": ("similarity_",),
}

#: the shape of the library's fitted arrays, by attribute name: ``"u"`` is ``n_users_``, ``"i"``
#: ``n_items_``, ``"i+1"`` one more, ``"s"`` the side ``similarity_`` compares (``n_users_`` for
#: UserKNN, whose ``_documents`` are users; else ``n_items_``), ``"m"`` ``len(models_)``; a
#: letter of its own (``"d"``, ``"k"``) any size, the same in every array of one model that
#: names it (a user and an item table of one width). ``R_``, ``user_ids_`` and ``item_ids_``
#: hold for every model (``_fit_interactions``); the others for the library's classes and
#: their subclasses only (a model of one's own may use these names otherwise).
_SHAPES = {
    "R_": ("u", "i"), "user_ids_": ("u",), "item_ids_": ("i",), "item_labels_": ("i",),
    "R_weighted_": ("u", "i"), "R_tilde_": ("u", "i"),
    "user_features_": ("u", "fu"), "item_features_": ("i", "fi"),
    "user_embeddings_": ("u", "d"), "item_embeddings_": ("i", "d"),
    "user_profiles_": ("u", "f"), "item_profiles_": ("i", "f"),
    "user_q_": ("u", "q"), "item_q_": ("i", "q"), "user_scale_": ("u",), "item_scale_": ("i",),
    "B_": ("i", "i"), "P_diag_": ("i",), "popularity_": ("i",), "transitions_": ("i", "i"),
    "similarity_": ("s", "s"), "weights_": ("m",),
    "d_users_": ("u",), "d_items_": ("i",), "V_": ("i", "k"), "singular_values_": ("k",),
    "V_q_": ("i", "k"), "V_scale_": ("i",),
    "W_q_": ("i", "i"), "W_indptr_": ("i+1",), "col_scale_": ("i",),
}
_BASE_SHAPES = ("R_", "user_ids_", "item_ids_", "item_labels_")

#: the dtypes of the arrays of ``_SHAPES`` (NumPy's ``dtype.kind`` letters; for a sparse
#: matrix, of its stored values), where not a float ("f"), which every other one is: what
#: ``fit`` writes (raw ids as int64 or str, ``models.base.plain_ids``; the int8 or float16
#: codes of the quantized models), and what scoring computes with. ``R_``: any numbers.
_KINDS = {"user_ids_": "iuUS", "item_ids_": "iuUS", "item_labels_": "US", "R_": "biuf",
          "user_q_": "if", "item_q_": "if", "V_q_": "if", "W_q_": "if", "W_indptr_": "iu"}
#: arrays of ``_SHAPES`` whose entries are >= 0: degrees (GF-CF takes their square roots)
_NONNEGATIVE = ("d_users_", "d_items_")


def _who(info):
    """The model a message names: its class, and where it sits in the file when nested."""
    prefix = info.get("prefix") or ""
    return f"{info['class']} at {prefix.rstrip('/')}" if prefix else info["class"]


def _is_library_model(cls):
    """Whether ``cls`` is one of the library's own model classes. A class of one's own,
    even one derived from a library model, may give these names other meanings and keep
    attributes set only sometimes (``save`` skips those it lacks), so only the checks
    every model passes apply to it."""
    return cls.__module__.split(".")[0] == "minigraphrec"


def _required_state(cls):
    """The attributes a fitted ``cls`` must hold: ``_BASE_STATE``; the ``_state_attrs`` the
    library's classes among ``cls`` and its bases declare, or, for the library's classes
    saved generically, ``_GENERIC_STATE``; less what the class lists in ``_optional_state``
    (saved only when set, or added after files of an earlier version were written). What a
    class of one's own adds is not required: ``save`` skips an attribute of ``_state_attrs``
    the model lacks, so a file without it is one save writes."""
    names = list(_BASE_STATE)
    for c in cls.__mro__:
        if not _is_library_model(c):
            continue
        names += list(c.__dict__.get("_state_attrs", None) or ())
        names += _GENERIC_STATE.get(f"{c.__module__}.{c.__qualname__}", ())
    optional = set(getattr(cls, "_optional_state", ()))
    return [n for n in dict.fromkeys(names) if n not in optional]


def _check_present(model, info, path):
    """DataError naming the file, the class and each attribute a fitted model of this class
    needs (:func:`_required_state`) that the file does not hold; and unless ``n_users_`` and
    ``n_items_`` are counts."""
    missing = [n for n in _required_state(type(model)) if n not in info["attributes"]]
    if missing:
        what = ", ".join(repr(n) for n in missing)
        raise DataError(f"{path}: the saved {_who(info)} has no fitted attribute {what}, "
                        f"which a fitted {info['class']} holds (a file save did not write: "
                        "edited, or written by another program)")
    for name in ("n_users_", "n_items_"):
        value = getattr(model, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise DataError(f"{path}: the saved {_who(info)}'s {name} is {value!r}, not a "
                            "count")


def _shape_of(value):
    if isinstance(value, np.ndarray) or sp.issparse(value):
        return tuple(int(s) for s in value.shape)
    return None


def _check_dtypes(model, info, path):
    """DataError naming the file and the attribute unless every fitted array of ``_SHAPES``
    (for a model of one's own, those of ``_BASE_SHAPES``) has a dtype of ``_KINDS`` (a
    float where it does not say), its stored values for a sparse matrix, and the degrees
    (``_NONNEGATIVE``) are >= 0. Run before ``_restore`` and scoring, which would otherwise
    fail far from the file (a str table), or score NaN (a negative degree)."""
    library = _is_library_model(type(model))
    for name in info["attributes"]:
        if name not in _SHAPES or not (library or name in _BASE_SHAPES):
            continue
        value = getattr(model, name, None)
        arr = value.data if sp.issparse(value) else value
        if not isinstance(arr, np.ndarray):          # None (no features), or a non-array:
            continue                                 # _check_shapes names the latter
        kinds = _KINDS.get(name, "f")
        if arr.dtype.kind not in kinds:
            what = f"{name} has {'stored values of ' if sp.issparse(value) else ''}"
            want = {"f": "a float dtype", "biuf": "a numeric dtype",
                    "iuUS": "integer or str (raw ids)", "US": "str", "if": "int8 or float16 "
                    "codes", "iu": "an integer dtype"}[kinds]
            raise DataError(f"{path}: the saved {_who(info)}'s {what}dtype {arr.dtype}, "
                            f"{want} expected (a file save did not write: edited, or written "
                            "by another program)")
        if name in _NONNEGATIVE and arr.size and arr.min() < 0:
            at = int(np.flatnonzero(arr < 0)[0])
            raise DataError(f"{path}: the saved {_who(info)}'s {name}[{at}] is {arr[at]}; "
                            "degrees are >= 0 (the file was edited or damaged)")


def _check_shapes(model, info, path):
    """DataError unless every fitted array of ``_SHAPES`` has the shape its table entry gives
    (sizes read from ``n_users_``, ``n_items_`` and ``models_``), a Sequences attribute the
    model's ``n_items_``, and every model in a required attribute (Hybrid's ``models_``) is
    fitted on the same users and items. Shapes only: no pass over the arrays."""
    n_u, n_i = int(model.n_users_), int(model.n_items_)
    sizes = {"u": n_u, "i": n_i, "i+1": n_i + 1,
             "s": n_u if getattr(model, "_documents", None) == "users" else n_i}
    components = getattr(model, "models_", None)
    if isinstance(components, (list, tuple)):
        sizes["m"] = len(components)
    said = f"n_users_={n_u}, n_items_={n_i}"
    library = _is_library_model(type(model))
    seen = {}                                          # a free letter -> (size, attribute)
    for name in info["attributes"]:
        value = getattr(model, name, None)
        if isinstance(value, Sequences) and value.n_items != n_i:
            raise DataError(f"{path}: the saved {_who(info)} does not agree with itself "
                            f"({said}): {name} has n_items {value.n_items}")
        spec = _SHAPES.get(name) if library or name in _BASE_SHAPES else None
        if spec is None or value is None:            # None: no such matrix (features, say)
            continue
        shape = _shape_of(value)
        problem = None
        if shape is None:
            problem = f"{name} is a {type(value).__name__}, not an array"
        elif len(shape) != len(spec):
            problem = f"{name} has shape {shape}, {len(spec)} dimensions expected"
        else:
            for size, want in zip(shape, spec):
                if want in sizes and size != sizes[want]:
                    expected = ", ".join(str(sizes.get(w, w)) for w in spec)   # "12, d"
                    problem = (f"{name} has shape {shape}, "
                               f"{f'({expected})' if len(spec) > 1 else expected} expected")
                    break
                if want not in sizes:
                    first = seen.setdefault(want, (size, name))
                    if first[0] != size:
                        problem = (f"{name} has {size} columns and {first[1]} {first[0]}: "
                                   "they must agree")
                        break
        if problem:
            raise DataError(f"{path}: the saved {_who(info)} does not agree with itself "
                            f"({said}): {problem}")
    for name in _required_state(type(model)):        # fitted components: Hybrid's models_
        value = getattr(model, name)
        parts = (list(enumerate(value)) if _is_models(value)
                 else [(None, value)] if _is_model(value) else [])
        for k, part in parts:
            where = name if k is None else f"{name}[{k}]"
            if not hasattr(part, "R_"):
                raise DataError(f"{path}: the saved {_who(info)}'s {where} "
                                f"({type(part).__name__}) holds no fitted state")
            if (part.n_users_, part.n_items_) != (n_u, n_i):
                raise DataError(f"{path}: the saved {_who(info)}'s {where} "
                                f"({type(part).__name__}) was fitted on {part.n_users_} users "
                                f"and {part.n_items_} items, the model on {n_u} and {n_i}")


def _check_label(cls, hyper, info, path):
    """DataError when the file's hyperparameter names are exactly another class's and only
    part of ``cls``'s: a file of that class relabelled (an MF labelled LightGCN has no
    ``n_layers``, and would score as MF under LightGCN's name). A file lacking some of the
    class's hyperparameters and matching no other class is one written before those were
    added, and loads with their defaults; a name the class does not know was refused by its
    constructor. Models of one class and its renamed copy (same names: ItemKNN, UserKNN) are
    told apart by ``_check_shapes`` when they can be."""
    saved = set(hyper)
    try:
        own = set(cls._param_names())
    except TypeError:                              # an __init__ with **kwargs: never saved
        return
    if saved == own or not saved < own:
        return
    stack, others = list(_MODEL_BASES), []
    while stack:
        c = stack.pop()
        stack.extend(c.__subclasses__())
        if (c.__module__, c.__qualname__) != (cls.__module__, cls.__qualname__):
            others.append(c)
    matches = []
    for other in others:
        try:
            if set(other._param_names()) == saved:
                matches.append(other)
        except TypeError:                          # an __init__ with **kwargs
            continue
    # the library's class first (a class of one's own may copy its signature)
    matches.sort(key=lambda c: c.__module__.split(".")[0] != "minigraphrec")
    if matches:
        other, missing = matches[0].__qualname__, ", ".join(sorted(own - saved))
        raise DataError(f"{path}: the saved model is labelled {_who(info)}, but its "
                        f"hyperparameters are {other}'s (it has no {missing}): a {other} file "
                        f"relabelled? It would score as {other} under {info['class']}'s name")


def _first_nonfinite(arr):
    """Index of ``arr``'s first NaN or infinity, or None; no full-size temporary."""
    flat = arr.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(flat, dtype=np.float64)):   # a NaN or inf would show
            return None
    step = 1 << 20
    for start in range(0, flat.size, step):                   # blocks: no (n,) bool array
        bad = np.flatnonzero(~np.isfinite(flat[start:start + step]))
        if bad.size:
            return np.unravel_index(start + int(bad[0]), arr.shape)
    return None                                               # finite; the sum overflowed


def _check_finite(value, name, path):
    """A fitted attribute's floating-point arrays (complex ones part by part) hold no NaN or
    infinity: ``fit`` refuses to finish a model that diverged, so such values come from an
    edited or damaged file (one with its checksum recomputed); scoring would otherwise fail
    later, without the file's name. A model class that stores NaN on purpose lists those
    attributes in ``_may_hold_nonfinite``."""
    parts = ({f"{name}/{key}": v for key, v in value.items()} if isinstance(value, dict)
             else {f"{name}/data": value.data} if sp.issparse(value)
             else {name: value})
    for what, arr in list(parts.items()):
        if isinstance(arr, np.ndarray) and arr.dtype.kind == "c":   # each part on its own
            parts[what] = arr.real
            parts[f"{what} (imaginary part)"] = arr.imag
    for what, arr in parts.items():
        if not (isinstance(arr, np.ndarray) and arr.dtype.kind == "f" and arr.size):
            continue
        where = _first_nonfinite(arr)
        if where is not None:
            at = f" at [{', '.join(str(int(i)) for i in where)}]" if arr.ndim else ""
            raise DataError(f"{path}: the fitted attribute {what!r} holds {arr[where]}{at}; "
                            f"a fitted model is finite (the file was edited or damaged)")


def _unvalue(value, arrays, path, memo):
    """Inverse of :func:`_value`: nested models rebuilt, shared ones shared again."""
    if isinstance(value, dict) and "__model__" in value:
        return _build(value["__model__"], arrays, path, memo)
    if isinstance(value, dict) and "__model_ref__" in value:
        ref = value["__model_ref__"]
        if ref not in memo:
            raise DataError(f"{path}: the model description refers to an unknown model {ref!r}")
        return memo[ref]
    if isinstance(value, dict) and "__array__" in value:
        return _decode(value["key"], value["__array__"], arrays, path, memo)
    if isinstance(value, list) and any(isinstance(v, dict) and ("__model__" in v or
                                                                "__model_ref__" in v)
                                       for v in value):
        return [_unvalue(v, arrays, path, memo) for v in value]
    return value


def _decode(name, info, arrays, path, memo, prefix=""):
    def get(key):
        key = prefix + key
        if key not in arrays:
            raise DataError(f"{path}: entry {key!r} of attribute {name!r} is missing")
        return arrays[key]

    kind = info.get("kind")
    if kind == "models":
        return _unvalue(info.get("value"), arrays, path, memo)
    if kind == "array":
        return get(name)
    if kind == "sparse":
        fmt = info.get("format")
        if fmt not in ("csr", "csc"):
            raise DataError(f"{path}: attribute {name!r} has unknown sparse format {fmt!r}")
        shape = get(f"{name}/shape")
        if shape.shape != (2,) or shape.dtype.kind not in "iu" or (shape < 0).any():
            raise DataError(f"{path}: attribute {name!r} has shape {shape.tolist()!r}, not "
                            "two counts")
        shape = tuple(int(s) for s in shape)
        data, indices, indptr = (get(f"{name}/{part}") for part in ("data", "indices", "indptr"))
        # SciPy's constructor leaves the order of indptr and the range of the indices
        # unchecked, and its C++ routines (a product, a conversion) would then read and
        # write out of bounds: a crash at the first use, or inside _restore
        check_compressed(indptr, indices, data, shape, fmt, f"{path}: attribute {name!r}")
        cls = sp.csr_matrix if fmt == "csr" else sp.csc_matrix
        try:
            return cls((data, indices, indptr), shape=shape)
        except ValueError as err:
            raise DataError(f"{path}: attribute {name!r} is not a valid {fmt} matrix: "
                            f"{err}") from None
    if kind == "dict":
        return {key: get(f"{name}/{key}") for key in info.get("keys", [])}
    if kind == "sequences":
        fields = info.get("fields", [])
        unknown = [f for f in fields if f not in _SEQUENCE_FIELDS]
        if unknown:
            raise DataError(f"{path}: attribute {name!r} has unknown field {unknown[0]!r}")
        try:
            return Sequences(n_items=info["n_items"],
                             **{f: get(f"{name}/{f}") for f in fields})
        except (DataError, TypeError, ValueError) as err:
            raise DataError(f"{path}: attribute {name!r} is not valid sequences: "
                            f"{err}") from None
    if kind == "json":
        return info.get("value")
    raise DataError(f"{path}: attribute {name!r} has unknown kind {kind!r}")
