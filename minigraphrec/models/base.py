r"""The estimator contract every recommender follows.

scikit-learn conventions: ``__init__`` only stores hyperparameters, ``fit``
validates and learns, fitted state lives in attributes ending in ``_``.

Every recommender provides

* ``fit(train) -> self`` with ``train`` an :class:`~minigraphrec.data.Interactions`;
* ``score(users) -> ndarray (len(users), n_items)``: higher is better;
* ``recommend(users, k, exclude_seen=True) -> (items, scores)``, each
  ``(len(users), k)``, best first.

Subclasses implement ``fit`` (calling :meth:`Recommender._fit_interactions`
first) and ``_score_batch``; ``score`` and ``recommend`` come from here.
"""
from __future__ import annotations

import inspect

import numpy as np

from ..data import Interactions

__all__ = ["Recommender", "check_interactions"]


def check_interactions(train, name="train"):
    """Raise a clear error unless ``train`` is a non-empty Interactions."""
    if not isinstance(train, Interactions):
        raise TypeError(f"{name} must be an Interactions, got {type(train).__name__}")
    if len(train) == 0:
        raise ValueError(f"{name} holds no interactions")
    return train


def plain_ids(ids):
    """Raw ids as an int64 or str array (never object, so they save without pickle)."""
    arr = np.asarray(ids)
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64)
    if arr.dtype.kind == "U":
        return arr
    if arr.dtype.kind == "O" and all(isinstance(x, (int, np.integer)) for x in arr):
        return arr.astype(np.int64)
    return arr.astype(str)


class Recommender:
    """Base class: hyperparameter handling, user validation, batched top-k."""

    #: users scored at once by ``recommend``; bounds memory to
    #: ``score_batch_size * n_items`` floats.
    score_batch_size = 1024

    # ------------------------------------------------------------ params
    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self, deep=False):
        """The constructor's hyperparameters, as a dict."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set hyperparameters by name; unknown names are an error."""
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no hyperparameter {name!r}; "
                                 f"valid: {sorted(valid)}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def save(self, path):
        """Save the fitted model to ``path`` (.npz, no pickle); see :func:`minigraphrec.io.save`."""
        from ..io import save
        save(self, path)

    # ------------------------------------------------------------- fitting
    def _fit_interactions(self, train):
        """Validate ``train`` and keep what scoring needs: sizes, ``R_`` and the raw ids."""
        check_interactions(train)
        self.n_users_ = train.n_users
        self.n_items_ = train.n_items
        self.R_ = train.to_csr()               # (n_users, n_items) binary, the seen items
        self.user_ids_ = plain_ids(train.user_ids)   # (n_users,) raw ids, for the CLI and files
        self.item_ids_ = plain_ids(train.item_ids)   # (n_items,)
        return self.R_

    def _check_fitted(self):
        if not hasattr(self, "R_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet; call fit(train) first")

    def _check_users(self, users):
        """Users as an int64 array of internal ids, each in 0..n_users-1."""
        self._check_fitted()
        arr = np.asarray(users)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim != 1:
            raise ValueError(f"users must be a 1-d array of user ids, got shape {arr.shape}")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"users must be integer ids, got dtype {arr.dtype}")
        arr = arr.astype(np.int64, copy=False)
        bad = (arr < 0) | (arr >= self.n_users_)
        if bad.any():
            raise ValueError(f"user id {int(arr[bad][0])} is unknown: the model was fitted on "
                             f"users 0..{self.n_users_ - 1}")
        return arr

    # ------------------------------------------------------------- scoring
    def _score_batch(self, users):
        """Scores of ``users`` (validated int64) for every item, (len(users), n_items)."""
        raise NotImplementedError

    def score(self, users):
        r"""Scores of every item for each user, shape (len(users), n_items); higher is better."""
        users = self._check_users(users)
        return self._score_batch(users)

    def recommend(self, users, k=10, exclude_seen=True):
        r"""The ``k`` best items per user, best first.

        Returns
        -------
        items : ndarray of int64, shape (len(users), k)
        scores : ndarray of float, shape (len(users), k)
            When a user has fewer than ``k`` candidate items (all others
            seen), the tail is padded with item ``-1`` and score ``-inf``.
        """
        from ..rank import top_k

        users = self._check_users(users)
        k = int(k)
        if k < 1:
            raise ValueError(f"k must be a positive integer, got {k}")
        items = np.empty((users.shape[0], k), dtype=np.int64)
        scores = np.empty((users.shape[0], k), dtype=np.float64)
        for start in range(0, users.shape[0], self.score_batch_size):
            batch = users[start:start + self.score_batch_size]
            S = self._score_batch(batch)               # (b, n_items)
            seen = self.R_[batch] if exclude_seen else None
            items[start:start + len(batch)], scores[start:start + len(batch)] = top_k(S, k, exclude=seen)
        return items, scores
