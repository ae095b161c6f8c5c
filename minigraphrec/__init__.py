r"""minigraphrec: graph-based recommendation, written out in NumPy.

``import minigraphrec as mgr``; models, batches, ``evaluate``, ``load`` and
``DataError`` live at the top level, loaders in ``mgr.datasets``, kernels'
wrappers in ``mgr.ops``.
"""
from .errors import DataError
from .data import Interactions
from .batch import PairBatch, PointBatch
from .models import Recommender

__version__ = "0.1.0"

__all__ = ["DataError", "Interactions", "PairBatch", "PointBatch", "Recommender"]
