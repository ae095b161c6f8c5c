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
import scipy.sparse as sp

from .base import Recommender, kept

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

    Notes
    -----
    The article's open problems (§8), trivially: ``explain(u, i)`` lists the
    item's training users, 1 each (``kind="user"``, the same for every
    ``u``); ``score_history`` returns ``popularity_`` whatever the history;
    ``partial_fit`` and ``forget`` recount, equal to ``fit`` exactly.
    """

    #: evaluate's block: scores are copied rows, cheapest in a block that stays in cache
    eval_block_scores = 2 ** 22

    def __init__(self):
        pass

    def fit(self, train):
        r"""Count each item's training users. Returns ``self``."""
        R = self._fit_interactions(train)                         # (n_users, n_items)
        self.__dict__.pop("_columns", None)
        self.popularity_ = np.bincount(R.indices, minlength=R.shape[1]).astype(np.float64)
        return self

    def _score_batch(self, users):
        r"""``popularity_`` repeated for each user: (len(users), n_items) float64."""
        return np.repeat(self.popularity_[None, :], users.shape[0], axis=0)  # (b, n_items)

    # ------------------------------------------------------ open problems
    def _explain(self, user, item, k):
        r"""``s_ui = Σ_v R_vi``: one contribution of 1 per training user ``v`` of ``item``.

        The score is not personal, so neither is the explanation: the same
        users explain the item for every ``user``.
        """
        from ..explain import Explanation

        R = self.R_
        columns = kept(self, "_columns", R, lambda: sp.csc_matrix(R))    # R_ in CSC, made once
        takers = columns[:, item].indices.astype(np.int64)              # (d_i,)
        return Explanation.from_contributions(
            user, item, takers, np.ones(takers.size), kind="user",
            score=self.score([user])[0, item], exact=True, k=k,
            method="exact: s_ui = Σ_v R_vi, the item's training users (the same for everyone)")

    def _score_history(self, items):
        r"""``popularity_``, whatever the history (the model has no personal part)."""
        return self.popularity_.copy()

    def partial_fit(self, new_interactions, epochs=None):
        r"""Add interactions: the counts of the items of new pairs go up. Equals ``fit`` on the union.

        ``popularity_ = Σ_v R'_vi`` recounted from the union ``R'`` (an
        integer count, so exact). ``epochs`` is ignored.
        """
        merge = self._merge_new(new_interactions)
        popularity = np.bincount(merge.R.indices, minlength=merge.R.shape[1]).astype(np.float64)
        self.R_, self.popularity_ = merge.R, popularity
        self.__dict__.pop("_columns", None)            # the old R_'s CSC: not kept alive
        self.n_users_, self.n_items_ = merge.R.shape
        self.user_ids_, self.item_ids_ = merge.user_ids, merge.item_ids
        self._set_item_labels(merge.item_labels)
        return self

    def forget(self, users=None, interactions=None):
        r"""Remove users or pairs: the counts are recomputed from what remains. Equals ``fit`` on it."""
        removal = self._removal(users, interactions)
        popularity = np.bincount(removal.R.indices,
                                 minlength=removal.R.shape[1]).astype(np.float64)
        self.R_, self.popularity_ = removal.R, popularity
        self.__dict__.pop("_columns", None)
        self.n_users_ = removal.R.shape[0]
        self.user_ids_ = removal.user_ids
        return self
