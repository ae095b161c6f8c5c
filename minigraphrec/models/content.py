r"""Content-based filtering: recommend items that look like what the user took.

The article's first family of algorithms (§1): a content model describes each
item by features (genres, year, tags, text), a user model describes each
user by the content of the items they interacted with, and items are ranked
by the cosine similarity of §4,

.. math::
    \mathrm{sim}(u, v) = \frac{u \cdot v}{\lVert u\rVert\,\lVert v\rVert}.

Here, with ``Q`` (n_items, n_features) the item profiles (rows L2-normalised
when ``normalize_items``) and ``W`` the training matrix (binary, or the
interaction weights when ``weighted``):

.. math::
    p_u = \frac{\sum_i W_{ui}\, q_i}{\sum_i W_{ui}}, \qquad
    s_{ui} = \frac{p_u \cdot q_i}{\lVert p_u\rVert\,\lVert q_i\rVert},

and ``s_ui = 0`` when either vector is zero (a user with no training item,
an item with no feature). Scores lie in [-1, 1] ([0, 1] for non-negative
features).

Item profiles come from ``train.item_features`` (e.g. the MovieLens-100K
genres and year from :func:`minigraphrec.datasets.load_movielens_100k`), or
from a matrix given to the model, dense or sparse, or from item texts or
tags through the small TF-IDF below (no scikit-learn).

TF-IDF (:func:`tfidf_matrix`): ``w_dt = tf_dt · log(N / df_t)``, ``tf_dt``
the count of term ``t`` in document ``d``, ``N`` documents, ``df_t`` the
documents containing ``t``; rows are then L2-normalised. A term in every
document gets weight 0 (it tells no item apart). Tokens (:func:`tokenize`):
lower-cased runs of letters and digits, and each CJK ideograph on its own
(Chinese is written without spaces; unigrams are the simplest honest
choice).
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np
import scipy.sparse as sp

from ..data import check_features, check_interactions
from ..errors import DataError, check_bool, check_int
from ..ops.sparse import spgemm_dense
from ..threadpools import few_rows_matmul
from .base import Recommender

__all__ = ["ContentBased", "tokenize", "tfidf_matrix"]

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")


def tokenize(text):
    r"""Lower-cased word tokens: runs of letters/digits, CJK ideographs one by one.

    >>> tokenize("Sci-Fi, 1995: 科幻片")
    ['sci', 'fi', '1995', '科', '幻', '片']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _TOKEN.findall(text.lower())


def tfidf_matrix(texts, min_df=1):
    r"""TF-IDF matrix of a list of documents, rows L2-normalised.

    Parameters
    ----------
    texts : sequence of str, length N
    min_df : int >= 1
        Keep only terms found in at least ``min_df`` documents.

    Returns
    -------
    X : csr_matrix float64, shape (N, n_terms)
        ``X_dt = tf_dt log(N / df_t) / ‖row d‖`` (a row with no weighted
        term stays 0).
    vocabulary : list of str, length n_terms
        The terms, sorted; column ``t`` of ``X`` is ``vocabulary[t]``.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of str (one per item), got a single str")
    check_int(min_df, "min_df")
    counts = []
    for d, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{d}] must be a str, got {type(text).__name__}")
        counts.append(Counter(tokenize(text)))
    N = len(counts)
    df = Counter(t for c in counts for t in c)
    vocabulary = sorted(t for t, n in df.items() if n >= min_df)
    column = {t: j for j, t in enumerate(vocabulary)}
    rows, cols, tf = [], [], []
    for d, c in enumerate(counts):
        for t, n in c.items():
            if t in column:
                rows.append(d)
                cols.append(column[t])
                tf.append(n)
    cols = np.asarray(cols, dtype=np.int64)
    idf = np.log(N / np.array([df[t] for t in vocabulary], dtype=np.float64))  # (n_terms,)
    X = sp.csr_matrix((np.asarray(tf, dtype=np.float64) * idf[cols], (rows, cols)),
                      shape=(N, len(vocabulary)))
    X.sort_indices()
    return _l2_rows(X), vocabulary


#: row norms outside [_NORM_LOW, _NORM_HIGH] come from squares that overflowed float64 (an
#: entry beyond about 1e154) or lost digits to its subnormals (every entry below about
#: 1e-154): those rows are rescaled before their norm is taken (``_rescale_rows``)
_NORM_LOW, _NORM_HIGH = 1e-150, 1e150


def _row_norms(X):
    """The Euclidean norm of each row of ``X`` (n, f), dense or CSR: (n,) float64. Squares
    may overflow or underflow here, without a warning: :func:`_l2_rows` redoes those rows."""
    with np.errstate(over="ignore", under="ignore"):
        if sp.issparse(X):
            return np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())  # (n,)
        return np.linalg.norm(X, axis=1)                                  # (n,)


def _rescale_rows(X, rows):
    """A copy of ``X`` (dense or CSR) whose ``rows`` are multiplied by a power of two that
    brings their largest ``|entry|`` into [0.5, 1): exact (a change of exponent), so the
    direction ``x / ‖x‖`` is the row's own; zero rows and the others are left as they are."""
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64, copy=True)
        peak = np.asarray(abs(X).max(axis=1).todense()).ravel()           # (n,)
    else:
        X = np.array(X, dtype=np.float64)
        peak = np.abs(X).max(axis=1) if X.shape[1] else np.zeros(X.shape[0])
    shift = np.zeros(X.shape[0], dtype=np.int64)                          # (n,) exponents
    rows = rows[peak[rows] > 0]
    shift[rows] = np.frexp(peak[rows])[1]
    if sp.issparse(X):
        X.data = np.ldexp(X.data, -np.repeat(shift, np.diff(X.indptr)))    # (nnz,)
    else:
        X[rows] = np.ldexp(X[rows], -shift[rows, None])
    return X


def _norm(v):
    """``np.linalg.norm(v)`` of a 1-d float vector, its bits, but without the overflow of the
    squares (entries beyond about 1e154 would give inf) or their underflow: taken of ``v``
    times a power of two (exact), then scaled back."""
    v = np.asarray(v, dtype=np.float64)
    peak = float(np.abs(v).max()) if v.size else 0.0
    if peak == 0:
        return 0.0
    shift = int(np.frexp(peak)[1])
    return float(np.ldexp(np.linalg.norm(np.ldexp(v, -shift)), shift))


def _l2_rows(X):
    r"""Rows divided by their L2 norm; zero rows stay zero. Dense or CSR.

    A row of entries beyond about 1e154, or all below about 1e-154, is first rescaled by a
    power of two (:func:`_rescale_rows`): its squares would overflow to inf or underflow
    towards 0, and the row come back as zeros, its scores 0. Every other row is
    ``x · (1 / ‖x‖)`` as it is.
    """
    norms = _row_norms(X)                                                 # (n,)
    odd = np.flatnonzero(~((norms >= _NORM_LOW) & (norms <= _NORM_HIGH)))   # zero rows too
    if odd.size:                          # rows of zeros (a user without items) stay zero
        stored = (np.diff(X.tocsr().indptr)[odd] if sp.issparse(X)
                  else np.count_nonzero(X[odd], axis=1))
        odd = odd[stored > 0]
    if odd.size:
        X = _rescale_rows(X, odd)
        norms = _row_norms(X)
    scale = np.zeros_like(norms)
    np.divide(1.0, norms, out=scale, where=norms > 0)
    if sp.issparse(X):
        return sp.csr_matrix(sp.diags(scale) @ X)
    return X * scale[:, None]


def _feature_matrix(F, n_items, name):
    """``F`` as float64 ndarray or CSR of shape (n_items, n_features), checked, with a column."""
    F = check_features(name, F, n_items, "item")
    if F.shape[1] == 0:
        raise DataError(f"{name} has no columns: there are no item features to compare")
    return F


def _user_profiles(W, Q):
    r"""``P = diag(1 / Σ_i W_ui) W Q``, the weighted mean item profile per user (0 if none)."""
    total = np.asarray(W.sum(axis=1)).ravel()                             # (n_users,)
    inv = np.zeros_like(total)
    np.divide(1.0, total, out=inv, where=total > 0)
    P = sp.diags(inv) @ (W @ Q)                                           # (n_users, f) means
    return sp.csr_matrix(P) if sp.issparse(Q) else np.asarray(P)


class ContentBased(Recommender):
    r"""Cosine similarity between a user's content profile and each item's features.

    .. math::
        p_u = \frac{\sum_i W_{ui} q_i}{\sum_i W_{ui}}, \qquad
        s_{ui} = \frac{p_u \cdot q_i}{\lVert p_u\rVert\,\lVert q_i\rVert}
        \quad(0 \text{ if either is } 0).

    Parameters
    ----------
    item_features : ndarray or scipy sparse, shape (n_items, n_features), optional
        Item profiles. Default: ``train.item_features``.
    item_texts : sequence of str, length n_items, optional
        Item descriptions or space-separated tags; turned into a TF-IDF
        matrix (``tfidf_matrix`` in ``models/content.py``). Give this or
        ``item_features``, not both.
    weighted : bool, default False
        Weight each item in the user profile by the interaction weight
        (``train.to_csr(weighted=True)``: the rating, or the repeat count
        without weights) instead of 1. Each interaction's weight must be
        non-negative: checked one by one, at ``fit`` and ``partial_fit``
        alike (not after repeats are summed), a DataError naming the first
        negative one's position.
    normalize_items : bool, default True
        L2-normalise each item profile before averaging, so an item with
        many genres or a long text does not pull the user profile more than
        one with few.
    min_df : int, default 1
        TF-IDF only: minimum document frequency of a term.

    Attributes
    ----------
    item_profiles_ : ndarray or csr_matrix (n_items, n_features)
        ``Q``, after the optional normalisation.
    user_profiles_ : ndarray or csr_matrix (n_users, n_features)
        ``P``, the (weighted) mean profile of each user's training items
        (0 for a user with none).
    feature_names_ : list of str or None
        The TF-IDF vocabulary, or ``train.item_feature_names``.
    R_ : csr_matrix (n_users, n_items), binary training matrix
    R_weighted_ : csr_matrix (n_users, n_items), only with ``weighted=True``
        The interaction weights the profiles average with.
    n_users_, n_items_ : int

    Raises
    ------
    DataError
        At ``fit``: no item features anywhere, or features of the wrong shape.

    Notes
    -----
    The article's open problems (§8):

    * ``explain(u, i)``: exact, over the user's items ``j``:
      ``c_j = (W_uj / Σ_k W_uk) (q_j · q̂_i) / ‖p_u‖`` sums to the cosine
      (``W`` as ``weighted`` was at ``fit``: a hyperparameter changed since is
      refused, as by the updates).
    * ``score_history(items)``: the cosine with the mean profile of
      ``items`` (weight 1 each); equals ``score(u)`` for a user's own history
      exactly when ``weighted=False``.
    * ``partial_fit``: new interactions and users; the user profiles are
      recomputed (item profiles do not depend on interactions), equal to
      ``fit`` on the union; new items are refused (no features for them).
    * ``forget``: the remaining users' profiles recomputed; equal to ``fit``
      on what remains.

    Both updates keep the item profiles and refuse (ValueError) a
    hyperparameter changed since ``fit``: every one of them shaped the
    profiles or the weights they average with.

    **Reproducibility.** With dense features, the scores of more than
    ``FEW_ROWS`` (8) users at once are one BLAS product
    (:func:`~minigraphrec.threadpools.few_rows_matmul`), whose last bit may
    depend on the number of BLAS threads: scoring 400 users against 300
    items with 8 random dense features, 24 of the 120,000 scores differed
    between ``OPENBLAS_NUM_THREADS=1`` and 2, by at most 2.6e-16 relative
    (ItemKNN, UserKNN, GF-CF, Hybrid and the session baselines gave the same
    bits on the same data). The scores are reproducible for a fixed thread
    count; a product that ``few_rows_matmul`` runs on one BLAS thread (at
    most 8 users, from a program with one Python thread) gives the same
    bits at any count.
    """

    #: every hyperparameter shaped the fitted profiles: none may change before an update
    _params_free_after_fit = ()

    def __init__(self, item_features=None, item_texts=None, weighted=False,
                 normalize_items=True, min_df=1):
        self.item_features = item_features
        self.item_texts = item_texts
        self.weighted = weighted
        self.normalize_items = normalize_items
        self.min_df = min_df

    @classmethod
    def from_texts(cls, texts, **params):
        r"""A ContentBased whose item profiles are the TF-IDF of ``texts`` (one per item)."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of str (one per item), got a single str")
        return cls(item_texts=list(texts), **params)

    def _item_matrix(self, train):
        """(Q, feature names) from texts, the given matrix or the train features."""
        n_items = train.n_items
        if self.item_texts is not None and self.item_features is not None:
            raise DataError("give item_features or item_texts, not both")
        if self.item_texts is not None:
            if isinstance(self.item_texts, str):
                raise TypeError("item_texts must be a sequence of str (one per item), "
                                "got a single str")
            if len(self.item_texts) != n_items:
                raise DataError(f"item_texts has {len(self.item_texts)} texts, expected one per "
                                f"item ({n_items})")
            Q, vocabulary = tfidf_matrix(self.item_texts, self.min_df)
            if Q.shape[1] == 0:
                raise DataError("item_texts produced no term (empty texts, or min_df too high)")
            return Q, vocabulary
        if self.item_features is not None:
            return _feature_matrix(self.item_features, n_items, "item_features"), None
        if train.item_features is not None:
            names = train.item_feature_names
            return _feature_matrix(train.item_features, n_items, "train.item_features"), names
        raise DataError("ContentBased needs item features: train.item_features is None and "
                        "neither item_features nor item_texts was given")

    def _check_params(self):
        check_int(self.min_df, "min_df")
        for name in ("weighted", "normalize_items"):     # a string such as "no" is truthy
            check_bool(getattr(self, name), name)

    def _check_weights(self, weights, name):
        """Each interaction weight ``>= 0`` (``weighted=True``): the rule of ``fit`` and
        ``partial_fit`` alike, before repeats are summed (so ``fit`` on the union and ``fit``
        then ``partial_fit`` accept the same data)."""
        if self.weighted and weights is not None and weights.size and weights.min() < 0:
            bad = int(np.flatnonzero(weights < 0)[0])
            raise DataError(f"weighted=True needs non-negative interaction weights: "
                            f"{name}[{bad}] is {weights[bad]}")

    def fit(self, train):
        r"""Build item and user profiles. Returns ``self``."""
        check_interactions(train)
        self._check_params()
        self._check_weights(train.weights, "train.weights")
        Q, self.feature_names_ = self._item_matrix(train)                 # (n_items, f)
        R = self._fit_interactions(train)                                 # (n_users, n_items)
        if self.normalize_items:
            Q = _l2_rows(Q)
        W = train.to_csr(weighted=True) if self.weighted else R           # (n_users, n_items)
        self.item_profiles_ = Q
        self.user_profiles_ = _user_profiles(W, Q)
        if self.weighted:
            self.R_weighted_ = W                                          # (n_users, n_items)
        elif hasattr(self, "R_weighted_"):
            del self.R_weighted_
        self._restore()
        return self

    def _restore(self):
        """Unit-length profiles for the cosine (after fit or io.load)."""
        super()._restore()
        self._Q_unit = _l2_rows(self.item_profiles_)                      # (n_items, f)
        self._P_unit = _l2_rows(self.user_profiles_)                      # (n_users, f)
        # sparse profiles: Qᵀ as CSR once, the conversion SciPy's product makes per call
        self._Qt_unit = self._Q_unit.T.tocsr() if sp.issparse(self._Q_unit) else None

    def _score_batch(self, users):
        r"""Cosine of ``p_u`` and every ``q_i``: (len(users), n_items) float64."""
        return self._cosines(self._P_unit, users)                         # (b, n_items)

    def _cosines(self, P_unit, rows=None):
        """``P_unit[rows] @ Q_unitᵀ`` dense. Sparse profiles go through :func:`spgemm_dense`,
        whose kernel writes the (often nearly dense) product straight into its rows, bit for
        bit SciPy's: evaluating Gowalla with 64 one-hot feature buckets took 7.6 s through
        SciPy's sparse product and ``toarray``, 2.2-2.4 s so (``bench_catalogues.py``)."""
        if sp.issparse(P_unit) and self._Qt_unit is not None:
            return spgemm_dense(P_unit, self._Qt_unit, rows)              # (b, n_items)
        P = P_unit if rows is None else P_unit[rows]
        if sp.issparse(P) or sp.issparse(self._Q_unit):
            S = P @ self._Q_unit.T                                        # (b, n_items)
            return S.toarray() if sp.issparse(S) else np.asarray(S)
        return few_rows_matmul(np.asarray(P), self._Q_unit.T)            # (b, n_items)

    # ------------------------------------------------------ open problems
    def _check_call_params(self, method):
        """``explain`` splits the score over the weights ``weighted`` selects at the call
        (:meth:`_weights`): refused when a hyperparameter changed since ``fit``
        (:meth:`_check_fit_params`), as the profiles were averaged with the old ones.
        ``score_history`` reads the fitted item profiles only."""
        if method == "explain":
            self._check_fit_params(method)

    def _weights(self):
        """The training matrix the profiles average over: weighted or binary."""
        if not self.weighted:
            return self.R_
        if not hasattr(self, "R_weighted_"):
            raise RuntimeError("this weighted ContentBased was saved without its interaction "
                               "weights (R_weighted_); refit it to explain or update it")
        return self.R_weighted_

    def _explain(self, user, item, k):
        r"""``s_ui = Σ_j c_j``, ``c_j = (W_uj / Σ_k W_uk) (q_j · q̂_i) / ‖p_u‖`` over the user's items.

        The cosine is linear in the profile once its norm is fixed, and the
        profile is the weighted mean of the items' profiles ``q_j``; so each
        training item's share of the score is exact (0 for every item when
        ``p_u`` or ``q_i`` is 0, and the score is then 0 too).
        """
        from ..explain import Explanation

        row = sp.csr_matrix(self._weights()[user])                         # (1, n_items)
        items, w = row.indices.astype(np.int64), row.data                 # (|I_u|,)
        P = self.user_profiles_
        p = P[user].toarray().ravel() if sp.issparse(P) else P[user]      # (f,)
        norm, total = _norm(p), float(w.sum())
        Q, Qu = self.item_profiles_, self._Q_unit
        q_i = Qu[item].toarray().ravel() if sp.issparse(Qu) else Qu[item]   # (f,) unit
        dots = np.asarray(Q[items] @ q_i).ravel()                         # (|I_u|,) q_j · q̂_i
        c = np.zeros(items.size) if norm == 0 or total == 0 else w / total * dots / norm
        return Explanation.from_contributions(
            user, item, items, c, kind="item", score=self.score([user])[0, item], exact=True,
            k=k, method="exact: s_ui = Σ_j (W_uj / Σ_k W_uk) (q_j · q̂_i) / ‖p_u‖ over the "
                        "user's items j")

    def _score_history(self, items):
        r"""The cosine of each item with the mean profile of ``items`` (each weighted 1).

        Equal to ``score(u)`` for a training user's own history when
        ``weighted=False`` (exactly); with ``weighted=True`` only if that
        user's weights are all equal, since a bare history has no weights.
        """
        r = sp.csr_matrix((np.ones(items.size), items, [0, items.size]),
                          shape=(1, self.n_items_))                       # (1, n_items)
        p = _l2_rows(_user_profiles(r, self.item_profiles_))              # (1, f)
        return self._cosines(p)[0]                                        # (n_items,)

    def _commit(self, R, W, user_ids):
        P = _user_profiles(W if self.weighted else R, self.item_profiles_)
        self.R_, self.user_profiles_ = R, P
        if self.weighted:
            self.R_weighted_ = W
        self.n_users_ = R.shape[0]
        self.user_ids_ = user_ids
        self._restore()

    def partial_fit(self, new_interactions, epochs=None):
        r"""Add interactions and users; the user profiles are recomputed. Equals ``fit`` on the union.

        Item profiles depend on the item features alone, so they stay; new
        *items* are refused (the model has no features for them: refit with
        a feature matrix that covers them). With ``weighted=True`` the new
        interactions' weights (1 without weights) add to the old sums, as
        ``Interactions.to_csr(weighted=True)`` of the union would. ``epochs``
        is ignored.
        """
        merge = self._merge_new(new_interactions)
        if merge.n_new_items:
            raise DataError(f"new_interactions has {merge.n_new_items} items the model has no "
                            f"features for, such as {str(merge.item_ids[self.n_items_])!r}; refit "
                            "ContentBased with item features that cover them")
        W = None
        if self.weighted:
            self._check_weights(merge.weights, "new_interactions.weights")
            w = merge.weights if merge.weights is not None else np.ones(merge.users.size)
            old = sp.csr_matrix(self._weights(), copy=True)
            old.resize(merge.R.shape)
            W = (old + sp.csr_matrix((w, (merge.users, merge.items)), shape=merge.R.shape)).tocsr()
            W.sort_indices()
        self._commit(merge.R, W, merge.user_ids)
        return self

    def forget(self, users=None, interactions=None):
        r"""Remove users or pairs; the remaining users' profiles are recomputed (equals ``fit``)."""
        removal = self._removal(users, interactions)
        W = None
        if self.weighted:
            W = sp.csr_matrix(self._weights()[removal.keep_users].multiply(removal.R))
            W.eliminate_zeros()
            W.sort_indices()
        self._commit(removal.R, W, removal.user_ids)
        return self
