r"""Training batches: what a model's ``loss_and_grad`` consumes.

``PairBatch(users, pos, neg)`` holds BPR triples (u, i, j): u interacted
with i and not with j. ``PointBatch(users, items, labels)`` holds labelled
pairs for BCE, label 1 for an observed interaction and 0 for a sampled
negative. The training loop's samplers (and ``make``) give int64 ids and
float64 labels in {0, 1}.

Checks. The plain constructors (``PairBatch(u, i, j)``, ``PointBatch(u, i, y)``)
are NamedTuples and check nothing: the training loop builds one per mini-batch
from ids it drew itself. ``make`` checks (a DataError: shapes, ids >= 0, labels
0 or 1). A model's ``loss_and_grad`` checks what it reads either way: the ids
against the fitted model (DataError), and the labels as
:func:`~minigraphrec.losses.bce_with_logits_forward` does, in [0, 1], so soft
labels (0.5) from a plain ``PointBatch`` train as they do in PyTorch's
``BCEWithLogitsLoss``; build with ``make`` to have them refused.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import DataError, _not_array_like, check_ids

__all__ = ["PairBatch", "PointBatch"]


class PairBatch(NamedTuple):
    """BPR triples: ``users[b]`` prefers ``pos[b]`` to ``neg[b]``. Each (B,) int64."""
    users: np.ndarray
    pos: np.ndarray
    neg: np.ndarray

    @classmethod
    def make(cls, users, pos, neg):
        """Validated constructor: 1-d arrays of one length, ids >= 0 (a DataError otherwise)."""
        u, i, j = check_ids(users, "users"), check_ids(pos, "pos"), check_ids(neg, "neg")
        if not (u.shape == i.shape == j.shape):
            raise DataError(f"users, pos, neg have shapes {u.shape}, {i.shape}, {j.shape}; "
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
        """Validated constructor: ids >= 0 as int64 (a DataError otherwise), labels in {0, 1}
        as float64: bool, integer or float values (strings are refused, not parsed), the
        first other value named with its position. ``TypeError`` if ``labels`` is no array
        at all (None, a string), as for the ids."""
        u, i = check_ids(users, "users"), check_ids(items, "items")
        if _not_array_like(labels):
            raise TypeError(f"labels must be an array of 0s and 1s, got {type(labels).__name__}")
        given = np.asarray(labels)
        if given.size and given.dtype.kind not in "biuf":
            raise DataError(f"labels must hold numbers 0 or 1 (bool, integer or float), got "
                            f"dtype {given.dtype}")
        y = given.astype(np.float64)
        if not (u.shape == i.shape == y.shape):
            raise DataError(f"users, items, labels have shapes {u.shape}, {i.shape}, {y.shape}; "
                             "they must match")
        bad = (y != 0) & (y != 1)                                # NaN too
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            raise DataError(f"labels must be 0 or 1; labels[{at}] = {given[at]}")
        return cls(u, i, y)

    @property
    def size(self):
        """B, the number of pairs."""
        return self.users.shape[0]
