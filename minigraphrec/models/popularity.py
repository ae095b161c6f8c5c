r"""The popularity baseline: recommend what most users took.

Every user gets the same ranking, by item degree in the training graph,

.. math::
    s_{ui} = |\{v : R_{vi} = 1\}| ,

the number of distinct training users who interacted with item ``i``
(repeated events of one pair count once, since ``R`` is binary). Equal
counts rank the smaller item id first (the :func:`~minigraphrec.rank.top_k`
contract), and ``recommend`` still drops each user's own training items.
It is the floor any personalised model has to beat.
"""
from __future__ import annotations

import numpy as np

from .base import Recommender

__all__ = ["Popularity"]


class Popularity(Recommender):
    r"""Score every item by its number of training users, the same for all users.

    Attributes
    ----------
    popularity_ : ndarray of float64, shape (n_items,)
        ``popularity_[i]`` = number of distinct training users of item ``i``
        (0 for an item nobody took).
    n_users_, n_items_ : int
    R_ : scipy.sparse.csr_matrix (n_users, n_items)
        The binary training matrix (the seen items ``recommend`` excludes).

    Examples
    --------
    >>> from minigraphrec import Interactions
    >>> from minigraphrec.models import Popularity
    >>> train = Interactions([0, 1, 1, 2], [2, 2, 0, 1], n_items=4)
    >>> model = Popularity().fit(train)
    >>> model.popularity_
    array([1., 1., 2., 0.])
    >>> model.recommend([0], k=2)[0]     # item 2 is seen by user 0
    array([[0, 1]])
    """

    def __init__(self):
        pass

    def fit(self, train):
        r"""Count each item's training users. Returns ``self``."""
        R = self._fit_interactions(train)                         # (n_users, n_items)
        self.popularity_ = np.bincount(R.indices, minlength=R.shape[1]).astype(np.float64)
        return self

    def _score_batch(self, users):
        r"""``popularity_`` repeated for each user: (len(users), n_items) float64."""
        return np.repeat(self.popularity_[None, :], users.shape[0], axis=0)  # (b, n_items)
