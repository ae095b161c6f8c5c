r"""Training batches: what a model's ``loss_and_grad`` consumes.

``PairBatch(users, pos, neg)`` holds BPR triples (u, i, j): u interacted
with i and not with j. ``PointBatch(users, items, labels)`` holds labelled
pairs for BCE, label 1 for an observed interaction and 0 for a sampled
negative. Ids are int64, labels float64 in {0, 1}.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["PairBatch", "PointBatch"]


def _ids(name, x):
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-d, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integer ids, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


class PairBatch(NamedTuple):
    """BPR triples: ``users[b]`` prefers ``pos[b]`` to ``neg[b]``. Each (B,) int64."""
    users: np.ndarray
    pos: np.ndarray
    neg: np.ndarray

    @classmethod
    def make(cls, users, pos, neg):
        """Validated constructor: 1-d integer arrays of one length."""
        u, i, j = _ids("users", users), _ids("pos", pos), _ids("neg", neg)
        if not (u.shape == i.shape == j.shape):
            raise ValueError(f"users, pos, neg have shapes {u.shape}, {i.shape}, {j.shape}; "
                             "they must match")
        return cls(u, i, j)

    @property
    def size(self):
        """B, the number of triples."""
        return self.users.shape[0]


class PointBatch(NamedTuple):
    """Labelled pairs for BCE: ``labels[b]`` is 1 if ``users[b]`` interacted with ``items[b]``."""
    users: np.ndarray
    items: np.ndarray
    labels: np.ndarray

    @classmethod
    def make(cls, users, items, labels):
        """Validated constructor: ids as int64, labels as float64 in {0, 1}."""
        u, i = _ids("users", users), _ids("items", items)
        y = np.asarray(labels, dtype=np.float64)
        if not (u.shape == i.shape == y.shape):
            raise ValueError(f"users, items, labels have shapes {u.shape}, {i.shape}, {y.shape}; "
                             "they must match")
        if y.size and not np.all((y == 0) | (y == 1)):
            raise ValueError("labels must be 0 or 1")
        return cls(u, i, y)

    @property
    def size(self):
        """B, the number of pairs."""
        return self.users.shape[0]
