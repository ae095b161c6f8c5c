r"""Top-k recommendation metrics and the evaluation protocol.

The protocol (the LightGCN paper's): every item is ranked for every user
(full ranking, no sampled negatives); each user's training items are left out
of the ranking; only users with at least one test item are evaluated; each
metric is computed per user and averaged over those users.

Notation for one user: ``T`` the test items, ``L = (l_0, l_1, ...)`` the
ranked list (``l_0`` best), ``rel_r = 1`` when ``l_r ∈ T`` (``r`` 0-based),
``hits@K = Σ_{r<K} rel_r``. Relevance is binary: a test pair is relevant
whatever its weight (a rating of 1 as much as a 5, a weight of 0 too), and a
repeated pair counts once. The list is the one ``recommend`` returns: items
by decreasing score, equal scores in increasing item id
(:func:`minigraphrec.rank.top_k`), items scored ``-inf`` left out. The tie
rule moves the numbers of models with many equal scores (Popularity's
Recall@20 on ML-100K changes in the fourth digit with ties broken the other
way); LightGCN's code ranks with ``torch.topk``, whose order among ties is
not defined.

=============  ==============================================================
metric         per user
=============  ==============================================================
recall@K       hits@K / \|T\|
precision@K    hits@K / K  (padding slots of a short list count as misses)
ndcg@K         DCG/IDCG, DCG = Σ_{r<K} rel_r / log2(r + 2),
               IDCG = Σ_{r < min(\|T\|, K)} 1 / log2(r + 2)
hit@K          1 if hits@K > 0 else 0
map@K          (1 / min(\|T\|, K)) Σ_{r<K} rel_r · hits@(r+1) / (r + 1)
mrr@K          1 / (r* + 1), r* the first r < K with rel_r = 1; 0 if none
auc            P(a test item outscores a negative), ties ½, over the full
               ranking (not at K), negatives = items neither train nor test
               (an item scored ``-inf`` is still a negative, though no list
               shows it)
coverage@K     \|∪_u top-K(u)\| / n_items  (one number for all users)
novelty@K      mean over u's recommended items i of -log2(p_i)
=============  ==============================================================

Conventions and their sources:

* MAP normalised by ``min(|T|, K)``, as RecBole's ``MAP`` does (and the
  Kaggle ``apk``); the variant dividing by ``|T|`` would punish a user with
  more test items than K for what no list of length K can reach. trec_eval's
  and ranx's ``map@K`` divide by ``|T|``: to compare with them, multiply each
  user's AP by ``min(|T|, K) / |T|`` before averaging (:func:`map_at_k` gives
  the per-user values).
* AUC is averaged over users with equal weight (RecBole's ``GAUC`` instead
  weights users by \|T\|). It is exact: the Mann–Whitney count from the ranks
  of the test items among the user's candidates (midranks for ties). Users
  with no negative (train ∪ test covers the catalogue) are left out of the
  AUC mean.
* Novelty is the mean self-information of Zhou et al., "Solving the apparent
  diversity–accuracy dilemma of recommender systems", PNAS 107(10), 2010:
  their ``N = (1 / (U L)) Σ_u Σ_{i ∈ L_u} log2(U / k_i)``, popularity
  ``p_i = k_i / U`` with ``k_i`` the number of training users of ``i`` and
  ``U`` the number of users. An item no training user touched would have
  infinite self-information; we count it as ``k_i = 1`` (novelty capped at
  ``log2 U``). Padding slots (item ``-1``) are skipped, so a user whose list
  is short averages over the items it has: novelty@K is the mean over users
  of each user's mean self-information, which is Zhou et al.'s ``N`` when
  every list has K items, and a user with an empty list is left out.
* Coverage counts the items in at least one evaluated user's top K, over
  the whole catalogue ``n_items``.

Array-level functions take ``ranked`` (int64 (n, K), best first, ``-1`` for
padding, as :func:`minigraphrec.rank.top_k` returns) and ``test_rows``, a
scipy.sparse matrix (n, n_items) whose row ``r`` holds the test items of the
user ranked in row ``r``. They return one value per row; a row with no test
item gets ``NaN``, so average with ``np.nanmean`` (``.mean()`` would be NaN).
"""
from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from .data import Interactions, match_raw_ids
from .errors import DataError, check_backend, check_int, int64_ids
from .rank import (
    _as_scores, _check_scores, _raise_nan, _row_chunks, _score_blocks, _top_k_numpy,
    canonical_csr, csr_arrays,
)

__all__ = [
    "METRICS", "hit_matrix", "recall_at_k", "precision_at_k", "ndcg_at_k", "hit_rate_at_k",
    "map_at_k", "mrr_at_k", "auc_from_scores", "coverage_at_k", "novelty_at_k",
    "item_self_information", "evaluate", "parse_metric", "metric_key",
]

logger = logging.getLogger(__name__)

#: metric names understood by :func:`evaluate`, in the order of its result
METRICS = ("recall", "precision", "ndcg", "hit", "map", "mrr", "auc", "coverage", "novelty")


def parse_metric(metric):
    r"""``"recall@20"`` -> ``("recall", 20)``, ``"auc"`` -> ``("auc", None)``.

    How a model's ``metric`` hyperparameter (validation, early stopping)
    names what :func:`evaluate` computes: a name of :data:`METRICS` at a
    cut-off >= 1, or ``"auc"``, which has none. The key of the result in
    :func:`evaluate`'s dict is :func:`metric_key` of the pair (``"ndcg@020"``
    is ``"ndcg@20"``). A DataError (a ValueError) for anything else.
    """
    name, sep, k = str(metric).partition("@")
    if name == "auc":
        if sep:
            raise DataError(f"AUC ranks every item, so it has no cut-off: metric='auc', "
                             f"got {metric!r}")
        return name, None
    if not sep or name not in METRICS or not (k.isascii() and k.isdigit()) or int(k) < 1:
        raise DataError(f"metric must look like 'recall@20' (one of "
                         f"{', '.join(m for m in METRICS if m != 'auc')} at a positive "
                         f"cut-off) or be 'auc', got {metric!r}")
    return name, int(k)


def metric_key(name, k):
    """The key of metric ``name`` at cut-off ``k`` in :func:`evaluate`'s result:
    ``"recall@20"``, and ``"auc"`` whatever ``k``."""
    if name not in METRICS:
        raise DataError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    return name if name == "auc" else f"{name}@{check_int(k, 'k')}"


# ---------------------------------------------------------------- validation
def _check_ranked(ranked, name="ranked"):
    """Ranked lists as int64 (n, K), ids >= -1, no item twice in a row."""
    L = np.asarray(ranked)
    if L.ndim != 2:
        raise DataError(f"{name} must be 2-d (n_users, K), got shape {L.shape}")
    L = int64_ids(L, name, "item ids")                           # (n, K)
    if L.size and L.min() < -1:
        r, c = np.argwhere(L < -1)[0]
        raise DataError(f"{name}[{r}, {c}] is {L[r, c]}; item ids are >= 0 (-1 is padding)")
    srt = np.sort(L, axis=1)                                     # (n, K)
    dup = (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)         # (n, K-1)
    if dup.any():
        r = int(np.flatnonzero(dup.any(axis=1))[0])
        item = int(srt[r, 1:][dup[r]][0])
        raise DataError(f"{name} row {r} lists item {item} twice; a ranking holds each item once")
    return L


def _check_items_below(L, n_items, name, what):
    if L.size and L.max() >= n_items:
        r, c = np.argwhere(L >= n_items)[0]
        raise DataError(f"{name}[{r}, {c}] is item {L[r, c]}, outside the {n_items} items "
                        f"of {what}")


def _check_k_within(k, K):
    k = check_int(k, "k")
    if k > K:
        raise DataError(f"k={k} exceeds the length {K} of the ranked lists")
    return k


def _check_test_rows(test_rows, n_rows):
    if not sp.issparse(test_rows):
        raise DataError("test_rows must be a scipy.sparse matrix (n_users, n_items), "
                        f"got {type(test_rows).__name__}")
    if test_rows.shape[0] != n_rows:
        raise DataError(f"test_rows has {test_rows.shape[0]} rows but ranked has {n_rows}; "
                        "row r of both must be the same user")
    return canonical_csr(test_rows, test_rows.shape, "test_rows")


# ------------------------------------------------------------ per-user maths
def _hits(L, T):
    r"""rel[r, j] = 1 when ranked item L[r, j] is a test item of row r.

    Looks every (row, item) up among the sorted keys ``row * n_items + item``
    of the test entries (CSR rows in order, indices sorted, so the keys are
    sorted). Padding (-1) is never a hit.
    """
    n, K = L.shape
    n_items = T.shape[1]
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(T.indptr))
    test_keys = rows * n_items + T.indices                         # (nnz,) sorted
    keys = np.arange(n, dtype=np.int64)[:, None] * n_items + L     # (n, K)
    if test_keys.size == 0:
        return np.zeros((n, K), dtype=bool)
    pos = np.minimum(np.searchsorted(test_keys, keys), test_keys.size - 1)
    return (test_keys[pos] == keys) & (L >= 0)                     # (n, K)


def _discounts(k):
    """1 / log2(r + 2) for the 0-based ranks r = 0..k-1."""
    return 1.0 / np.log2(np.arange(k) + 2.0)                       # (k,)


def _per_user(hits, n_test, k, metric):
    """One metric at cutoff k from the hit matrix; NaN for rows with no test item.

    ``hits`` may have fewer than ``k`` columns, ``w``, as long as ``w >= min(n_test, k)``
    in every row: the slots beyond are misses (padding, as a list longer than the
    catalogue holds), which the formulas count through ``k`` alone (precision divides by
    ``k``, NDCG's ideal and MAP's normaliser run to ``min(|T|, k)``). So ``evaluate``
    ranks at most ``n_items`` slots, and its memory does not grow with ``k`` beyond.
    """
    rel = hits[:, :k]                                              # (n, w) bool, w <= k
    w = rel.shape[1]
    n_hit = rel.sum(axis=1)                                        # (n,)
    has_test = n_test > 0
    n_test_safe = np.where(has_test, n_test, 1)
    if metric == "recall":
        value = n_hit / n_test_safe
    elif metric == "precision":
        value = n_hit / k
    elif metric == "ndcg":
        disc = _discounts(w)                                       # (w,)
        dcg = np.where(rel, disc, 0.0).sum(axis=1)                 # (n,)
        idcg = np.cumsum(disc)[np.minimum(n_test_safe, k) - 1]     # (n,) min(|T|, k) <= w
        value = dcg / idcg
    elif metric == "hit":
        value = (n_hit > 0).astype(np.float64)
    elif metric == "map":
        prec = np.cumsum(rel, axis=1) / np.arange(1, w + 1)        # (n, w) precision@(r+1)
        value = np.where(rel, prec, 0.0).sum(axis=1) / np.minimum(n_test_safe, k)
    elif metric == "mrr":
        first = np.argmax(rel, axis=1)                             # (n,) 0 if no hit
        value = np.where(n_hit > 0, 1.0 / (first + 1.0), 0.0)
    else:                                                          # pragma: no cover
        raise ValueError(metric)
    return np.where(has_test, value, np.nan)


def _array_metric(metric, ranked, test_rows, k):
    L = _check_ranked(ranked)
    T = _check_test_rows(test_rows, L.shape[0])
    _check_items_below(L, T.shape[1], "ranked", "test_rows")
    k = _check_k_within(k, L.shape[1])
    return _per_user(_hits(L, T), np.diff(T.indptr), k, metric)


# -------------------------------------------------------- array-level API
def hit_matrix(ranked, test_rows):
    r"""Relevance of every ranked slot: ``rel[r, j] = L[r, j] ∈ T_r``.

    Parameters
    ----------
    ranked : int (n, K), best first, -1 for padding, no item twice in a row
    test_rows : scipy.sparse (n, n_items); row r's nonzeros are row r's test items

    Returns
    -------
    rel : bool (n, K)
    """
    L = _check_ranked(ranked)
    T = _check_test_rows(test_rows, L.shape[0])
    _check_items_below(L, T.shape[1], "ranked", "test_rows")
    return _hits(L, T)


def recall_at_k(ranked, test_rows, k):
    r"""Recall@k per row: hits@k / \|T\|. float64 (n,), NaN where \|T\| = 0."""
    return _array_metric("recall", ranked, test_rows, k)


def precision_at_k(ranked, test_rows, k):
    r"""Precision@k per row: hits@k / k. float64 (n,), NaN where \|T\| = 0."""
    return _array_metric("precision", ranked, test_rows, k)


def ndcg_at_k(ranked, test_rows, k):
    r"""NDCG@k per row, binary gains.

    ``DCG = Σ_{r<k} rel_r / log2(r + 2)`` (r 0-based), divided by the ideal
    ``IDCG = Σ_{r < min(|T|, k)} 1 / log2(r + 2)``. float64 (n,), NaN where
    \|T\| = 0.
    """
    return _array_metric("ndcg", ranked, test_rows, k)


def hit_rate_at_k(ranked, test_rows, k):
    r"""Hit@k per row: 1 if any of the top k is a test item, else 0. NaN where \|T\| = 0."""
    return _array_metric("hit", ranked, test_rows, k)


def map_at_k(ranked, test_rows, k):
    r"""Average precision at k per row (MAP@k once averaged).

    ``AP@k = (1 / min(|T|, k)) Σ_{r<k} rel_r · precision@(r+1)``, the
    normalisation RecBole uses. float64 (n,), NaN where \|T\| = 0.
    """
    return _array_metric("map", ranked, test_rows, k)


def mrr_at_k(ranked, test_rows, k):
    r"""Reciprocal rank at k per row: 1/(r*+1), r* the first hit's rank (< k), else 0.

    float64 (n,), NaN where \|T\| = 0.
    """
    return _array_metric("mrr", ranked, test_rows, k)


#: the arguments of the per-row metrics above, appended to each one's docstring
_PER_ROW_PARAMETERS = r"""

    See the module docstring for the protocol and the conventions.

    Parameters
    ----------
    ranked : int (n, K), best first, -1 for padding, no item twice in a row (as
        :func:`~minigraphrec.rank.top_k` returns)
    test_rows : scipy.sparse (n, n_items); row r's nonzeros are row r's test items
    k : int, ``1 <= k <= K``
    """

for _metric in (recall_at_k, precision_at_k, ndcg_at_k, hit_rate_at_k, map_at_k, mrr_at_k):
    if _metric.__doc__ is not None:          # None under python -OO
        _metric.__doc__ = _metric.__doc__.rstrip() + _PER_ROW_PARAMETERS
del _metric


def coverage_at_k(ranked, n_items, k):
    r"""Catalogue coverage: the fraction of the ``n_items`` items in at least one row's top k.

    One number for all rows, not one per row: ``|∪_r top-k(r)| / n_items``. Padding (-1)
    is not an item.

    Parameters
    ----------
    ranked : int (n, K), best first, -1 for padding, no item twice in a row (as
        :func:`~minigraphrec.rank.top_k` returns); every id below ``n_items``
    n_items : int >= 1, the size of the catalogue
    k : int, ``1 <= k <= K``

    Returns
    -------
    float
        In [0, 1] (a NumPy float64).
    """
    L = _check_ranked(ranked)
    n_items = check_int(n_items, "n_items")
    _check_items_below(L, n_items, "ranked", "the catalogue")
    k = _check_k_within(k, L.shape[1])
    shown = np.zeros(n_items, dtype=bool)
    top = L[:, :k]
    shown[top[top >= 0]] = True
    return shown.sum() / n_items


def item_self_information(train):
    r"""``-log2 p_i`` per item, ``p_i = max(k_i, 1) / n_users``.

    ``k_i`` is the number of distinct users with a nonzero in column ``i`` of
    ``train`` (n_users, n_items); an item without any counts as one user
    (Zhou et al. 2010's self-information, capped at ``log2 n_users``).
    Returns float64 (n_items,).
    """
    if not sp.issparse(train):
        raise DataError(f"train must be a scipy.sparse matrix (n_users, n_items), "
                        f"got {type(train).__name__}")
    R = canonical_csr(train, train.shape, "train")
    if R.shape[0] == 0:
        raise DataError("train has no users; popularity is undefined")
    k_i = np.bincount(R.indices, minlength=R.shape[1])             # (n_items,)
    return np.log2(R.shape[0] / np.maximum(k_i, 1))


def novelty_at_k(ranked, train, k):
    r"""Novelty@k per row: mean of ``-log2 p_i`` over the row's top-k items.

    ``p_i`` is the fraction of training users who interacted with item ``i``
    (see :func:`item_self_information`; Zhou et al. 2010). Padding slots are
    skipped; a row with no item at all gets NaN.

    Parameters
    ----------
    ranked : int (n, K)
    train : scipy.sparse (n_users, n_items), the whole training matrix
    k : int, 1 <= k <= K
    """
    L = _check_ranked(ranked)
    info = item_self_information(train)
    _check_items_below(L, info.shape[0], "ranked", "train")
    k = _check_k_within(k, L.shape[1])
    return _novelty(L, info, k)


def _novelty(L, info, k):
    top = L[:, :k]                                                 # (n, k)
    valid = top >= 0
    total = np.where(valid, info[np.maximum(top, 0)], 0.0).sum(axis=1)
    count = valid.sum(axis=1)
    return np.divide(total, count, out=np.full(L.shape[0], np.nan), where=count > 0)


# ---------------------------------------------------------------------- AUC
def _auc_numpy(S, E, T):
    """Reference: Mann–Whitney U from midranks, one row at a time."""
    from scipy.stats import rankdata   # here, not at the top: scipy.stats costs 0.5 s to import

    n, n_items = S.shape
    out = np.full(n, np.nan)
    for r in range(n):
        candidate = np.ones(n_items, dtype=bool)
        candidate[E.indices[E.indptr[r]:E.indptr[r + 1]]] = False   # train items out
        positive = np.zeros(n_items, dtype=bool)
        positive[T.indices[T.indptr[r]:T.indptr[r + 1]]] = True
        positive &= candidate
        m = int(positive.sum())
        n_neg = int(candidate.sum()) - m
        if m == 0 or n_neg == 0:
            continue
        # ranks of the values' codes (same order, same ties): SciPy before 1.13 ranks a row
        # holding both +inf and -inf as all NaN
        codes = np.unique(S[r, candidate], return_inverse=True)[1]
        ranks = rankdata(codes)                        # ascending midranks, ties averaged
        U = ranks[positive[candidate]].sum() - m * (m + 1) / 2
        out[r] = U / (m * n_neg)
    return out


#: rows with at most this many test items take the AUC kernel's scan path (one
#: vectorised pass per test item, counting in float lanes), the others its
#: merge path (a binary search per item); ``auc_rows`` and ``rank_rows`` alike
_AUC_SCAN_MAX = 128
#: rows per work item of the evaluation kernel's parallel loop (see _rank_block)
_EVAL_CHUNK = 16


def _auc_rows(S, E, T, backend):
    if backend == "numpy":
        return _auc_numpy(S, E, T)
    from .kernels.eval_rank import auc_rows

    out = np.empty(S.shape[0], dtype=np.float64)
    auc_rows(S, *csr_arrays(E), *csr_arrays(T), _AUC_SCAN_MAX, out)
    return out


def auc_from_scores(scores, test_rows, exclude=None, backend="numba"):
    r"""Per-row AUC over the full ranking, exactly, ties counted ½.

    .. math::
        \mathrm{AUC}_r = \frac{1}{|P|\,|N|} \sum_{t \in P} \sum_{n \in N}
        \big([s_t > s_n] + \tfrac12 [s_t = s_n]\big)

    with ``P`` the row's test items that are not excluded and ``N`` the items
    neither excluded nor in ``P``. Equivalently ``(R_P - |P|(|P|+1)/2) /
    (|P||N|)`` with ``R_P`` the sum of the midranks (ascending) of ``P``'s
    scores among the candidates, which the NumPy reference computes.

    Parameters
    ----------
    scores : array-like (n, n_items), no NaN
    test_rows : scipy.sparse (n, n_items)
    exclude : scipy.sparse (n, n_items), optional
        Items out of the ranking (the user's training items).
    backend : {"numba", "numpy"}
        ``"numba"``: exact counts per row, by vectorised scans (few test
        items) or binary searches among the sorted test scores
        (``kernels.eval_rank.auc_rows``), rows in parallel. ``"numpy"``:
        the reference, a ``scipy.stats.rankdata`` per row. Identical results.

    Returns
    -------
    auc : float64 (n,), NaN where ``P`` or ``N`` is empty.
    """
    check_backend(backend)
    S = _check_scores(scores)
    T = canonical_csr(test_rows, S.shape, "test_rows")
    if exclude is None:
        E = sp.csr_matrix(S.shape, dtype=np.float64)
        E = canonical_csr(E, S.shape, "exclude")
    else:
        E = canonical_csr(exclude, S.shape, "exclude")
    return _auc_rows(S, E, T, backend)


# ------------------------------------------- one score block: top-k and AUC
def _rank_rows_numpy(S, K, E, T, with_auc):
    """Reference of ``kernels.eval_rank.rank_rows``: the reference top-k, then the reference AUC.

    ``S`` (n, n_items) without NaN; ``E``, ``T`` canonical CSR (n, n_items)
    of the excluded and the test items. Returns the ranked items (n, K) and
    the AUC per row (n,), or None without ``with_auc``.
    """
    items, _ = _top_k_numpy(S, K, *csr_arrays(E))                # (n, K)
    return items, (_auc_numpy(S, E, T) if with_auc else None)


def _rank_block(S, K, E, T, with_auc, backend, name="scores", users=None):
    r"""Top-``K`` items (n, K) and AUC (n,) or None of a score block; NaN is a DataError.

    ``users`` (the user of each row, or None) names a NaN's row in the error.
    ``"numba"``: one visit per row does the NaN check, the top-k and the
    AUC count (``kernels.eval_rank.rank_rows``), so the block is read from
    memory once; rows are scheduled dynamically, which cannot change a
    result (each row is computed alone). ``"numpy"``:
    :func:`_rank_rows_numpy`. Same results.
    """
    S = _as_scores(S, name)                                       # (n, n_items)
    if backend == "numpy":
        if S.size and np.isnan(S.min()):
            _raise_nan(S, name, users)
        return _rank_rows_numpy(S, K, E, T, with_auc)
    from numba import parallel_chunksize

    from .kernels.eval_rank import rank_rows

    n, n_items = S.shape
    items = np.empty((n, K), dtype=np.int64)                      # (n, K)
    auc = np.empty(n, dtype=np.float64)                           # (n,)
    n_nan = np.zeros(n, dtype=np.int64)                           # (n,)
    if n_items == 0:
        items.fill(-1)
        auc.fill(np.nan)
    elif n:
        # rows handed out _EVAL_CHUNK at a time to whichever thread is free, not
        # split in equal halves up front: rows differ in cost (AUC scans per
        # test item) and a thread may be slowed by the BLAS threads of the
        # product just finished, which spin for a while before they sleep
        with parallel_chunksize(_EVAL_CHUNK):
            rank_rows(S, min(K, n_items), *csr_arrays(E), *csr_arrays(T), with_auc,
                      _AUC_SCAN_MAX, items, auc, n_nan)
        if n_nan.any():
            _raise_nan(S, name, users)
    return items, (auc if with_auc else None)


# ----------------------------------------------------------------- evaluate
def _check_ks(k):
    """``k`` (a positive integer or a sequence of them) as a sorted tuple without repeats.
    Also used by :func:`minigraphrec.sequences.evaluate_next_item`."""
    ks = [k] if np.ndim(k) == 0 else list(k)
    if not ks:
        raise DataError("k must be an integer >= 1 or a non-empty sequence of them")
    return tuple(sorted({check_int(v, "k") for v in ks}))


def _pairs_csr(inter, n_users, n_items, name):
    """The binary (n_users, n_items) CSR of an Interactions, ids checked against the model.
    Also used by :mod:`minigraphrec.train` (the validation pairs)."""
    if not isinstance(inter, Interactions):
        raise TypeError(f"{name} must be an Interactions, got {type(inter).__name__}")
    for kind, ids, n in (("user", inter.users, n_users), ("item", inter.items, n_items)):
        if ids.size and ids.max() >= n:
            where = int(np.flatnonzero(ids >= n)[0])
            raise DataError(f"{name} {kind} id {int(ids[where])} at position {where} is outside "
                            f"the model's {kind}s 0..{n - 1}; {name} must share the model's "
                            "id space")
    R = sp.csr_matrix((np.ones(len(inter)), (inter.users, inter.items)),
                      shape=(n_users, n_items), dtype=np.float64)
    R.sum_duplicates()
    R.data[:] = 1.0
    return canonical_csr(R, R.shape, name)


def _check_raw_ids(inter, model, name):
    """DataError when ``inter`` numbers its users or items apart from ``model``
    (``_check_same_raw_ids``). Also used by :mod:`minigraphrec.privacy` and
    :mod:`minigraphrec.train`."""
    _check_same_raw_ids("user", inter.users, inter.user_ids, getattr(model, "user_ids_", None),
                       name)
    _check_same_raw_ids("item", inter.items, inter.item_ids, getattr(model, "item_ids_", None),
                       name)


def _check_same_raw_ids(kind, used, raw, ours, name, fix=None):
    """DataError when a used internal id (in ``used``) has a raw id in ``raw`` (the data's
    map, internal -> raw) other than in ``ours`` (the model's ``user_ids_``/``item_ids_``).

    A test file loaded on its own gets its own numbering (its first user is 0, whoever that
    is), and its metrics would be computed against the wrong users and items. Raw ids that
    are the internal ids themselves (``0..n-1``, the default of data built from internal
    ids), and a model without raw ids (``ours=None``), say nothing and are not compared;
    an integer and a string are the same id when :func:`~minigraphrec.data.match_raw_ids`
    matches them (``5``, ``"5"`` and ``"005"``). ``fix``: the remedy the message suggests (default:
    load together, or ``align``). Also used by :mod:`minigraphrec.sequences`,
    :mod:`minigraphrec.models.srgnn` and :mod:`minigraphrec.models.hybrid`.
    """
    if raw is None or ours is None:
        return
    raw, used = np.asarray(raw), np.asarray(used)
    if used.size == 0 or (raw.dtype.kind in "iu"
                          and np.array_equal(raw, np.arange(raw.shape[0]))):
        return
    ours = np.asarray(ours)
    idx = np.unique(used)                                           # used internal ids
    idx = idx[idx < min(raw.shape[0], ours.shape[0])]               # the rest: checked apart
    mine = raw[idx]
    if mine.dtype.kind == ours.dtype.kind:
        differ = np.flatnonzero(mine != ours[idx])
    else:                                     # 5 and "5" alike, as align matches them
        differ = np.flatnonzero(match_raw_ids(mine, ours) != idx)
    if differ.size:
        j = int(idx[differ[0]])
        raise DataError(
            f"{name} {kind} {j} has raw id {raw[j].item()!r}, but the model's {kind} {j} "
            f"is {ours[j].item()!r} ({differ.size} of the {idx.size} {kind}s in {name} "
            f"differ): {name} was numbered apart from the training data. "
            + (fix or f"Load both files together (e.g. load_triples(train_path, "
                      f"test_path=...)), or bring {name} into the model's ids with "
                      f"{name}.align(model.user_ids_, model.item_ids_)"))


#: ranked slots (rows x ranked items) whose metrics ``evaluate`` computes at once: each of
#: their temporaries (int64 keys, float64 gains) is then 8 MB, whatever the block and k
_METRIC_CHUNK = 1 << 20

#: scores in one block of ``evaluate`` when ``batch_size`` is not given:
#: 2^25 scores are 128 MB in float32 and 256 MB in float64. Also used by
#: :mod:`minigraphrec.privacy` (its blocks of scores) and ``benchmarks/bench_eval.py``
_EVAL_BLOCK_SCORES = 2 ** 25


def evaluate(model, test, k=(10, 20), train=None, metrics=None, batch_size=None,
             backend="numba"):
    r"""Evaluate a fitted recommender on held-out interactions (LightGCN protocol).

    For every user with at least one test item: score all items with
    ``model.score``, drop the user's training items, rank the rest (exactly
    as ``model.recommend(users, max(k), exclude_seen=True)`` does) and
    compare with the user's test items. Given ``train``, its items are the
    ones dropped instead of the model's own. A test user with no training item is
    evaluated too, on whatever the model scores for a user it knows nothing
    of (after a temporal split, often most test users); the number is logged
    at INFO. Users are processed ``batch_size`` at a time,
    so memory stays at one ``batch_size * n_items`` score block (plus what
    ``model.score`` needs to make it). With ``backend="numba"`` each block
    is read once, row by row, by one kernel that checks for NaN, keeps the
    top ``max(k)`` and counts the AUC (``kernels.eval_rank.rank_rows``):
    everything after the scores costs little next to them.

    Parameters
    ----------
    model : a fitted :class:`~minigraphrec.models.base.Recommender`
        Needs ``score``, ``n_users_``, ``n_items_`` and ``R_`` (its binary
        training matrix).
    test : Interactions
        In the model's id space (ids beyond the model's users or items are an
        error). Relevance is binary: repeated pairs count once, and weights
        are not read.
    k : int or sequence of int
        Cut-offs, each at least 1; each metric is reported at each (sorted,
        repeats once). A cut-off beyond ``n_items`` is allowed (the slots past the
        catalogue are misses: precision still divides by k) and costs no more
        memory or time than ``n_items``.
    train : Interactions, optional
        The items to leave out of each ranking, in place of the model's own
        training items ``model.R_`` (the default); pass e.g. train ∪
        validation when evaluating on a test set after model selection. It
        also stands for the training data in what else reads it: a test pair
        that is one of its pairs is dropped, novelty's item popularity is
        counted in it, and so are the users with no training item.
    metrics : str or sequence of str, optional
        One or more of ``METRICS`` (default all): ``"recall", "precision",
        "ndcg", "hit", "map", "mrr", "auc", "coverage", "novelty"``.
    batch_size : int, optional
        Users scored at once. Default: a block of 2^25 scores (128 MB in float32, 256 MB
        in float64), ``2^25 // n_items`` users (at least 1; 818 for 41k items), or the
        block the model asks for through its ``eval_block_scores`` (2^22 scores for
        Popularity, ItemKNN and UserKNN). The metrics do not depend on it, except that
        scores made by a float32 BLAS product can reorder near-ties with the block's
        shape (see Notes): fix ``batch_size`` to compare such runs to 1e-12.
    backend : {"numba", "numpy"}
        Top-k and AUC implementation (identical results; ``"numpy"`` is the
        slow, readable reference). With ``"numba"`` everything after the scoring
        product costs a fraction of the product itself (see Notes).

    Returns
    -------
    dict
        ``"<metric>@<k>"`` for every metric and cut-off (``"auc"`` without a
        cut-off; :func:`~minigraphrec.metrics.metric_key`), as a Python float: the mean over the evaluated
        users, except that AUC is over those that have at least one negative, novelty
        over those whose list is not empty, and coverage is one number for all;
        plus ``"n_users"``, the number of users evaluated.

    Notes
    -----
    A test pair that is also a training pair can never be recommended (the
    item is excluded), so it is dropped from the test set with a logged
    warning; the LightGCN protocol assumes disjoint sets and its code would
    count such a pair as an unreachable test item. Novelty uses the
    popularity of items in the excluded (training) matrix over all its users.

    Blocks of scores. Smaller blocks cost more per score for models scored by a BLAS
    product: each ``model.score`` call has a fixed cost, and BLAS repacks the item table
    on every call. Popularity, ItemKNN and UserKNN write their scores entry by entry; a
    block of 2^22 is reused by the allocator instead of being page-faulted in afresh, and
    is still in cache when it is ranked (Gowalla, recall and NDCG, idle machine, the runs
    of ``benchmarks/bench_catalogues.py`` recorded in ``catalogues_gowalla.md`` before and
    after the change, re-run since: Popularity 2.38 -> 1.03 s, ItemKNN 3.08 -> 1.91 s,
    UserKNN 3.39 -> 2.00 s). Models that can write their scores into an array
    (``score(users, out=)``: the embedding models and GF-CF) score every block into the
    first one, and the embedding models check and convert their item table once per
    call, not once per block (unless ``score`` is overridden: then ``model.score`` scores
    every block, each into a fresh array).

    Block size and bits. The metrics do not depend on the block size for Popularity,
    ItemKNN and UserKNN, nor for the embedding models scoring in float64 (their default,
    whatever their ``dtype``). Scores made by a float32 BLAS product (GF-CF;
    ``score_dtype="float32"``) can differ in the last bits with the block's shape, enough
    to reorder near-ties: the metrics then move in about the eighth digit (GF-CF's AUC on
    ML-100K, ``random_split(test_size=0.2, random_state=42)``, an ad-hoc run:
    0.916626278 in the default blocks, 0.916626262 in blocks of one user).
    ``score_dtype="float32"`` runs the embedding models' scoring product in float32, in
    about half the time, with scores within float32 rounding of the float64 ones
    (Gowalla, ``benchmarks/bench_eval.py``, ``benchmarks/results/eval_gowalla.md``: MF's
    recall and NDCG in 1.13x the float32 product instead of 2.0x).

    Speed of the numba backend. On the LightGCN Gowalla split (29,858 users x 40,981
    items, k = 20) with float32 scores, everything after the scoring product costs a
    fraction of the product itself (``benchmarks/bench_eval.py``). OpenBLAS keeps its
    worker threads spinning for about 0.1 s after each product, taking a core from the
    kernel that follows; set ``OPENBLAS_THREAD_TIMEOUT=4`` in the environment before
    Python starts to make them sleep at once. On Gowalla with 2 threads, recall and NDCG
    took 1.66x the float32 scoring product without it (AMD EPYC,
    ``benchmarks/results/eval_gowalla_openblas_default.md``) and 1.38x with it (Intel
    Xeon, ``eval_gowalla.md``): two machines and loads, so the setting's own share is not
    isolated.
    """
    if not hasattr(model, "score"):
        raise TypeError(f"model must be a recommender with a score method, got "
                        f"{type(model).__name__}")
    if hasattr(model, "_check_fitted"):
        model._check_fitted()
    elif not hasattr(model, "R_"):
        raise RuntimeError(f"this {type(model).__name__} is not fitted yet; call fit(train) first")
    check_backend(backend)
    ks = _check_ks(k)
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size")
    wanted = _check_metrics(metrics)
    n_users, n_items = int(model.n_users_), int(model.n_items_)
    if batch_size is None:
        block_scores = getattr(model, "eval_block_scores", None) or _EVAL_BLOCK_SCORES
        batch_size = max(1, int(block_scores) // max(n_items, 1))
    E, T, users = _eval_pairs(model, test, train, n_users, n_items)

    # slots ranked: beyond n_items a list holds only padding, which every metric counts as
    # misses through k alone (_per_user), so memory does not grow with k beyond n_items
    K = min(ks[-1], n_items)
    at_k = [m for m in wanted if m not in ("auc", "coverage")]
    per_user = {(m, kk): [] for m in at_k for kk in ks}
    auc_parts = []
    shown = {kk: np.zeros(n_items, dtype=bool) for kk in ks}
    info = item_self_information(E) if "novelty" in wanted else None
    # the library's models score every block with the item table prepared once, and into
    # the first block when they can (_scores_into); any other object, and a model whose
    # score is overridden, through its score, a fresh block each time
    score = model._block_scorer() if hasattr(model, "_block_scorer") else model.score
    reuse = getattr(model, "_scores_into", False) and score != model.score
    blocks = _score_blocks(score, users, batch_size, reuse)
    for start, batch, S in blocks:
        S = _as_scores(S, "model.score(users)", batch)              # (b, n_items)
        if S.shape != (batch.size, n_items):
            raise DataError(f"model.score returned shape {S.shape}, expected "
                            f"({batch.size}, {n_items})")
        E_b, T_b = E[batch], T[batch]
        L, auc = _rank_block(S, K, E_b, T_b, "auc" in wanted, backend,
                             "model.score(users)", batch)         # (b, K), (b,)
        del S                                                     # free a block not reused
        n_test = np.diff(T_b.indptr)                              # (b,)
        # the metrics' (rows, K) temporaries (int64 keys, float64 gains) a chunk of rows at
        # a time: a few times _METRIC_CHUNK entries, not a few times the block's b x K
        chunks = _row_chunks(L.shape[0], K, _METRIC_CHUNK)
        for rows in chunks:
            L_c = L[rows]                                         # (c, K)
            rel = _hits(L_c, T_b if len(chunks) == 1 else T_b[rows])   # (c, K)
            for m in at_k:
                for kk in ks:
                    if m == "novelty":
                        per_user[m, kk].append(_novelty(L_c, info, kk))
                    else:
                        per_user[m, kk].append(_per_user(rel, n_test[rows], kk, m))
        if "coverage" in wanted:
            for kk in ks:
                top = L[:, :kk]
                shown[kk][top[top >= 0]] = True
        if "auc" in wanted:
            auc_parts.append(auc)

    result = _means(wanted, ks, per_user, auc_parts, shown, n_items)
    result["n_users"] = int(users.size)
    return result


def _check_metrics(metrics):
    """``evaluate``'s ``metrics`` (None, a name or a sequence of names) as the tuple of the
    names asked for, in the order of :data:`METRICS`; DataError naming an unknown one."""
    if metrics is None:
        return METRICS
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        name, at, cut = str(unknown[0]).partition("@")
        hint = (f" (cut-offs go in k=: metrics=({name!r},), k={cut})"
                if at and name in METRICS else "")
        raise DataError(f"unknown metric {unknown[0]!r}; known: {', '.join(METRICS)}"
                        f"{hint}")
    if not names:
        raise DataError(f"metrics is empty; name at least one of {', '.join(METRICS)} "
                        "(or leave it out: all of them)")
    return tuple(m for m in METRICS if m in names)


def _eval_pairs(model, test, train, n_users, n_items):
    """``evaluate``'s binary CSR matrices (n_users, n_items): ``E``, the pairs left out of
    the rankings (``train``, else ``model.R_``), and ``T``, the test pairs not in ``E``
    (those dropped with a warning); and the users with a test item, ascending."""
    if train is None:
        E = canonical_csr(model.R_, (n_users, n_items), "model.R_")
    else:
        E = _pairs_csr(train, n_users, n_items, "train")
        _check_raw_ids(train, model, "train")
    T = _pairs_csr(test, n_users, n_items, "test")              # (n_users, n_items)
    _check_raw_ids(test, model, "test")
    overlap = T.multiply(E).tocsr()
    overlap.eliminate_zeros()
    if overlap.nnz:
        logger.warning("%d test pairs are also %s; they cannot be recommended and are "
                       "dropped from the test set", overlap.nnz,
                       "training pairs" if train is None else
                       "pairs of train (the pairs left out of the rankings)")
        T = canonical_csr(T - overlap, T.shape, "test")
    users = np.flatnonzero(np.diff(T.indptr) > 0)                # evaluated users
    if users.size == 0:
        extra = f" (after dropping {overlap.nnz} pairs also in train)" if overlap.nnz else ""
        raise DataError(f"no user has a test item{extra}; nothing to evaluate")
    cold = int(np.count_nonzero(np.diff(E.indptr)[users] == 0))
    if cold:
        logger.info("%d of the %d evaluated users have no training item; they are ranked "
                    "by what the model scores for a user it knows nothing of", cold, users.size)
    return E, T, users


def _means(wanted, ks, per_user, auc_parts, shown, n_items):
    """``evaluate``'s result but ``n_users``: each metric's mean over its users, keyed by
    :func:`metric_key`, from the per-block parts (``per_user[m, k]``: per-user values;
    ``auc_parts``: per-user AUCs, NaN for a user without negatives; ``shown[k]``: the
    items in some top k)."""
    result = {}
    for m in wanted:
        if m == "auc":
            auc = np.concatenate(auc_parts)
            defined = ~np.isnan(auc)
            result["auc"] = float(auc[defined].mean()) if defined.any() else float("nan")
            continue
        for kk in ks:
            key = metric_key(m, kk)
            if m == "coverage":
                result[key] = float(shown[kk].sum() / n_items)
            else:
                values = np.concatenate(per_user[m, kk])
                if m == "novelty":
                    values = values[~np.isnan(values)]            # users with an empty list
                    result[key] = float(values.mean()) if values.size else float("nan")
                else:
                    result[key] = float(values.mean())
    return result
