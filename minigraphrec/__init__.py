r"""minigraphrec: graph-based recommendation, written out in NumPy.

``import minigraphrec as mgr``; models, batches, ``evaluate``, ``load`` and
``DataError`` live at the top level, loaders in ``mgr.datasets``, kernels'
wrappers in ``mgr.ops``.
"""
import importlib as _importlib
import os as _os

# Where each top-level name lives. ``import minigraphrec`` itself imports nothing of ours
# (and no NumPy): a name's module is imported on first use (PEP 562 ``__getattr__``), so
# the ``minigraphrec`` command starts in a few milliseconds and can answer Ctrl-C with one
# line from the very start (``__main__.py``). ``from minigraphrec import LightGCN`` and
# ``mgr.LightGCN`` work as with eager imports.
_HOMES = {
    "errors": ["DataError"],
    "data": ["Interactions"],
    "batch": ["PairBatch", "PointBatch"],
    "models": ["Recommender", "Popularity", "MF", "LightGCN", "GCN", "NGCF", "GAT", "ItemKNN",
               "UserKNN", "ContentBased", "Hybrid", "EASE", "GFCF", "SRGNN", "SessionBatch",
               "SessionPopularity", "MarkovChain", "SessionItemKNN"],
    "metrics": ["evaluate"],
    "io": ["save", "load"],
    "quantization": ["quantize"],
    "optim": ["SGD", "Adam"],
    "gradcheck": ["check_vjp", "check_grad", "numerical_grad", "check_param_grads",
                  "check_model_grads", "GradientMismatchError", "NotDifferentiableError",
                  "RoundoffFloorWarning"],
    "threadpools": ["set_threads", "get_threads", "threads"],
    "explain": ["Explanation"],
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}
_SUBMODULES = {name.removesuffix(".py") for name in _os.listdir(__path__[0])
               if (name.endswith(".py") and name not in ("__init__.py", "__main__.py"))
               or _os.path.isfile(_os.path.join(__path__[0], name, "__init__.py"))}


def __getattr__(name):
    if name in _HOME:
        value = getattr(_importlib.import_module(f".{_HOME[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = _importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value                       # the next access is a plain look-up
    return value


def __dir__():
    return sorted({*globals(), *_HOME, *_SUBMODULES})


__version__ = "0.1.0"

__all__ = [
    "DataError", "Interactions", "PairBatch", "PointBatch",
    "Recommender", "Popularity", "MF", "LightGCN", "GCN", "NGCF", "GAT",
    "ItemKNN", "UserKNN", "ContentBased", "Hybrid", "EASE", "GFCF", "SRGNN", "SessionBatch",
    "SessionPopularity", "MarkovChain", "SessionItemKNN",
    "evaluate", "save", "load", "SGD", "Adam", "check_vjp", "check_grad", "numerical_grad",
    "check_param_grads", "check_model_grads",
    "GradientMismatchError",
    "NotDifferentiableError",
    "RoundoffFloorWarning",
    "set_threads", "get_threads", "threads", "Explanation", "quantize",
    # the submodules with an API page of their own (docs/api.rst), each loaded on first use;
    # not io: ``from minigraphrec import *`` would hide Python's own io module (mgr.io works)
    "datasets", "split", "graph", "ops", "losses", "optim", "gradcheck", "models", "train",
    "rank", "metrics", "sequences", "plot", "linalg", "threadpools", "explain",
    "quantization", "privacy",
]
