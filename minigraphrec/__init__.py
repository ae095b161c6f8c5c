r"""minigraphrec: graph-based recommendation, written out in NumPy.

``import minigraphrec as mgr``; models, batches, ``evaluate``, ``load`` and
``DataError`` live at the top level, loaders in ``mgr.datasets``, kernels'
wrappers in ``mgr.ops``.
"""
from .errors import DataError
from .data import Interactions
from .batch import PairBatch, PointBatch
from . import datasets, split, graph, ops, losses, optim, gradcheck, metrics, rank, plot
from . import sequences
from .models import (Recommender, Popularity, MF, LightGCN, GCN, NGCF, GAT, ItemKNN, UserKNN,
                     ContentBased, Hybrid, EASE, GFCF, SRGNN, SessionBatch,
                     SessionPopularity, MarkovChain, SessionItemKNN)
from .metrics import evaluate
from .io import save, load
from .quantization import quantize
from .optim import SGD, Adam
from .gradcheck import (check_vjp, check_grad, check_model_grads, GradientMismatchError,
                        NotDifferentiableError, RoundoffFloorWarning)
from .threadpools import set_threads, get_threads, threads
from .explain import Explanation

__version__ = "0.1.0"

__all__ = [
    "DataError", "Interactions", "PairBatch", "PointBatch",
    "Recommender", "Popularity", "MF", "LightGCN", "GCN", "NGCF", "GAT",
    "ItemKNN", "UserKNN", "ContentBased", "Hybrid", "EASE", "GFCF", "SRGNN", "SessionBatch",
    "SessionPopularity", "MarkovChain", "SessionItemKNN",
    "evaluate", "save", "load", "SGD", "Adam", "check_vjp", "check_grad", "check_model_grads",
    "GradientMismatchError",
    "NotDifferentiableError",
    "RoundoffFloorWarning",
    "datasets", "split", "graph", "ops", "losses", "optim", "gradcheck", "metrics", "rank",
    "plot", "sequences", "set_threads", "get_threads", "threads", "Explanation",
    "quantize",
]
