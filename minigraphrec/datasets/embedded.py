r"""Embedded data, so that the demo and the tests need no download: the seeded
synthetic generators (interactions and sessions), the article's 10 x 10 toy,
and :func:`example`, the tutorials' switch between MovieLens-100K and
:func:`synthetic`."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..data import Interactions
from ..errors import (DataError, check_bool, check_finite_number, check_ids, check_int,
                      check_random_state)
from .movielens import load_movielens_100k

_T0 = 1_577_836_800          # 2020-01-01T00:00:00Z
_SPAN = 180 * 24 * 3600      # timestamps fall in the following 180 days


@dataclass(frozen=True)
class SyntheticTruth:
    r"""The hidden structure behind :func:`synthetic`.

    Attributes
    ----------
    user_community : ndarray of int64, shape (n_users,)
    item_community : ndarray of int64, shape (n_items,)
    item_weight : ndarray of float64, shape (n_items,)
        Popularity weight ``w_i = (r_i + 1) ** -popularity_exponent``, with
        ``r_i`` the item's 0-based popularity rank inside its community.
    p_in : float
        Probability that a draw comes from the user's own community.
    """

    user_community: np.ndarray
    item_community: np.ndarray
    item_weight: np.ndarray
    p_in: float

    def probabilities(self, users=None):
        r"""The generating distribution of each user's draws.

        .. math::
            P_u(i) = p_{in} \frac{w_i [c_i = c_u]}{\sum_{j: c_j = c_u} w_j}
                     + (1 - p_{in}) \frac{w_i}{\sum_j w_j}

        Parameters
        ----------
        users : array-like of int, optional
            Ids in ``0 .. n_users - 1``. Default: all users.

        Returns
        -------
        ndarray, shape (len(users), n_items)
            Each row sums to 1. Ranking a user's unseen items by it is the
            oracle recommender.

        Raises
        ------
        DataError
            A user id out of range (a negative one too: it would index from
            the end) or not an integer, naming its position.
        """
        n_users = self.user_community.shape[0]
        cu = (self.user_community if users is None
              else self.user_community[check_ids(users, "users", n_users)])
        w, ci = self.item_weight, self.item_community
        W_c = np.bincount(ci, weights=w)                            # (n_communities,)
        own = (ci[None, :] == cu[:, None]) * (w / W_c[ci])[None, :]  # (n_users, n_items)
        return self.p_in * own + (1.0 - self.p_in) * (w / w.sum())[None, :]


def _balanced_labels(n, n_groups, rng):
    """A random assignment of n things to groups whose sizes differ by at most 1."""
    return rng.permutation(np.arange(n) % n_groups).astype(np.int64)


def _noisy_one_hot(labels, n_groups, noise, rng):
    """One-hot of ``labels``, each replaced by a uniform random label with prob. ``noise``."""
    flip = rng.random(labels.shape[0]) < noise
    observed = np.where(flip, rng.integers(0, n_groups, labels.shape[0]), labels)
    X = np.zeros((labels.shape[0], n_groups))                    # (n, n_groups)
    X[np.arange(labels.shape[0]), observed] = 1.0
    return X


#: the least probability per draw of a user's not yet chosen items that :func:`synthetic`
#: takes (below: over 10**7 draws, some seconds, expected for that one item); on the other
#: defaults, popularity_exponent=1 leaves at least 0.4, popularity_exponent=10 2.9e-7
_MIN_UNSEEN_MASS = 1e-7


def _draw_probabilities(cdf):
    """The probability of each item under ``searchsorted(cdf, random(), side="right")``
    clipped to the last item, as :func:`synthetic` draws: ``cdf[k] - cdf[k - 1]``, the last
    item also taking the rounding gap above ``cdf[-1]``. Exactly 0 for an item whose weight
    was lost in the cumulative sum (a large ``popularity_exponent``)."""
    p = np.diff(cdf, prepend=0.0)                               # (len(cdf),)
    p[-1] = 1.0 - cdf[-2] if cdf.size > 1 else 1.0
    return p


def _check_reachable(n_u, cu, members, cdf_own, cdf_all, p_in, popularity_exponent,
                     mean_interactions):
    """Raise :class:`~minigraphrec.errors.DataError` unless every user of :func:`synthetic`
    finds its ``n_u`` distinct items in reasonable time.

    A user needing ``k`` items draws its last one with the probability of the items not
    yet chosen, at least the mass of all but the ``k - 1`` most probable items of its
    distribution. That bound must reach :data:`_MIN_UNSEEN_MASS` for the largest ``k``
    of each community (0 when fewer than ``k`` items can be drawn at all: the redraws
    would never end). No random numbers are drawn, so the data of every run that passes
    are unchanged; and each of its redraws then finds a new item with probability at
    least :data:`_MIN_UNSEEN_MASS`.
    """
    p_all = (1.0 - p_in) * _draw_probabilities(cdf_all)        # (n_items,)
    need = np.zeros(len(members), dtype=np.int64)               # (n_communities,)
    np.maximum.at(need, cu, n_u)                                # a community's largest n_u
    for c in np.flatnonzero(need >= 2):
        p = p_all.copy()                                        # (n_items,) one draw in c
        p[members[c]] += p_in * _draw_probabilities(cdf_own[c])
        k = int(need[c])
        left = float(np.partition(p, p.size - k + 1)[:p.size - k + 1].sum())
        if left < _MIN_UNSEEN_MASS:
            raise DataError(
                f"synthetic: a user of community {c} needs {k} distinct items, but the items "
                f"left after its {k - 1} most probable ones have probability {left:.3g} per "
                f"draw ({np.count_nonzero(p)} of {p.size} items can be drawn at all): "
                f"popularity_exponent={popularity_exponent:g} leaves almost all the weight on "
                f"each community's top items; lower popularity_exponent, or mean_interactions "
                f"(now {mean_interactions:g}) and min_interactions, or p_in (now {p_in:g}; "
                f"draws from all items reach more of them)")


def synthetic(n_users=1000, n_items=1500, n_communities=10, mean_interactions=20,
              min_interactions=5, p_in=0.8, popularity_exponent=1.0, feature_noise=0.3,
              ratings=False, random_state=0, return_truth=False):
    r"""Interactions with planted communities: the embedded default data set.

    Generative model:

    1. Users and items are split at random into ``n_communities`` communities
       of equal size (sizes differ by at most one): ``c_u``, ``c_i``.
    2. Inside each community the items get a random popularity rank ``r_i``
       and weight ``w_i = (r_i + 1) ** -popularity_exponent`` (Zipf).
    3. User ``u`` makes ``n_u = min_interactions + Poisson(mean_interactions
       - min_interactions)`` draws (at most ``n_items``); each draw comes with
       probability ``p_in`` from the own community (item ``i`` with
       probability ``∝ w_i``) and otherwise from all items (``∝ w_i``,
       global popularity). Repeats are redrawn, so ``u`` has ``n_u``
       distinct items (successive sampling without replacement from
       :meth:`SyntheticTruth.probabilities`).
    4. Each interaction gets a timestamp, uniform over the 180 days from
       2020-01-01 UTC in whole Unix seconds, independent of the item; rows
       are sorted by user, then time.
    5. With ``ratings=True``, a weight ``clip(round(m + N(0, 1)), 1, 5)``
       with ``m = 4`` when ``c_i = c_u`` and ``m = 2.5`` otherwise.
    6. Features: a one-hot of the community, ``(n, n_communities)``, names
       ``"community=<k>"``, where each label is replaced by a uniformly random
       one with probability ``feature_noise`` (so it is right with
       probability ``1 - feature_noise + feature_noise / n_communities``):
       informative, not a give-away.

    So the structure is there for a collaborative or feature-based model to
    find, while global popularity mixes every community's hits. Measured on
    the defaults (about 20,000 interactions) with a per-user 80/20 random
    split (``round(0.2 n_u)`` random test items per user, split seed 0) and
    the LightGCN protocol (full ranking, training items excluded, Recall@20
    = hits / \|test items\|, averaged over users with a test item):

    ================================================ =========
    scorer                                           Recall@20
    ================================================ =========
    oracle: ``truth.probabilities()``                  0.455
    EASE (λ = 100), a learned closed-form model        0.418
    popularity: training interaction counts            0.176
    ================================================ =========

    Over data seeds 0, 1, 2 the oracle gives 0.441--0.455 and popularity
    0.166--0.176. ``tests/test_datasets.py`` recomputes the oracle and
    popularity numbers for seed 0.

    Parameters
    ----------
    n_users, n_items : int
        Sizes, ``n_items >= n_communities``.
    n_communities : int
        Number of communities, ``>= 1``.
    mean_interactions, min_interactions : float, int
        Mean and minimum number of distinct items per user,
        ``1 <= min_interactions <= mean_interactions``.
    p_in : float
        Probability that a draw is from the user's community, ``0 <= p_in < 1``
        (below 1 so that every item can be drawn).
    popularity_exponent : float
        Zipf exponent of popularity inside a community, finite and ``>= 0``
        (0: uniform). A large one leaves little weight beyond each
        community's top items, so a user's last distinct items are rare
        draws: on the other defaults 6 takes 3 s, 8 about 30 s, 10 about
        five minutes, and from 11 on a user runs out (see Raises).
    feature_noise : float
        Probability, in ``[0, 1]``, that a feature label is randomised.
    ratings : bool
        Whether to generate rating weights.
    random_state : int >= 0, numpy.random.Generator or None (fresh data every call)
        Seed; the same seed gives the same data.
    return_truth : bool
        Also return the :class:`SyntheticTruth`.

    Returns
    -------
    Interactions or (Interactions, SyntheticTruth)
        With timestamps, user and item features, and weights if ``ratings``.
        Raw ids are the internal ids.

    Raises
    ------
    DataError
        A parameter out of its range (a float where an integer is asked, a
        NaN or infinite number included), each naming the parameter; or,
        before any item is drawn, a user needing ``n_u`` items whose items
        left after its ``n_u - 1`` most probable ones have a probability
        below ``1e-7`` per draw (over 10**7 draws could be needed for its
        last item; 0 when fewer than ``n_u`` items can be drawn at all),
        naming ``popularity_exponent``, ``mean_interactions`` and ``p_in``,
        which change that, instead of redrawing for hours or forever.
    TypeError
        A number given as something else (a string, None), naming it.
    """
    n_users = check_int(n_users, "n_users")
    n_items = check_int(n_items, "n_items")
    n_communities = check_int(n_communities, "n_communities")
    if n_items < n_communities:
        raise DataError(f"n_items must be >= n_communities (every community needs an item), "
                        f"got n_items={n_items}, n_communities={n_communities}")
    min_interactions = check_int(min_interactions, "min_interactions")
    mean_interactions = check_finite_number(mean_interactions, "mean_interactions")
    if mean_interactions < min_interactions:
        raise DataError(f"mean_interactions must be >= min_interactions, got "
                        f"mean_interactions={mean_interactions:g}, "
                        f"min_interactions={min_interactions}")
    p_in = check_finite_number(p_in, "p_in", at_least=0)
    if not p_in < 1.0:
        raise DataError(f"p_in must be below 1 (so that every item can be drawn), got {p_in}")
    popularity_exponent = check_finite_number(popularity_exponent, "popularity_exponent",
                                              at_least=0)
    feature_noise = check_finite_number(feature_noise, "feature_noise", at_least=0)
    if feature_noise > 1.0:
        raise DataError(f"feature_noise must be a probability in [0, 1], got {feature_noise}")
    ratings = check_bool(ratings, "ratings")
    return_truth = check_bool(return_truth, "return_truth")
    rng = np.random.default_rng(check_random_state(random_state))

    cu = _balanced_labels(n_users, n_communities, rng)          # (n_users,)
    ci = _balanced_labels(n_items, n_communities, rng)          # (n_items,)
    rank = np.empty(n_items, dtype=np.int64)
    members = [np.flatnonzero(ci == c) for c in range(n_communities)]   # items per community
    for idx in members:
        rank[idx] = rng.permutation(idx.size)
    w = (rank + 1.0) ** -popularity_exponent                    # (n_items,)

    # per community: the cumulative distribution over its items
    cdf_own = [np.cumsum(w[m]) / w[m].sum() for m in members]
    cdf_all = np.cumsum(w) / w.sum()                            # (n_items,)

    n_u = min_interactions + rng.poisson(mean_interactions - min_interactions, n_users)
    n_u = np.minimum(n_u, n_items)                              # (n_users,)
    _check_reachable(n_u, cu, members, cdf_own, cdf_all, p_in, popularity_exponent,
                     mean_interactions)
    users, items = [], []
    for u in range(n_users):
        c, need = cu[u], int(n_u[u])
        chosen = {}                                             # dict keeps draw order
        while len(chosen) < need:
            m = 2 * (need - len(chosen)) + 8
            from_own = rng.random(m) < p_in
            own = members[c][np.minimum(np.searchsorted(cdf_own[c], rng.random(m),
                                                        side="right"), members[c].size - 1)]
            anywhere = np.minimum(np.searchsorted(cdf_all, rng.random(m), side="right"),
                                  n_items - 1)
            for i in np.where(from_own, own, anywhere).tolist():
                if i not in chosen:
                    chosen[i] = None
                    if len(chosen) == need:
                        break
        users.extend([u] * need)
        items.extend(chosen)
    users = np.asarray(users, dtype=np.int64)                   # (n_interactions,)
    items = np.asarray(items, dtype=np.int64)                   # (n_interactions,)
    times = _T0 + rng.integers(0, _SPAN, users.size).astype(np.float64)
    order = np.lexsort((times, users))
    users, items, times = users[order], items[order], times[order]

    weights = None
    if ratings:
        mean = np.where(ci[items] == cu[users], 4.0, 2.5)
        weights = np.clip(np.round(mean + rng.standard_normal(users.size)), 1.0, 5.0)

    names = [f"community={k}" for k in range(n_communities)]
    data = Interactions(
        users, items, n_users=n_users, n_items=n_items, weights=weights, timestamps=times,
        user_features=_noisy_one_hot(cu, n_communities, feature_noise, rng),
        item_features=_noisy_one_hot(ci, n_communities, feature_noise, rng),
        user_feature_names=names, item_feature_names=names)
    if return_truth:
        return data, SyntheticTruth(cu, ci, w, float(p_in))
    return data


# ============================================================= the tutorials' data
_ML100K_ENV = "MINIGRAPHREC_ML100K"


def example(n_users=1000, n_items=1500, random_state=0, ml100k=None, ratings=False,
            return_truth=False):
    r"""The data the tutorials run on: MovieLens-100K if a folder is named, else :func:`synthetic`.

    With a folder, :func:`load_movielens_100k` reads it (its ratings are
    always the weights; ``n_users``, ``n_items``, ``random_state`` and
    ``ratings`` are then unused). Without one,
    ``synthetic(n_users=n_users, n_items=n_items, ratings=ratings,
    random_state=random_state)``, the same data to the bit.

    Parameters
    ----------
    n_users, n_items, random_state, ratings
        Passed to :func:`synthetic`.
    ml100k : path-like, optional
        The unpacked ``ml-100k`` folder. Default (None): the environment
        variable ``MINIGRAPHREC_ML100K``. An empty string, like an unset or
        empty variable, means the synthetic data.
    return_truth : bool
        Also return the :class:`SyntheticTruth`, or None for MovieLens-100K
        (real data has no generator to compare with). Checked either way.

    Returns
    -------
    (Interactions, str) or (Interactions, str, SyntheticTruth or None)
        The data and its name for titles and printouts: ``"MovieLens-100K"``
        or ``"synthetic data"``.

    Raises
    ------
    FileNotFoundError
        The folder does not exist (the message says when the environment
        variable named it).
    DataError
        A file of the folder is malformed (see :func:`load_movielens_100k`);
        ``return_truth`` is not a bool.
    """
    return_truth = check_bool(return_truth, "return_truth")
    folder = os.environ.get(_ML100K_ENV) if ml100k is None else ml100k
    if folder:
        try:
            data, name, truth = load_movielens_100k(folder), "MovieLens-100K", None
        except FileNotFoundError as error:
            if ml100k is None:
                raise FileNotFoundError(f"{error} (named by ${_ML100K_ENV})") from error
            raise
    else:                       # the truth costs no random draw: the same data either way
        data, truth = synthetic(n_users=n_users, n_items=n_items, ratings=ratings,
                                random_state=random_state, return_truth=True)
        name = "synthetic data"
    return (data, name, truth) if return_truth else (data, name)


# ============================================================= article toy
#           v1 ... v10
_ARTICLE_TOY_R = (
    "1110000000",   # u1   taste group A (u1-u5, v1-v5)
    "1101100000",   # u2
    "0110100000",   # u3
    "1011100000",   # u4
    "0010110000",   # u5   + v6: a bridge into group B
    "0000011100",   # u6   taste group B (u6-u10, v6-v10), the mirror of A
    "0000011011",   # u7
    "0000001101",   # u8
    "0000010111",   # u9
    "1000000101",   # u10  + v1: a bridge into group A
)


def article_toy(random_state=0):
    r"""The article's worked example: 10 users u1..u10, 10 items v1..v10.

    The article (§4) names the users and items and (§5) gives each a
    10-dimensional feature vector, but it never lists the edges: its code
    draws ``torch.randint(0, 1, ...)``, which is all zeros, an empty graph.
    **The edges here are ours**, hand-written so that the example has an
    answer: two taste groups, mirror images of each other, joined by two
    bridge edges (rows users, columns items)::

              v1 v2 v3 v4 v5 v6 v7 v8 v9 v10
        u1     1  1  1  .  .  .  .  .  .  .
        u2     1  1  .  1  1  .  .  .  .  .
        u3     .  1  1  .  1  .  .  .  .  .
        u4     1  .  1  1  1  .  .  .  .  .
        u5     .  .  1  .  1  1  .  .  .  .
        u6     .  .  .  .  .  1  1  1  .  .
        u7     .  .  .  .  .  1  1  .  1  1
        u8     .  .  .  .  .  .  1  1  .  1
        u9     .  .  .  .  .  1  .  1  1  1
        u10    1  .  .  .  .  .  .  1  .  1

    u1's clear best recommendation is v5 (the item the article scores for
    u1): every other member of u1's group has it; u6's, by symmetry, is v10.

    Parameters
    ----------
    random_state : int >= 0, numpy.random.Generator or None (fresh data every call)
        Seed of the feature matrices.

    Returns
    -------
    Interactions
        34 interactions, raw ids ``"u1".."u10"`` and ``"v1".."v10"``; user and
        item features of shape (10, 10), standard normal as the article's
        ``torch.randn(10, 10)`` (random, so uninformative), names
        ``"x1".."x10"``. No weights or timestamps.
    """
    R = np.array([[int(ch) for ch in row] for row in _ARTICLE_TOY_R])   # (10, 10)
    users, items = np.nonzero(R)                                         # (34,), (34,)
    rng = np.random.default_rng(check_random_state(random_state))
    X_user = rng.standard_normal((10, 10))                               # (10, 10)
    X_item = rng.standard_normal((10, 10))                               # (10, 10)
    names = [f"x{k}" for k in range(1, 11)]
    return Interactions(users, items, n_users=10, n_items=10,
                        user_ids=np.array([f"u{k}" for k in range(1, 11)]),
                        item_ids=np.array([f"v{k}" for k in range(1, 11)]),
                        user_features=X_user, item_features=X_item,
                        user_feature_names=names, item_feature_names=names)


@dataclass(frozen=True)
class SyntheticSessionsTruth:
    r"""The hidden structure behind :func:`synthetic_sessions`.

    Attributes
    ----------
    item_community : (n_items,) int64, ``c_i``
    item_weight : (n_items,) float64, ``w_i = (r_i + 1) ** -popularity_exponent``
    successor : (n_items,) int64, ``σ(i)``: the item a strong transition goes to
    drift, p_transition : float
    n_communities : int
    """

    item_community: np.ndarray
    item_weight: np.ndarray
    successor: np.ndarray
    drift: float
    p_transition: float
    n_communities: int

    def _kernel(self):
        """K (C, C): one step of the community walk, ``K[c, c'] = P(c_{t+1} = c' | c_t = c)``."""
        C = self.n_communities
        K = np.eye(C) * (1.0 - self.drift)
        for side in (-1, 1):
            np.add.at(K, (np.arange(C), (np.arange(C) + side) % C), self.drift / 2)
        return K

    def _own(self):
        """O (C, n_items): ``O[c, j] = w_j [c_j = c] / Σ_{l: c_l = c} w_l``."""
        c, w = self.item_community, self.item_weight
        W_c = np.bincount(c, weights=w, minlength=self.n_communities)    # (C,)
        O = np.zeros((self.n_communities, c.shape[0]))
        O[c, np.arange(c.shape[0])] = w / W_c[c]
        return O

    def next_item_probabilities(self, sessions):
        r"""The exact distribution of the next item after each session: (n, n_items).

        The community ``c_t`` is hidden, so this is the forward algorithm of the hidden
        Markov model the generator is: ``α_1 = onehot(c_{x_1})``, and for ``t ≥ 1``

        .. math::
            α_{t+1}(c) ∝ (α_t K)(c)\,\bigl(p\,[x_{t+1} = σ(x_t)]
                         + (1-p)\,O_{c, x_{t+1}}\bigr),

            P(x_{n+1} = j \mid x_{1..n}) = p\,[j = σ(x_n)] + (1-p)\,(α_n K\, O)_j,

        with ``K`` the walk's step, ``O[c, j]`` the Zipf draw inside community ``c`` and
        ``p = p_transition``. Ranking by it is the Bayes-optimal next-item predictor: the
        ceiling for any model. Sessions must use the generator's item ids: a
        :class:`~minigraphrec.sequences.Sequences` of another catalogue size
        (items renumbered by ``compact_items=True``, say) is a
        :class:`~minigraphrec.errors.DataError`.

        A step that has probability 0 under the model (possible once events were removed
        from a session, by :func:`~minigraphrec.sequences.split_sessions_by_time` say)
        restarts the filter as at a first item: ``α = onehot(c_{x_{t+1}})``.
        """
        from ..sequences import Sequences

        if not isinstance(sessions, Sequences):
            raise TypeError(f"sessions must be a Sequences, got {type(sessions).__name__}")
        if sessions.n_items != self.item_community.shape[0]:
            raise DataError(f"sessions must use the generator's {self.item_community.shape[0]} "
                            f"item ids, got a catalogue of {sessions.n_items} items (renumbered "
                            f"by compact_items=True?)")
        if np.any(sessions.lengths == 0):
            raise DataError("every session needs an item")
        K, O = self._kernel(), self._own()
        p, succ = self.p_transition, self.successor
        start, lengths = sessions.indptr[:-1], sessions.lengths
        alpha = np.zeros((len(sessions), self.n_communities))           # (n, C)
        alpha[np.arange(len(sessions)), self.item_community[sessions.items[start]]] = 1.0
        for t in range(1, int(lengths.max())):
            rows = np.flatnonzero(lengths > t)
            prev, x = sessions.items[start[rows] + t - 1], sessions.items[start[rows] + t]
            a = (alpha[rows] @ K) * (p * (x == succ[prev])[:, None] + (1 - p) * O[:, x].T)
            z = a.sum(axis=1)                                            # (b,)
            restart = z <= 0                                             # impossible step
            a[restart] = 0.0
            a[restart, self.item_community[x[restart]]] = 1.0
            z[restart] = 1.0
            alpha[rows] = a / z[:, None]
        P = (1 - p) * (alpha @ K) @ O                                     # (n, n_items)
        P[np.arange(len(sessions)), succ[sessions.items[sessions.indptr[1:] - 1]]] += p
        return P


def synthetic_sessions(n_sessions=5000, n_items=1000, n_communities=20, drift=0.1,
                       p_transition=0.3, mean_length=6.0, min_length=2,
                       popularity_exponent=1.0, random_state=0, return_truth=False):
    r"""Sessions that wander through item communities: embedded data for sequence models.

    Generative model (a hidden Markov model over communities):

    1. Items are split at random into ``n_communities`` communities of equal size (sizes
       differ by at most one), ``c_i``, arranged on a ring; inside each, a random
       popularity rank ``r_i`` gives the Zipf weight ``w_i = (r_i + 1) ** -a``
       (``a = popularity_exponent``), as in :func:`synthetic`.
    2. Every item ``i`` gets a successor ``σ(i)``, drawn uniformly from all other items
       (any community): the strong item-to-item transition.
    3. A session has ``n = min_length + Poisson(mean_length - min_length)`` events. It
       starts in a uniformly random community ``c_1`` and draws its first item inside it
       (item ``j`` with probability ``∝ w_j``). Before each next event the walk moves to a
       neighbouring community (``c ± 1`` on the ring, each side with probability
       ``drift / 2``), then the item is ``σ(previous item)`` with probability
       ``p_transition``, else a Zipf draw inside the walk's current community. A jump to
       ``σ`` does not move the walk, so the next ordinary draw comes back to it.
    4. Times: a session starts at a uniform second of the 180 days from 2020-01-01 UTC and
       its events follow 10--299 s apart; ``end_time`` is its last event's time. Sessions
       are returned in order of start time.

    What a model can find: popularity alone knows only ``w`` (and mixes every
    community); co-occurrence within sessions finds the communities (items drawn by one
    walk are mostly of one or two neighbouring communities) but not the direction of
    ``i → σ(i)``; the last item alone (a first-order Markov chain) finds ``σ``, but after
    a jump the last item's community is not the walk's, which the earlier items of the
    session reveal: order and the whole session both matter. The exact next-item
    distribution, the ceiling, is :meth:`SyntheticSessionsTruth.next_item_probabilities`.
    Measured on the defaults (5,000 sessions, about 30,000 events), the latest 20 % of
    sessions as test (``split_sessions_by_time(s, test_fraction=0.2,
    compact_items=False)``), every test prefix predicting its next item, full ranking
    (:func:`~minigraphrec.sequences.evaluate_next_item`, 4,907 examples):

    ================================================ ========= =========
    scorer                                           HR@20     MRR@20
    ================================================ ========= =========
    oracle: ``truth.next_item_probabilities``          0.785     0.430
    ``SessionItemKNN(recency="linear")``               0.613     0.258
    ``SessionItemKNN()``                               0.596     0.220
    ``MarkovChain()``                                  0.594     0.364
    ``SessionItemKNN(recency="last")``                 0.563     0.280
    ``SessionPopularity()``                            0.154     0.029
    ================================================ ========= =========

    Over data seeds 0, 1, 2 the oracle gives HR@20 0.785--0.791 and the Markov chain
    0.594--0.611; ``tests/test_datasets.py`` recomputes the seed-0 oracle, Markov and
    popularity rows.

    Parameters
    ----------
    n_sessions, n_items : int >= 1, ``n_items >= max(n_communities, 2)``
    n_communities : int >= 1
    drift : float in [0, 1]
    p_transition : float in [0, 1]
    mean_length : float >= min_length
    min_length : int >= 1
    popularity_exponent : float >= 0, finite
    random_state : int >= 0, numpy.random.Generator or None; the same seed gives the same
        sessions
    return_truth : bool, also return the :class:`SyntheticSessionsTruth`

    Returns
    -------
    Sequences or (Sequences, SyntheticSessionsTruth)
        Anonymous sessions (``users`` all ``-1``) with ``end_time`` (Unix seconds),
        ``item_ids`` the internal ids, ``session_ids`` ``None`` (the position is the id):
        what :func:`load_sessions` returns, so the same code serves both.

    Raises
    ------
    DataError
        A parameter out of its range (a float where an integer is asked, a NaN or
        infinite number included), naming it.
    TypeError
        A number given as something else (a string, None), naming it.
    """
    from ..sequences import Sequences

    n_sessions = check_int(n_sessions, "n_sessions")
    n_communities = check_int(n_communities, "n_communities")
    n_items = check_int(n_items, "n_items", at_least=2)
    if n_items < n_communities:
        raise DataError(f"n_items must be >= n_communities (every community needs an item), "
                        f"got n_items={n_items}, n_communities={n_communities}")
    for name, value in (("drift", drift), ("p_transition", p_transition)):
        if check_finite_number(value, name, at_least=0) > 1.0:
            raise DataError(f"{name} must be a probability in [0, 1], got {value}")
    min_length = check_int(min_length, "min_length")
    mean_length = check_finite_number(mean_length, "mean_length")
    if mean_length < min_length:
        raise DataError(f"mean_length must be >= min_length, got mean_length={mean_length:g}, "
                        f"min_length={min_length}")
    popularity_exponent = check_finite_number(popularity_exponent, "popularity_exponent",
                                              at_least=0)
    return_truth = check_bool(return_truth, "return_truth")
    rng = np.random.default_rng(check_random_state(random_state))
    C = int(n_communities)
    ci = _balanced_labels(n_items, C, rng)                          # (n_items,)
    rank = np.empty(n_items, dtype=np.int64)
    for c in range(C):
        idx = np.flatnonzero(ci == c)
        rank[idx] = rng.permutation(idx.size)
    w = (rank + 1.0) ** -popularity_exponent                        # (n_items,)
    successor = rng.integers(0, n_items - 1, n_items)               # (n_items,), never i
    successor += successor >= np.arange(n_items)

    # inverse-CDF draws inside a community: items sorted by community, and the key
    # c + (cumulative weight within c) in (c, c + 1]; c + u falls in community c's block
    by_comm = np.argsort(ci, kind="stable")                         # (n_items,)
    cw = np.cumsum(w[by_comm])
    block_end = np.cumsum(np.bincount(ci, minlength=C))             # (C,) exclusive ends
    block_start = block_end - np.bincount(ci, minlength=C)
    before = np.r_[0.0, cw][block_start]                            # (C,) weight before c
    total = np.r_[0.0, cw][block_end] - before                      # (C,) W_c
    key = ci[by_comm] + (cw - before[ci[by_comm]]) / total[ci[by_comm]]

    def draw(comm):
        pos = np.searchsorted(key, comm + rng.random(comm.shape[0]), side="right")
        return by_comm[np.minimum(pos, block_end[comm] - 1)]

    lengths = int(min_length) + rng.poisson(mean_length - min_length, n_sessions)
    comm = rng.integers(0, C, n_sessions)                           # (n_sessions,) c_1
    steps = np.zeros((n_sessions, int(lengths.max())), dtype=np.int64)   # (n, T) items
    steps[:, 0] = draw(comm)
    for t in range(1, steps.shape[1]):
        move = rng.random(n_sessions) < drift
        side = np.where(rng.random(n_sessions) < 0.5, -1, 1)
        comm = np.where(move, (comm + side) % C, comm)
        jump = rng.random(n_sessions) < p_transition
        steps[:, t] = np.where(jump, successor[steps[:, t - 1]], draw(comm))
    start = _T0 + rng.integers(0, _SPAN, n_sessions)                # (n_sessions,)
    gaps = rng.integers(10, 300, steps.shape)                       # (n, T), [:, 0] unused
    gaps[:, 0] = 0
    gaps[np.arange(steps.shape[1])[None, :] >= lengths[:, None]] = 0
    end_time = (start + gaps.sum(axis=1)).astype(np.float64)        # (n_sessions,)

    order = np.lexsort((np.arange(n_sessions), start))              # by start time
    lengths, steps, end_time = lengths[order], steps[order], end_time[order]
    valid = np.arange(steps.shape[1])[None, :] < lengths[:, None]   # (n, T)
    sessions = Sequences(np.concatenate([[0], np.cumsum(lengths)]), steps[valid], n_items,
                         item_ids=np.arange(n_items), end_time=end_time)
    if return_truth:
        return sessions, SyntheticSessionsTruth(ci, w, successor, float(drift),
                                                float(p_transition), C)
    return sessions
