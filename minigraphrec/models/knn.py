r"""Neighbourhood collaborative filtering: item-based and user-based k-NN.

The article (§1) names user-based and item-based collaborative filtering as
the two classic forms: recommend what similar users took, or items similar to
the ones a user took. Both rest on one computation, done here once: the
pruned cosine similarity between the rows of a (possibly re-weighted) sparse
matrix ``X``,

.. math::
    \mathrm{sim}(a, b) = \frac{x_a \cdot x_b}{\lVert x_a\rVert\,\lVert x_b\rVert + \lambda},

(``λ`` = ``shrink``, which pulls pairs of short vectors toward 0: the additive
form of the kNN baselines in Ferrari Dacrema, Cremonesi & Jannach, RecSys 2019;
Bell & Koren's support-based ``n_ab / (n_ab + λ)`` factor, ``n_ab`` the shared
nonzeros, from which the idea comes, gives another model), with
``sim(a, a) = 0`` (self-similarity excluded) and, in each row, only the ``k``
largest similarities kept. ``similarity="dot"`` keeps the raw ``x_a · x_b``
instead (what implicit's BM25 recommender uses; its TF-IDF recommender takes
the cosine, see below).

Against implicit's item-item recommenders (0.7): implicit keeps an item as
its own neighbour within its ``K``, so ``k`` here is its ``K - 1``; with that,
cosine similarities agree to rounding, and the lists differ only where ties at
the cut are broken (here toward the smaller column when the computed values are
equal, as documented) or where rounding separates equal cosines. Its
``TFIDFRecommender`` is ``weighting="tfidf", similarity="cosine"`` and its
``BM25Recommender`` ``weighting="bm25", similarity="dot"``, up to the idf below
(an ad-hoc comparison, not in ``benchmarks/results``: Recall@20 on
ML-100K's ``random_split(test_size=0.2, random_state=0)``, k = 20, TF-IDF
0.3171 here and 0.3166 there, BM25 0.3021 and 0.3024; 2026-12-07).

* :class:`ItemKNN`: rows of ``X`` are items (``X`` is ``Rᵀ``, re-weighted),
  ``W`` is (n_items, n_items) with row ``i`` holding the k items most similar
  to ``i``, and ``s_u = r_u W``: ``s_uj = Σ_{i ∈ I_u} W_ij``.
* :class:`UserKNN`: rows of ``X`` are users (``X`` is ``R``, re-weighted),
  ``W`` is (n_users, n_users) with row ``u`` holding the k users most similar
  to ``u``, and ``s_u = W_u R``: ``s_uj = Σ_{v : R_vj = 1} W_uv``.

Scores always use the binary training matrix ``R``; the weighting only
changes the similarities.

Weighting (documents × terms, implicit's idea written out): the rows of ``X``
are the documents (the entities compared), its columns the terms. With
``N`` documents, ``df_t`` the number of documents with a nonzero in column
``t`` and ``idf_t = log(N / df_t)``:

* ``"tfidf"``: ``w_dt = x_dt · idf_t``;
* ``"bm25"``: ``w_dt = idf_t · x_dt (K1 + 1) / (x_dt + K1 (1 − B + B · ℓ_d / ℓ̄))``,
  ``ℓ_d = Σ_t x_dt`` the document length, ``ℓ̄`` its mean.

For ItemKNN a term is a user, so ``idf`` down-weights users who took many
items; for UserKNN a term is an item, so it down-weights popular items.
Departure from implicit: its ``idf = log N − log(1 + df)`` can turn negative
(a term in every document); ``log(N / df)`` is never negative, and a term in
every document, which tells documents apart no better than chance, gets 0.

A remark that follows from the formulas: with binary ``R`` the BM25 factor is
constant along a row, and cosine divides it out, so BM25 + cosine with
``shrink=0`` ranks exactly like TF-IDF + cosine. BM25's length normalisation
only acts with ``similarity="dot"`` (implicit's choice) or ``shrink > 0``.

Memory and time. The similarity is never dense: rows are processed by
blocks as the *sparse* product ``X_blk Xᵀ`` (only pairs sharing a column
exist in it; on real catalogues most pairs share none), scaled, and pruned
to the top k directly on its CSR rows by a numba kernel
(:func:`csr_top_k`), so fitting costs a small multiple of the sparse product
``X Xᵀ`` and the fitted ``similarity_`` has at most ``k`` entries per row.
(An earlier version densified each block and ran ``np.partition`` on rows
that were mostly zeros: on a 17,000-item synthetic catalogue, measured in one
run, 78 s against 0.7 s now, for the same matrix bit for bit; ``Rᵀ R`` alone
took 0.3 s.)
Without pruning (``k_neighbors=None``, or a ``k`` near the catalogue's size) ``W``
itself can be dense, ``n²`` entries; ``max_memory_mb`` bounds what the models build
(refused beforehand when a cheap lower bound of ``W``'s entries is already over it).
Scoring goes by user batches (``recommend`` and ``evaluate`` batch already).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import (DataError, check_backend, check_finite_sparse,
                      check_int, check_param_number, check_real_sparse)
from .base import Recommender, kept

__all__ = ["ItemKNN", "UserKNN", "tfidf_weight", "bm25_weight", "topk_similarity", "csr_top_k"]

#: multiply-adds (so also an upper bound of the stored products) per block of ``X_blk Xᵀ``
_BLOCK_PRODUCTS = 1 << 24

#: ItemKNN's and UserKNN's default ``max_memory_mb``: ``W`` and its copies while it is built
MAX_MEMORY_MB = 2048
#: bytes per stored entry of ``W`` at the peak of ``fit``, ``partial_fit`` and ``forget``
#: (the parts, their concatenation, the COO triplets of an update). Measured with
#: ``tracemalloc`` on 3,000 items or users with ``k_neighbors=None`` (9.0 million entries):
#: fit 27-66, forget 61-68 bytes per entry, over both classes and backends; on top comes a
#: constant of at most a few hundred MB (one block of ``X_blk Xᵀ``, or the fused kernel's
#: (rows, k) outputs)
W_BYTES_PER_ENTRY = 72


# ------------------------------------------------------------------ weighting
def _idf(X):
    r"""``idf_t = log(N / df_t)`` per column of a CSR without explicit zeros (0 where df = 0)."""
    N = X.shape[0]
    df = np.bincount(X.indices, minlength=X.shape[1])                     # (n_terms,)
    idf = np.zeros(X.shape[1])
    present = df > 0
    idf[present] = np.log(N / df[present])
    return idf



def _as_csr_counts(X, name):
    if not sp.issparse(X):
        raise TypeError(f"{name} must be a scipy sparse matrix, got {type(X).__name__}")
    X = sp.csr_matrix(X, dtype=np.float64, copy=True)
    X.sum_duplicates()
    X.eliminate_zeros()
    if X.nnz and (not np.all(np.isfinite(X.data)) or X.data.min() < 0):
        raise DataError(f"{name} must hold finite non-negative counts")
    return X


def tfidf_weight(X):
    r"""TF-IDF weights of a documents × terms matrix: ``w_dt = x_dt · log(N / df_t)``.

    Parameters
    ----------
    X : scipy sparse, shape (N, n_terms)
        Non-negative counts (or 0/1); rows are documents, columns terms.

    Returns
    -------
    W : csr_matrix of float64, shape (N, n_terms)
        Same sparsity pattern as ``X`` (a term present in every document
        gets weight 0, stored as an explicit zero).
    """
    X = _as_csr_counts(X, "X")
    idf = _idf(X)                                                         # (n_terms,)
    X.data *= idf[X.indices]
    return X


def bm25_weight(X, K1=1.2, B=0.75):
    r"""Okapi BM25 weights of a documents × terms matrix.

    .. math::
        w_{dt} = \mathrm{idf}_t \, \frac{x_{dt}\,(K_1 + 1)}
                 {x_{dt} + K_1\,(1 - B + B\,\ell_d / \bar\ell)},
        \qquad \mathrm{idf}_t = \log\frac{N}{df_t},

    with ``ℓ_d = Σ_t x_dt`` the length of document ``d`` and ``ℓ̄`` the mean
    length over the ``N`` documents. ``K1`` saturates repeated terms
    (``K1 = 0``: binary), ``B`` sets how much long documents are damped
    (``B = 0``: not at all). Defaults are Robertson's usual 1.2 and 0.75.

    Parameters
    ----------
    X : scipy sparse, shape (N, n_terms), non-negative counts
    K1 : float >= 0
    B : float in [0, 1]

    Returns
    -------
    W : csr_matrix of float64, shape (N, n_terms), the pattern of ``X``.
    """
    K1, B = _check_bm25(K1, B)
    X = _as_csr_counts(X, "X")
    idf = _idf(X)                                                         # (n_terms,)
    length = np.asarray(X.sum(axis=1)).ravel()                            # (N,)
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))            # (nnz,)
    X.data = _bm25(X.data, idf[X.indices], length[rows], _mean_length(length), K1, B)
    return X


def _mean_length(length):
    """``ℓ̄``, the mean document length, or 1 when there is none (no documents, all empty)."""
    return length.mean() if length.size and length.mean() > 0 else 1.0


def _bm25(x, idf, length, mean_length, K1, B):
    r"""``idf · x (K1 + 1) / (x + K1 (1 − B + B ℓ / ℓ̄))`` elementwise: the BM25 weight of
    stored counts ``x`` with their term's ``idf`` and their document's length ``ℓ``
    (arrays of one shape, or ``ℓ`` a scalar). The one formula of :func:`bm25_weight` and
    of a history weighted as one more document (``UserKNN``), so both give the same bits."""
    norm = K1 * (1.0 - B + B * length / mean_length)
    return idf * x * (K1 + 1.0) / (x + norm)



def _check_bm25(K1, B):
    """``(K1, B)`` as floats, else a DataError naming the bad one and its range."""
    K1 = check_param_number(K1, "K1", at_least=0.0)
    try:
        b = check_param_number(B, "B", at_least=0.0)
    except DataError:
        b = None
    if b is None or b > 1.0:
        raise DataError(f"B must be a number in [0, 1], got {B!r}")
    return K1, b


# ----------------------------------------------------------------- similarity
def _check_similarity_args(k_neighbors, similarity, shrink, block_size):
    check_int(k_neighbors, "k_neighbors", or_none=True)
    if similarity not in ("cosine", "dot"):
        raise DataError(f"similarity must be 'cosine' or 'dot', got {similarity!r}")
    check_param_number(shrink, "shrink", at_least=0.0)
    if shrink and similarity == "dot":
        raise DataError(f"shrink={shrink!r} only applies to similarity='cosine'; "
                         "use shrink=0 with similarity='dot'")
    check_int(block_size, "block_size", or_none=True)


def csr_top_k(S, k, backend="numba"):
    r"""Keep the ``k`` largest positive entries of each row of a sparse matrix.

    In each row, the entries with value ``> 0`` are ranked by value, larger
    first, ties (equal stored values, bit for bit) to the smaller column
    index; the first ``min(k, #positive)`` are kept, the rest (and every
    entry ``<= 0``) dropped.

    Parameters
    ----------
    S : scipy sparse, shape (n_rows, n_cols), real and finite
        Duplicates are summed first. NaN or infinite entries are a DataError.
    k : int >= 1
    backend : {"numba", "numpy"}
        The parallel kernel :func:`minigraphrec.kernels.csr_topk.row_top_k`,
        or the reference below (one ``np.lexsort`` over all entries); both
        keep the same entries with the same values.

    Returns
    -------
    T : csr_matrix, shape of ``S``, dtype of ``S`` (float64 for integers)
        At most ``k`` entries per row, all positive, sorted indices.
    """
    check_backend(backend)
    if not sp.issparse(S):
        raise TypeError(f"S must be a scipy sparse matrix, got {type(S).__name__}")
    k = check_int(k, "k")
    S = sp.csr_matrix(check_real_sparse(S, "S"))
    if S.dtype.kind != "f":
        S = S.astype(np.float64)
    if not S.has_canonical_format:
        S = S.copy()
        S.sum_duplicates()
    check_finite_sparse(S, "S")
    return _csr_top_k(S, int(k), backend)


def _csr_top_k(S, k, backend):
    """:func:`csr_top_k` on a float CSR without duplicate entries (indices in any order)."""
    n_rows = S.shape[0]
    if backend == "numpy":
        rows = np.repeat(np.arange(n_rows), np.diff(S.indptr))            # (nnz,)
        positive = S.data > 0
        r, c, v = rows[positive], S.indices[positive], S.data[positive]
        order = np.lexsort((c, -v, r))              # by row, then value desc, then column
        r, c, v = r[order], c[order], v[order]
        first = np.searchsorted(r, r, side="left")                        # row start of each
        keep = (np.arange(r.shape[0]) - first) < k                        # rank within row < k
        T = sp.csr_matrix((v[keep], (r[keep], c[keep])), shape=S.shape, dtype=S.dtype)
        T.sort_indices()
        return T
    from ..kernels.csr_topk import row_keep_counts, row_top_k

    indptr = S.indptr.astype(np.int64)
    indices = S.indices.astype(np.int64)
    counts = row_keep_counts(indptr, S.data, int(min(k, S.shape[1] + 1)))  # (n_rows,)
    out_indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(counts, out=out_indptr[1:])
    nnz = int(out_indptr[-1])
    out_indices = np.empty(nnz, dtype=np.int64)
    out_data = np.empty(nnz, dtype=S.dtype)
    row_top_k(indptr, indices, S.data, int(min(k, S.shape[1] + 1)), out_indptr, out_indices,
              out_data)
    idx_dtype = np.int32 if max(nnz, S.shape[1]) < 2**31 else np.int64
    T = sp.csr_matrix((out_data, out_indices.astype(idx_dtype), out_indptr.astype(idx_dtype)),
                      shape=S.shape)
    T.has_sorted_indices = True
    return T


def _row_blocks(X, XT, block_size):
    r"""Row ranges ``(start, stop)`` of ``X`` for the blocked product ``X_blk Xᵀ``.

    With ``block_size`` given, fixed blocks of that many rows. Otherwise
    blocks of bounded work: row ``a`` of ``X Xᵀ`` costs ``Σ_{t ∈ x_a} nnz(xᵀ_t)``
    multiply-adds and has at most that many nonzeros; a block gathers rows
    until :data:`_BLOCK_PRODUCTS` is reached (at least one row per block).
    """
    n = X.shape[0]
    if block_size is not None:
        return [(s, min(s + block_size, n)) for s in range(0, n, block_size)]
    cum = np.cumsum(_row_products(X, XT))                                 # (n,)
    blocks, start = [], 0
    while start < n:
        base = cum[start - 1] if start else 0
        stop = int(np.searchsorted(cum, base + _BLOCK_PRODUCTS, side="right"))
        stop = min(max(stop, start + 1), n)
        blocks.append((start, stop))
        start = stop
    return blocks


def topk_similarity(X, k_neighbors=100, similarity="cosine", shrink=0.0, block_size=None,
                    backend="numba"):
    r"""Pruned pairwise similarity between the rows of a sparse matrix.

    .. math::
        S_{ab} = \frac{x_a \cdot x_b}{\lVert x_a\rVert \lVert x_b\rVert + \lambda}
        \quad(\text{cosine}), \qquad S_{ab} = x_a \cdot x_b \quad(\text{dot}),

    then ``S_aa = 0`` and each row keeps its ``k_neighbors`` largest positive
    entries (ties at the cut: smaller column index first). A tie is an equal
    *computed* value: cosines equal in exact arithmetic may come out of
    ``dot / (‖a‖ ‖b‖)`` 1 ulp apart (``3 / (√3 · 3)`` and ``1 / (√3 · 1)``
    gave 0.5773502691896257 and 0.5773502691896258), and then rounding, not
    the column, decides which is kept.
    A zero row has zero similarity to everything (``0 / 0`` is taken as 0).

    How: by blocks of rows, the sparse product ``X_blk Xᵀ`` (only pairs
    that share a column are ever formed: most of a real catalogue's pairs
    share none), the cosine scaling on its stored values, then
    :func:`csr_top_k` on its CSR rows. Nothing of size (block, n) is dense.

    Parameters
    ----------
    X : scipy sparse, shape (n, m)
        Real, finite entries (NaN, infinite and complex ones are a DataError): a binary
        or re-weighted interaction matrix, whose entries are non-negative. Negative
        entries are computed with as well (the cosine of signed vectors; both backends
        keep the same entries), and then only the positive similarities are kept.
    k_neighbors : int >= 1 or None
        Neighbours kept per row; None keeps every positive similarity.
    similarity : {"cosine", "dot"}
    shrink : float >= 0
        ``λ`` above; only with ``"cosine"``.
    block_size : int, optional
        Rows per block of the product. Default: blocks of at most
        :data:`_BLOCK_PRODUCTS` multiply-adds (a few hundred MB at most).
        The result does not depend on it; the fused kernel (below) needs no blocks.
    backend : {"numba", "numpy"}
        ``"numpy"``: the reference, blocks of the SciPy product ``X_blk Xᵀ``,
        scaled, then :func:`csr_top_k`. ``"numba"``: one fused kernel
        (:mod:`minigraphrec.kernels.knn_similarity`) that accumulates each
        row's dot products in a dense buffer, in SciPy's order, and keeps
        the best ``k_neighbors`` as it goes; the same bits, and much faster
        when ``X Xᵀ`` is nearly dense (popular items shared by most users).

    Returns
    -------
    S : csr_matrix of float64, shape (n, n)
        At most ``k_neighbors`` stored entries per row, all positive, sorted
        indices. Not symmetric in general (``b`` may be among ``a``'s
        neighbours and not the reverse).
    """
    if not sp.issparse(X):
        raise TypeError(f"X must be a scipy sparse matrix, got {type(X).__name__}")
    _check_similarity_args(k_neighbors, similarity, shrink, block_size)
    check_backend(backend)
    X = sp.csr_matrix(check_real_sparse(X, "X"), dtype=np.float64)
    check_finite_sparse(X, "X")
    return _similarity_rows(X, np.arange(X.shape[0]), k_neighbors, similarity, float(shrink),
                            block_size, backend)


def _row_norms(X):
    r"""``‖x_a‖`` of each row of a float CSR: (n,)."""
    return np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())


class _OverBudget(Exception):
    """:func:`_similarity_rows` kept more than ``max_entries``: ``n_entries`` in the first
    ``n_rows`` rows, where it stopped."""

    def __init__(self, n_entries, n_rows):
        super().__init__(n_entries, n_rows)
        self.n_entries, self.n_rows = n_entries, n_rows


def _similarity_rows(X, rows, k_neighbors, similarity, shrink, block_size, backend,
                     max_entries=None):
    r"""Rows ``rows`` of :func:`topk_similarity` ``(X)``, shape (len(rows), n); validated input.

    Each row ``a`` depends only on ``x_a``, ``Xᵀ`` and the norms (row ``a``
    of ``X_blk Xᵀ`` sums over ``x_a``'s entries in index order whatever the
    block), so a subset of rows computed here equals, bit for bit, the same
    rows of the whole matrix: what ``partial_fit`` and ``forget`` rely on.

    ``max_entries`` (int or None): raise :class:`_OverBudget` as soon as the blocks
    computed so far keep more entries, so that memory stays bounded; the rows computed
    do not depend on it.
    """
    n = X.shape[0]
    rows = np.asarray(rows, dtype=np.int64)
    k = n if k_neighbors is None else int(k_neighbors)
    XT = X.T.tocsr()                                                      # (m, n)
    if similarity == "cosine":
        norms = _row_norms(X)                                             # (n,)
    if backend == "numba":
        work = _row_products(X, XT)[rows]                                 # (len(rows),)
        if work.sum() >= _FUSED_FROM * rows.shape[0] * min(k, n):
            return _similarity_rows_numba(X, XT, rows, work, k, similarity, shrink,
                                          norms if similarity == "cosine" else np.zeros(n),
                                          max_entries)
    Xs = X if np.array_equal(rows, np.arange(n)) else X[rows]            # (len(rows), m)
    parts, n_entries = [], 0
    for start, stop in _row_blocks(Xs, XT, block_size):
        D = sp.csr_matrix(Xs[start:stop] @ XT)                            # (b, n) sparse dots
        glob = rows[np.repeat(np.arange(start, stop), np.diff(D.indptr))]  # (nnz_b,) global row
        if similarity == "cosine":
            denom = norms[glob] * norms[D.indices] + shrink               # (nnz_b,)
            np.divide(D.data, denom, out=D.data, where=denom > 0)
            D.data[denom <= 0] = 0.0
        D.data[glob == D.indices] = 0.0                                   # no self-similarity
        parts.append(_csr_top_k(D, k, backend))   # (b, n), <= k per row; D has no duplicates
        n_entries += parts[-1].nnz
        if max_entries is not None and n_entries > max_entries:
            raise _OverBudget(n_entries, stop)
    if not parts:
        return sp.csr_matrix((rows.shape[0], n), dtype=np.float64)
    S = sp.vstack(parts, format="csr")
    S.sort_indices()
    return S


#: the fused kernel is used when the multiply-adds of ``X_rows Xᵀ`` reach this many per
#: output slot (row × neighbour); below, on very sparse products, the SciPy product and
#: :func:`csr_top_k` cost less than its (rows, k) buffers (both give the same bits)
_FUSED_FROM = 1


def _row_products(X, XT):
    r"""Multiply-adds of each row of ``X Xᵀ``: ``Σ_{t ∈ x_a} nnz(xᵀ_t)``, float64 (n,).

    Also a bound on the row's nonzeros, which is how :func:`_row_blocks` uses it.
    """
    df = np.diff(XT.indptr)                                               # (m,) column counts
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))            # (nnz,)
    return np.bincount(rows, weights=df[X.indices], minlength=X.shape[0])


def _entries_lower_bound(X, rows, k):
    r"""At least how many entries :func:`_similarity_rows` keeps on ``rows`` of a CSR ``X``
    whose entries are non-negative (the models' weighted ``R``), without computing any.

    Row ``a`` has a positive dot product, hence a positive similarity (cosine with
    ``shrink >= 0`` too), with each of the ``df⁺_t − 1`` other rows positive in a column
    ``t`` where ``x_at > 0``; so it keeps at least ``min(k, max_t df⁺_t − 1)``. Exact when
    a column is positive in every row (``X Xᵀ`` dense, where the memory goes).
    """
    positive = X.data > 0                                                 # (nnz,)
    cols = X.indices[positive]
    df = np.bincount(cols, minlength=X.shape[1])                          # (m,) df⁺_t
    owner = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))[positive]  # (nnz⁺,) row
    widest = np.zeros(X.shape[0], dtype=np.int64)                         # (n,) max_t df⁺_t
    np.maximum.at(widest, owner, df[cols])
    return int(np.minimum(np.maximum(widest[rows] - 1, 0), k).sum())


#: rows per call of the fused kernel are chosen so that its (rows, k) outputs stay below
#: this many entries (16 bytes each)
_FUSED_SLOTS = 2**23


def _similarity_rows_numba(X, XT, rows, work, k, similarity, shrink, norms, max_entries=None):
    r""":func:`_similarity_rows` by one fused kernel (:mod:`minigraphrec.kernels.knn_similarity`).

    The same bits as the blocked SciPy products followed by :func:`csr_top_k`
    (the ``backend="numpy"`` path, the reference): each dot product is summed
    in SciPy's order, scaled by the same expression and ranked by the same
    order; but no row's products are ever stored as a sparse matrix. ``work``
    (float (len(rows),)) is each row's multiply-adds (:func:`_row_products`),
    to split the rows into blocks of equal work; ``max_entries`` as there.
    """
    from numba import get_num_threads

    from ..kernels.knn_similarity import similarity_top_k

    n = X.shape[0]
    k = min(k, n)
    x_indptr, x_indices = X.indptr.astype(np.int64), X.indices.astype(np.int64)
    xt_indptr, xt_indices = XT.indptr.astype(np.int64), XT.indices.astype(np.int64)
    work = work + 1                                                       # + the row's own cost
    chunk = max(1, _FUSED_SLOTS // max(k, 1))
    n_blocks = 4 * get_num_threads()
    parts, n_entries = [], 0
    for start in range(0, rows.shape[0], chunk):
        part = rows[start:start + chunk]
        cum = np.cumsum(work[start:start + chunk])                        # (len(part),)
        cuts = np.searchsorted(cum, cum[-1] * np.arange(1, n_blocks) / n_blocks)
        bounds = np.concatenate([[0], cuts, [part.shape[0]]]).astype(np.int64)
        counts = np.empty(part.shape[0], dtype=np.int64)
        cols = np.empty((part.shape[0], k), dtype=np.int64)
        vals = np.empty((part.shape[0], k))
        similarity_top_k(x_indptr, x_indices, X.data, xt_indptr, xt_indices, XT.data, part,
                         norms, similarity == "cosine", float(shrink), k, bounds, counts,
                         cols, vals)
        keep = np.arange(k)[None, :] < counts[:, None]                    # (len(part), k)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        idx_dtype = np.int32 if max(int(indptr[-1]), n) < 2**31 else np.int64
        T = sp.csr_matrix((vals[keep], cols[keep].astype(idx_dtype), indptr.astype(idx_dtype)),
                          shape=(part.shape[0], n))
        T.has_sorted_indices = True
        parts.append(T)
        n_entries += T.nnz
        if max_entries is not None and n_entries > max_entries:
            raise _OverBudget(n_entries, start + part.shape[0])
    if not parts:
        return sp.csr_matrix((rows.shape[0], n), dtype=np.float64)
    S = parts[0] if len(parts) == 1 else sp.vstack(parts, format="csr")
    S.sort_indices()
    return S


# ----------------------------------------------------------------- estimators
class _NeighbourhoodCF(Recommender):
    """Shared hyperparameters, validation and weighting of ItemKNN / UserKNN."""

    #: evaluate's block: scores are sparse products written out, cheapest in a block that
    #: stays in cache (see :func:`~minigraphrec.metrics.evaluate`)
    eval_block_scores = 2 ** 22

    _documents = None      # "items" or "users": the rows compared

    #: ``W`` does not depend on how it is computed (blocks, backend) nor on the memory
    #: allowed: these may change after fit
    _params_free_after_fit = ("block_size", "backend", "max_memory_mb")

    def __init__(self, k_neighbors=100, shrink=0.0, weighting=None, K1=1.2, B=0.75,
                 similarity="cosine", block_size=None, backend="numba",
                 max_memory_mb=MAX_MEMORY_MB):
        self.k_neighbors = k_neighbors
        self.shrink = shrink
        self.weighting = weighting
        self.K1 = K1
        self.B = B
        self.similarity = similarity
        self.block_size = block_size
        self.backend = backend
        self.max_memory_mb = max_memory_mb

    def _check_params(self):
        _check_similarity_args(self.k_neighbors, self.similarity, self.shrink, self.block_size)
        check_backend(self.backend)
        if self.max_memory_mb is not None:
            check_param_number(self.max_memory_mb, "max_memory_mb (None: no limit)",
                               above=0.0)
        if self.weighting not in (None, "tfidf", "bm25"):
            raise DataError(f"weighting must be None, 'tfidf' or 'bm25', got {self.weighting!r}")
        if self.weighting == "bm25":
            _check_bm25(self.K1, self.B)

    def _weighted(self, X):
        """``X`` (documents × terms) after the chosen weighting."""
        if self.weighting == "tfidf":
            return tfidf_weight(X)
        if self.weighting == "bm25":
            return bm25_weight(X, self.K1, self.B)
        return X

    def _fit_similarity(self, X):
        X = sp.csr_matrix(self._weighted(X), dtype=np.float64)            # (n_docs, n_terms)
        self.similarity_ = self._similarity_rows(X, np.arange(X.shape[0]))

    def _similarity_rows(self, X, rows, n_kept=0):
        r""":func:`_similarity_rows` of the weighted ``X`` (non-negative) with the model's
        hyperparameters, within ``max_memory_mb``.

        ``W`` and its copies take about ``W_BYTES_PER_ENTRY`` bytes per stored entry while
        they are built (``n_kept``: the entries an update keeps from the old ``W``). Refused
        by a DataError, and nothing fitted changes: up front when a lower bound of the
        entries (:func:`_entries_lower_bound`) is already over, else as soon as the rows
        computed so far are. The rows returned do not depend on the limit.
        """
        mb = self.max_memory_mb
        k = X.shape[0] if self.k_neighbors is None else int(self.k_neighbors)
        limit = None if mb is None else int(float(mb) * 2**20 // W_BYTES_PER_ENTRY) - n_kept
        if limit is not None:
            at_least = _entries_lower_bound(X, rows, k)
            if at_least > limit:
                self._refuse_memory("at least", n_kept + at_least, rows.shape[0], X.shape[0])
        try:
            return _similarity_rows(X, rows, self.k_neighbors, self.similarity,
                                    float(self.shrink), self.block_size, self.backend,
                                    max_entries=limit)
        except _OverBudget as over:
            self._refuse_memory("more than", n_kept + over.n_entries, over.n_rows, X.shape[0])

    def _refuse_memory(self, how, n_entries, n_rows, n_docs):
        """Raise the DataError of :meth:`_similarity_rows`: ``how`` ("at least", "more
        than") ``n_entries`` counted on ``n_rows`` of the ``n_docs`` rows of ``W``."""
        need = n_entries * W_BYTES_PER_ENTRY / 2**20
        raise DataError(
            f"{type(self).__name__}(k_neighbors={self.k_neighbors!r}) keeps {how} "
            f"{n_entries} similarities in W (counted on {n_rows} of the {n_docs} "
            f"{self._documents} it computes), about {need:.3g} MiB while W is built, above "
            f"max_memory_mb={self.max_memory_mb}: keep fewer neighbours (k_neighbors=100, "
            f"say), or raise max_memory_mb (None: no limit)")

    # ------------------------------------------------------------ updates
    def _docs(self, R):
        """Documents × terms before weighting: ``Rᵀ`` (ItemKNN) or ``R`` (UserKNN), float CSR."""
        R = sp.csr_matrix(R, dtype=np.float64)
        return R.T.tocsr() if self._documents == "items" else R

    def _updated_similarity(self, R_new, user_to_big, item_to_big):
        r"""The ``similarity_`` that ``fit`` would give on ``R_new``, recomputing only rows that change.

        Old internal ids are the ids of a "big" space that holds both the old
        and the new users and items; ``user_to_big[u]`` / ``item_to_big[i]``
        is where user / item ``u`` / ``i`` of ``R_new`` sits in it
        (``partial_fit``: the identity, new ids appended past the old ones;
        ``forget``: ``keep_users``). With ``X = weight(docs(R))``:

        * *touched* documents: those whose weighted row changed (compared in
          the big space; a removed document counts as changed);
        * *affected* documents: the touched ones and every document sharing
          a term with a touched one, in the old or the new pattern.

        Row ``a`` of ``W`` is a function of ``x_a``, its norm, and the rows
        (and norms) of the documents sharing a term with it. An unaffected
        row therefore keeps its old value exactly, and only the affected
        rows are recomputed (:func:`_similarity_rows`, bit for bit what a
        full fit gives). With TF-IDF an added or removed document changes
        ``N`` and thus every weight; with BM25 any change moves the mean
        length: then every row is affected and the update is a full
        recomputation, still exact.

        Returns ``(W, n_recomputed)``.
        """
        n_docs_new = R_new.shape[1] if self._documents == "items" else R_new.shape[0]
        if self._documents == "items":
            doc_to_big, term_to_big = item_to_big, user_to_big
        else:
            doc_to_big, term_to_big = user_to_big, item_to_big
        X_old = sp.csr_matrix(self._weighted(self._docs(self.R_)))        # (n_docs, n_terms)
        X_new = sp.csr_matrix(self._weighted(self._docs(R_new)))          # (n_docs', n_terms')
        big = (max(X_old.shape[0], int(doc_to_big.max(initial=-1)) + 1),
               max(X_old.shape[1], int(term_to_big.max(initial=-1)) + 1))

        def embed(X, rows, cols):
            C = X.tocoo()
            return sp.csr_matrix((C.data, (rows[C.row], cols[C.col])), shape=big)

        old_big = embed(X_old, np.arange(X_old.shape[0]), np.arange(X_old.shape[1]))
        new_big = embed(X_new, doc_to_big, term_to_big)
        delta = (new_big - old_big).tocsr()
        delta.eliminate_zeros()
        touched = np.diff(delta.indptr) > 0                               # (n_big_docs,)
        touched[X_old.shape[0]:] = True                                   # documents added
        pattern = abs(old_big).astype(bool).astype(np.float64) \
            + abs(new_big).astype(bool).astype(np.float64)                 # structure, either
        pattern = sp.csr_matrix(pattern)
        pattern.data[:] = 1.0
        reach = pattern @ (pattern.T @ touched.astype(np.float64))        # (n_big_docs,)
        affected = (touched | (reach > 0))[doc_to_big]                    # (n_docs',)
        rows = np.flatnonzero(affected)
        kept = np.flatnonzero(~affected)                                  # new ids
        W_old = sp.csr_matrix(self.similarity_)
        fresh = self._similarity_rows(X_new, rows,
                                      n_kept=int(np.diff(W_old.indptr)[doc_to_big[kept]].sum()))
        big_to_new = np.full(big[0], -1, dtype=np.int64)
        big_to_new[doc_to_big] = np.arange(n_docs_new)
        old = W_old[doc_to_big[kept]].tocoo()                             # old ids = big ids
        cols = big_to_new[old.col]
        if cols.size and cols.min() < 0:                                  # pragma: no cover
            raise AssertionError("an unaffected row points at a removed document")
        fresh = fresh.tocoo()
        W = sp.csr_matrix((np.concatenate([old.data, fresh.data]),
                           (np.concatenate([kept[old.row], rows[fresh.row]]),
                            np.concatenate([cols, fresh.col]))),
                          shape=(n_docs_new, n_docs_new), dtype=np.float64)
        W.sort_indices()
        return W, int(rows.size)

    def _commit(self, R, user_ids, item_ids, W):
        """Assign a new fitted state at once (after everything that can fail)."""
        self.R_ = R
        self.n_users_, self.n_items_ = R.shape
        self.user_ids_, self.item_ids_ = user_ids, item_ids
        self.similarity_ = W
        self.__dict__.pop("_query", None)

    def partial_fit(self, new_interactions, epochs=None):
        r"""Add interactions (new users and items too); equals ``fit`` on the union, exactly.

        ``new_interactions`` is matched by raw ids (see
        :meth:`Recommender.partial_fit`). Only the rows of ``W`` that can
        change are recomputed (see :meth:`_updated_similarity`); the others
        are kept bit for bit. ``epochs`` is ignored: nothing is trained.
        The number of recomputed rows is left in ``self._last_update`` (not
        saved). The hyperparameters must be those of the ``fit``, but for
        ``block_size`` and ``backend``: a changed ``k_neighbors``,
        ``similarity``, ``shrink``, ``weighting``, ``K1`` or ``B`` is a
        ValueError (the kept rows of ``W`` were computed with the old one),
        and the model is left as it was.
        """
        merge = self._merge_new(new_interactions)
        W, n_rows = self._updated_similarity(merge.R, np.arange(merge.R.shape[0]),
                                             np.arange(merge.R.shape[1]))
        self._commit(merge.R, merge.user_ids, merge.item_ids, W)
        self._set_item_labels(merge.item_labels)
        self._last_update = {"rows_recomputed": n_rows, "rows": W.shape[0]}
        return self

    def forget(self, users=None, interactions=None):
        r"""Remove users or pairs; equals ``fit`` on what remains, exactly (same rows recomputed).

        Forgotten users leave ``R_`` and ``similarity_`` (the other users are
        renumbered, see :meth:`Recommender.forget`); the rows of ``W`` that
        the removed data could reach are recomputed from the remaining data,
        the others kept. Nothing derived from the forgotten pairs is left in
        the fitted state (a saved file is rewritten from it). The reference
        is a ``fit`` on the remaining users numbered as here: with
        ``weighting`` in UserKNN, a fit that kept forgotten users as empty
        rows (``train.subset(mask)``) counts them among the ``N`` documents
        of the idf (and BM25's mean length) and differs. Hyperparameters as
        in :meth:`partial_fit`.
        """
        removal = self._removal(users, interactions)
        W, n_rows = self._updated_similarity(removal.R, removal.keep_users,
                                             np.arange(self.n_items_))
        self._commit(removal.R, removal.user_ids, self.item_ids_, W)
        self._last_update = {"rows_recomputed": n_rows, "rows": W.shape[0]}
        return self


class ItemKNN(_NeighbourhoodCF):
    r"""Item-based collaborative filtering: items similar to what the user took.

    .. math::
        W = \mathrm{topk}_{\text{rows}}\big(\mathrm{sim}(X)\big), \quad
        X = \mathrm{weight}(R^\top) \in \mathbb{R}^{n_{items} \times n_{users}},
        \qquad s_{uj} = \sum_{i \in I_u} W_{ij},

    where ``sim`` is the shrunk cosine (or dot product) between item vectors
    with ``sim(i, i) = 0``, and ``topk`` keeps the ``k_neighbors`` largest
    entries of each row (see ``topk_similarity`` in ``models/knn.py``). Item ``j`` thus gets
    credit from each taken item ``i`` that counts ``j`` among its k nearest
    (implicit's convention; Sarwar et al. 2001, Deshpande & Karypis 2004).

    Parameters
    ----------
    k_neighbors : int >= 1 or None, default 100
        Neighbours kept per item; None keeps all.
    shrink : float >= 0, default 0
        Cosine shrinkage ``λ``: ``dot / (‖a‖ ‖b‖ + λ)``.
    weighting : {None, "tfidf", "bm25"}
        Applied to ``Rᵀ`` (items are documents, users are terms) before the
        similarity; formulas in ``tfidf_weight``, ``bm25_weight`` (``models/knn.py``).
    K1, B : float
        BM25 parameters (used with ``weighting="bm25"``).
    similarity : {"cosine", "dot"}
    block_size : int, optional
        Items per block of the sparse product at fit time; default: blocks
        of bounded work (see ``topk_similarity`` in ``models/knn.py``). The model does not
        depend on it.
    backend : {"numba", "numpy"}, default "numba"
        How ``topk_similarity`` computes the neighbours (same model
        either way).
    max_memory_mb : float > 0 or None, default 2048
        Memory allowed for ``W`` while ``fit``, ``partial_fit`` or ``forget`` builds it,
        at ``W_BYTES_PER_ENTRY`` (72) bytes per stored entry (``models/knn.py``); None:
        no limit. Over it, a DataError and nothing fitted changes: up front when each
        item's widest user (the one who took most items) alone gives it too many
        neighbours (with ``k_neighbors=None`` on 50,000 items, three users who took
        everything make 2.5 billion entries, about 170 GiB), else as soon as the rows
        computed so far pass it. The model does not depend on it.

    Attributes
    ----------
    similarity_ : csr_matrix (n_items, n_items)
        ``W``, item–item: row ``i`` holds the ≤ k items most similar to item
        ``i``, ``i`` itself excluded.
    R_ : csr_matrix (n_users, n_items)
        The binary training matrix; its row ``u`` is the ``I_u`` that
        ``s_u = R_[u] W`` sums over.
    n_users_, n_items_ : int

    Notes
    -----
    Users with no training item and items with no training user score 0.

    The article's open problems (§8), all exact:

    * ``explain(u, i)``: ``s_ui = Σ_{j ∈ I_u} W_ji``, one contribution per
      training item ``j`` of the user (``kind="item"``).
    * ``score_history(items)``: ``r W`` with ``r`` the 0/1 row of the
      history; a training user's own history gives ``score(u)`` bit for bit.
    * ``partial_fit`` / ``forget``: ``W`` of a ``fit`` on the union / on what
      remains, bit for bit; only the rows of ``W`` of items whose weighted
      vector changed, or that share a user with one, are recomputed (with
      TF-IDF or BM25 a change reaches every row: then all are).
    """

    _documents = "items"

    def fit(self, train):
        r"""Compute the pruned item–item similarity ``W``. Returns ``self``."""
        self._check_params()
        R = self._fit_interactions(train)                                 # (n_users, n_items)
        self._fit_similarity(R.T.tocsr())                                 # W: (n_items, n_items)
        return self

    def _score_batch(self, users):
        r"""``S = R[users] W``: (len(users), n_items) float64."""
        return (self.R_[users] @ self.similarity_).toarray()              # (b, n_items)

    def _explain(self, user, item, k):
        r"""``s_ui = Σ_{j ∈ I_u} W_ji``: one contribution per training item ``j`` of the user."""
        items = self.R_[user].indices.astype(np.int64)                    # (|I_u|,)
        contributions = np.asarray(self.similarity_[items][:, [item]].todense()).ravel()
        from ..explain import Explanation
        return Explanation.from_contributions(
            user, item, items, contributions, kind="item",
            score=self.score([user])[0, item], exact=True, k=k,
            method="exact: s_ui = Σ_j R_uj W_ji over the user's items j")

    def _score_history(self, items):
        r"""``s = r W`` with ``r`` the 0/1 row of ``items``: (n_items,) float64."""
        return (self._history_row(items) @ self.similarity_).toarray()[0]  # (n_items,)


class UserKNN(_NeighbourhoodCF):
    r"""User-based collaborative filtering: what similar users took.

    .. math::
        W = \mathrm{topk}_{\text{rows}}\big(\mathrm{sim}(X)\big), \quad
        X = \mathrm{weight}(R) \in \mathbb{R}^{n_{users} \times n_{items}},
        \qquad s_{uj} = \sum_{v} W_{uv} R_{vj},

    i.e. the similarity-weighted vote of the ``k_neighbors`` users most
    similar to ``u`` (self excluded). Same parameters as :class:`ItemKNN`,
    with users and items swapped: the weighting treats users as documents
    and items as terms (so TF-IDF / BM25 down-weight popular items), and
    ``block_size`` counts users.

    Parameters
    ----------
    k_neighbors, shrink, weighting, K1, B, similarity, backend, max_memory_mb
        As in :class:`ItemKNN`, for users in place of items.
    block_size : int, optional
        Users per block of the sparse product at fit time (default as in
        :class:`ItemKNN`); the model does not depend on it.

    Attributes
    ----------
    similarity_ : csr_matrix (n_users, n_users)
        ``W``, user–user (where :class:`ItemKNN`'s is item–item): row ``u``
        holds the ≤ k users most similar to ``u``, ``u`` itself excluded.
    R_, n_users_, n_items_
        As in :class:`ItemKNN`; here the rows of ``R_`` are the neighbours'
        votes, ``s_u = W[u] R_``.

    Notes
    -----
    The article's open problems (§8), all exact:

    * ``explain(u, i)``: ``s_ui = Σ_v W_uv R_vi``, one contribution per
      neighbour ``v`` of ``u`` who took ``i`` (``kind="user"``).
    * ``score_history(items)``: the history as a new user: its weighted row
      (training ``idf`` and mean length) is compared with every training
      user as in ``fit`` (same similarity, shrink, top-k), then ``s = w R``.
      It computes with the hyperparameters, so one changed since ``fit``
      (but ``block_size`` and ``backend``) is refused, as by the updates
      (``W`` and the cached weighted training rows hold the old ones).
      ``fit`` leaves ``u`` out of ``u``'s own neighbours; the history has no
      id, so the training users whose item set equals the history are taken
      for the person asking and the first of them is left out. A training
      user's own history thus gives ``score(u)`` bit for bit (with
      duplicates: the first duplicate's scores); any other history leaves no
      one out, and then (without weighting) its scores are those a refit
      would give it as one more user.
    * ``partial_fit`` / ``forget``: ``W`` of a ``fit`` on the union / on what
      remains, bit for bit; only the rows of users whose weighted row
      changed, or who share an item with one, are recomputed.
    """

    _documents = "users"

    def fit(self, train):
        r"""Compute the pruned user–user similarity ``W``. Returns ``self``."""
        self._check_params()
        R = self._fit_interactions(train)                                 # (n_users, n_items)
        self._fit_similarity(R)                                           # W: (n_users, n_users)
        self.__dict__.pop("_query", None)
        return self

    def _score_batch(self, users):
        r"""``S = W[users] R``: (len(users), n_items) float64."""
        return (self.similarity_[users] @ self.R_).toarray()              # (b, n_items)

    def _explain(self, user, item, k):
        r"""``s_ui = Σ_v W_uv R_vi``: one contribution per neighbour ``v`` who took ``item``."""
        row = self.similarity_[user]                                      # (1, n_users)
        took = np.asarray(self.R_[row.indices, item].todense()).ravel() != 0
        from ..explain import Explanation
        return Explanation.from_contributions(
            user, item, row.indices[took], row.data[took], kind="user",
            score=self.score([user])[0, item], exact=True, k=k,
            method="exact: s_ui = Σ_v W_uv R_vi over the user's neighbours v")

    def _check_call_params(self, method):
        """``score_history`` and ``recommend_history`` weigh, compare and prune the history
        with the call's ``weighting``, ``K1``, ``B``, ``similarity``, ``shrink`` and
        ``k_neighbors``, against ``W`` and training rows weighted at ``fit``: a change since
        ``fit`` is refused (:meth:`_check_fit_params`), else a history equal to a user's own
        would not score as that user, and the cache of weighted rows (:meth:`_query_state`)
        would mix the old weighting with the new. ``explain`` reads ``W`` and ``R`` only."""
        if method != "explain":
            self._check_fit_params(method)

    def _query_state(self):
        """What every history query shares, derived from ``R_``: made at the first query and
        kept while ``R_`` is the same object (``base.kept``; ``fit``, ``partial_fit`` and
        ``forget`` assign a new one; the weighting cannot change in between,
        :meth:`_check_call_params`; never saved or pickled).

        A dict: ``XT`` the weighted training rows transposed (n_items, n_users) and
        ``norms`` their norms (n_users,); ``degree`` the users' item counts (n_users,);
        ``RT`` the transpose of ``R_`` (n_items, n_users); the training statistics of the
        weighting, ``idf`` (n_items,) and ``mean_length`` (BM25's ``ℓ̄``).
        """
        def make():
            X = sp.csr_matrix(self._weighted(self._docs(R_)))             # (n_users, n_items)
            R = sp.csr_matrix(R_, dtype=np.float64)                       # (n_users, n_items)
            return {"XT": X.T.tocsr(), "norms": _row_norms(X),
                    "degree": np.asarray(R_.sum(axis=1)).ravel(),         # (n_users,)
                    "RT": R_.T.tocsr(),                                   # (n_items, n_users)
                    "idf": _idf(R),                                       # (n_items,)
                    "mean_length": _mean_length(np.asarray(R.sum(axis=1)).ravel())}
        R_ = self.R_
        return kept(self, "_query", R_, make)

    def _weighted_query(self, items):
        r"""The history as one more document, weighted with the *training* statistics.

        TF-IDF: ``x_t idf_t`` with ``idf`` of the training users; BM25: the
        same formula with the training ``idf`` and mean length ``ℓ̄`` and the
        history's own length. For a training user's own history this is, to
        the bit, that user's weighted row.
        """
        x = self._history_row(items)                                      # (1, n_items)
        if self.weighting is None:
            return x
        state = self._query_state()
        idf = state["idf"]                                                # (n_items,)
        if self.weighting == "tfidf":
            x.data *= idf[x.indices]
            return x
        K1, B = _check_bm25(self.K1, self.B)
        x.data = _bm25(x.data, idf[x.indices], float(items.size), state["mean_length"], K1, B)
        return x

    def _score_history(self, items):
        r"""The history as a new user: its similarity row to the training users, then ``w R``.

        ``w`` = the top ``k_neighbors`` of ``sim(x, x_v)`` over the training
        users ``v`` (same weighting, shrink and similarity as ``fit``), then
        ``s = w R``. Self-similarity: ``fit`` leaves user ``u`` out of
        ``u``'s own neighbours; here the history has no user id, so the
        training users whose item set *equals* the history are taken to be
        the person asking and the first of them (smallest id) is left out.
        A training user's own history thus gives exactly ``score(u)``
        (tested); for a user with a duplicate, exactly the first
        duplicate's scores, and the others' up to the order of ties at the
        top-k cut. Any other history has no one left out.
        """
        state = self._query_state()
        XT, norms, degree = state["XT"], state["norms"], state["degree"]
        x = self._weighted_query(items)                                   # (1, n_items)
        D = sp.csr_matrix(x @ XT)                                         # (1, n_users) dots
        if self.similarity == "cosine":
            denom = _row_norms(x)[0] * norms[D.indices] + float(self.shrink)
            np.divide(D.data, denom, out=D.data, where=denom > 0)
            D.data[denom <= 0] = 0.0
        # the users who took every item of the history: R's columns ``items`` summed, as
        # rows of Rᵀ (a column slice of the CSR R reads all of it)
        same = (degree == items.size) & (
            np.asarray(state["RT"][items].sum(axis=0)).ravel() == items.size)
        if same.any():
            D.data[D.indices == np.flatnonzero(same)[0]] = 0.0            # the person asking
        k = self.n_users_ if self.k_neighbors is None else int(self.k_neighbors)
        # one row: the NumPy selection (the same entries as the parallel kernel, which
        # only pays off on many rows and costs a thread start-up per call)
        w = _csr_top_k(D, k, "numpy")                                     # (1, n_users)
        return (w @ self.R_).toarray()[0]                                 # (n_items,)
