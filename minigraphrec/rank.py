r"""Ranking: similarity scores between embeddings and top-k selection.

The article's last pipeline step: score every (user, item) pair by the
similarity of their embeddings (§2–4: cosine similarity or Euclidean
distance; the GNN papers use the dot product), drop the items a user has
already seen, and keep the ``k`` best, sorted.

* :func:`score_matrix` -- dot, cosine or negative Euclidean scores;
* :func:`top_k` -- the ``k`` best entries per score row, seen items excluded,
  with a NumPy reference (``backend="numpy"``) and a numba kernel
  (``backend="numba"``) that return identical arrays;
* :func:`top_k_by_similarity` -- both at once, a block of users at a time, so
  that memory stays at ``batch_size * n_items`` scores.

Order contract (every backend): higher score first; equal scores break toward
the smaller item id; items scored ``-inf`` and excluded items are not
candidates; a row with fewer than ``k`` candidates is padded with item ``-1``
and score ``-inf``. NaN scores are rejected (a NaN has no place in an order).
"""
from __future__ import annotations

import contextlib

import numpy as np
import scipy.sparse as sp

from .errors import DataError, check_backend, check_compressed, check_int, float_dtype
from .threadpools import few_rows_matmul

__all__ = ["score_matrix", "top_k", "top_k_by_similarity", "SCORE_KINDS"]

#: the similarity kinds :func:`score_matrix` knows
SCORE_KINDS = ("dot", "cosine", "euclidean")

# ---------------------------------------------------------------- validation
#: the most memory the padding of top-k lists (k beyond n_items) may take
_MAX_PADDING_BYTES = 1 << 30


def _check_padding(k, n_rows, n_items):
    """Refuse a ``k`` above ``n_items`` whose padded (n_rows, k) lists (int64 items and
    float64 scores) would take more than :data:`_MAX_PADDING_BYTES`: a DataError (a
    ValueError) that says so, rather than an allocation of that size."""
    if k > n_items and 16 * n_rows * (k - n_items) > _MAX_PADDING_BYTES:
        raise DataError(f"k = {k} asks for {k - n_items} slots of padding per row beyond "
                         f"the {n_items} items ({16 * n_rows * k / 2**30:.3g} GiB of lists "
                         f"for {n_rows} rows); ask for k <= {n_items}")


def _as_scores(scores, name="scores", users=None):
    """Scores as a C-contiguous float32/float64 2-d array (NaN not checked: see _check_scores).

    Other real dtypes are cast to float64, but only where the cast is exact: a rounded
    score could tie with its neighbour and the ranking change. 64-bit integers must lie
    within ``±2**53``, where float64 holds every integer; floats wider than float64 (long
    double) must each be a float64 value (``1 + 1e-18`` is not: it would rank level with
    1). Else a DataError naming the first such entry, by row and column or, given ``users``
    (the user of each row), by user and item, as :func:`_raise_nan` does."""
    S = np.asarray(scores)
    if S.ndim != 2:
        raise DataError(f"{name} must be 2-d (n_rows, n_items), got shape {S.shape}")
    if S.dtype not in (np.float32, np.float64):
        if not (np.issubdtype(S.dtype, np.floating) or np.issubdtype(S.dtype, np.integer)
                or S.dtype == np.bool_):
            raise DataError(f"{name} must be numeric, got dtype {S.dtype}")
        inexact, why = None, None
        if S.dtype.kind in "iu" and S.dtype.itemsize == 8 and S.size:
            inexact = (S > 2**53) | (S < -(2**53))                  # not exact in float64
            why = ("beyond ±2**53: integer scores are ranked as float64, which holds every "
                   "integer only up to 2**53")
        elif S.dtype.kind == "f" and S.dtype.itemsize > 8 and S.size:
            with np.errstate(over="ignore"):                        # beyond float64: inf
                back = S.astype(np.float64).astype(S.dtype)
            inexact = (back != S) & ~np.isnan(S)                    # NaN: its own error later
            why = (f"not a float64 value: {S.dtype} scores are ranked as float64, and "
                   "rounding would merge or overflow distinct scores")
        if inexact is not None and inexact.any():
            r, j = np.argwhere(inexact)[0]
            value = str(S[r, j])                       # all its digits (format() rounds)
            what = f"{name}[{r}, {j}] = {value} is" if users is None else \
                f"{name}: the score of user {int(users[r])} for item {j} is {value},"
            raise DataError(f"{what} {why} (cast them yourself if rounding is fine)")
        S = S.astype(np.float64)
    return np.ascontiguousarray(S)


def _raise_nan(S, name="scores", users=None):
    """Raise the DataError naming the first NaN entry of ``S`` (which has one): by its row
    and column, or, given ``users`` (the user of each row), by user and item."""
    r, j = np.argwhere(np.isnan(S))[0]
    where = f"{name}[{r}, {j}]" if users is None else \
        f"{name}: the score of user {int(users[r])} for item {j}"
    raise DataError(f"{where} is NaN; scores must not be NaN (NaN has no place in a ranking)")


def _check_scores(scores, name="scores"):
    """Scores as a C-contiguous float32/float64 2-d array without NaN."""
    S = _as_scores(scores, name)
    if S.size and np.isnan(S.min()):                 # min propagates NaN; no temporary
        _raise_nan(S, name)
    return S


def canonical_csr(X, shape, name):
    r"""``X`` as a CSR matrix of ``shape`` whose stored entries are its nonzeros.

    Each row's indices come sorted ascending and duplicate-free (duplicates
    summed, then explicit zeros dropped). Index arrays keep SciPy's dtype
    (int32 or int64); kernels get them via :func:`csr_arrays`.
    Copies only when ``X`` is not already in that form. Used for the
    exclusion (seen items) and the test rows.

    A CSR or CSC matrix's index arrays are checked first (``errors.check_compressed``):
    SciPy's constructor does not check that the indices lie within the shape, and its
    C++ routines (and the kernels) would read and write out of bounds with them.
    """
    if not sp.issparse(X):
        raise DataError(f"{name} must be a scipy.sparse matrix of shape {shape}, "
                        f"got {type(X).__name__}")
    if X.shape != tuple(shape):
        raise DataError(f"{name} has shape {X.shape}, expected {tuple(shape)}")
    if X.format in ("csr", "csc"):
        check_compressed(X.indptr, X.indices, X.data, X.shape, X.format, name)
    X = X.tocsr()
    if not X.has_canonical_format or (X.nnz and not X.data.all()):
        X = X.copy()
        X.sum_duplicates()                   # also sorts the indices
        X.eliminate_zeros()
    return X


def csr_arrays(X):
    """``(indptr, indices)`` of a CSR matrix as int64, the kernels' one index type."""
    return X.indptr.astype(np.int64, copy=False), X.indices.astype(np.int64, copy=False)


# ------------------------------------------------------------------- scores
#: entries per chunk of rows of an in-place update of a score block (score_matrix's cosine
#: and Euclidean corrections, MarkovChain's tie-break, the int8 scalings): 2^16 float64, half
#: a MB, stays in cache between the chunk's operations (measured fastest of 2^14..2^20)
_ROW_CHUNK = 1 << 16


def _row_chunks(n_rows, n_cols, entries=None):
    """Consecutive row slices of an (n_rows, n_cols) array, each about ``entries`` entries
    (default :data:`_ROW_CHUNK`; at least one row): for in-place updates whose temporaries
    are one chunk, not one block."""
    entries = _ROW_CHUNK if entries is None else entries         # read now: tests patch it
    step = max(1, entries // max(n_cols, 1))
    return [slice(r, r + step) for r in range(0, n_rows, step)]


def score_matrix(U, V, kind="dot", out=None, dtype=np.float64):
    r"""Similarity of every row of ``U`` to every row of ``V``.

    Parameters
    ----------
    U : array-like (n_u, d)
        User (query) embeddings.
    V : array-like (n_v, d)
        Item embeddings.
    kind : {"dot", "cosine", "euclidean"}
        * ``"dot"``: :math:`s_{uv} = u \cdot v`.
        * ``"cosine"``: the article's :math:`\mathrm{sim}(u, v) =
          \frac{u \cdot v}{\lVert u\rVert \lVert v\rVert}`, clipped to
          [-1, 1] (rounding can land a hair outside); a zero vector has
          similarity 0 with everything (the formula's 0/0 is taken as 0, not
          NaN). A nonzero row too short for its products to be represented
          (norm below about 1e-12 in float32, 1e-138 in float64) is first
          scaled by a power of 2, exactly, so that its cosine is still right.
          Not the training op :func:`minigraphrec.ops.cosine_forward`, which
          clamps each norm at ``eps = 1e-8`` to keep its value and gradient
          finite next to the zero vector: for a row shorter than that the two
          differ (``u = 1e-9·[1, 0]``, ``v = [1, 0]``: 1.0 here, 0.1 there).
          Ranking differentiates nothing and cosine is scale-free, so here every
          row that is nonzero in ``dtype``, however short, gets its true cosine.
        * ``"euclidean"``: :math:`s_{uv} = -\lVert u - v\rVert_2`, negated
          so that larger is better, like the other two.

    out : ndarray (n_u, n_v) of ``dtype``, optional
        C-contiguous array to write the scores into (and return); the same
        bits as without it.
    dtype : {float64, float32}
        The precision of the scores. float64 (the default) computes in
        float64 whatever the input dtype: the scores of float32 embeddings
        are then their exact dot products rounded once per addition in
        float64. float32 casts ``U`` and ``V`` to float32 (a no-op for
        float32 embeddings) and runs the product in float32, about twice as
        fast (half the bytes per multiply-add): each score then carries a
        relative error of about ``d`` float32 roundings (2^-24 each), enough to
        swap two items whose float64 scores differ by less. The norms of the
        cosine and Euclidean corrections are summed in float64 either way,
        and the exactly recomputed Euclidean pairs are too.

    Returns
    -------
    S : ndarray (n_u, n_v) of ``dtype``

    Raises
    ------
    DataError
        When finite embeddings are too large for ``dtype``: a score (or, for cosine,
        the product of two norms) overflowed and is not finite. The message names
        the rows of ``U`` and ``V`` and the dtype. (``out`` may then hold partial
        results.)

    Notes
    -----
    The cosine and Euclidean corrections run over blocks of rows in place,
    with temporaries of one block (about 2^16 entries) rather than of the
    whole matrix. The Euclidean distance uses
    the expansion :math:`\lVert u\rVert^2 + \lVert v\rVert^2 - 2 u\cdot v`
    (one matrix product) clipped at 0. Its rounding error is about
    :math:`\epsilon (\lVert u\rVert^2 + \lVert v\rVert^2)`, large next to a
    small distance, so every pair whose expanded squared distance is below
    ``1e-3 (‖u‖² + ‖v‖²)`` is recomputed exactly as
    :math:`\sum_d (u_d - v_d)^2`; identical vectors then get exactly 0 and
    every distance is accurate to a relative ~1e-12.
    """
    if kind not in SCORE_KINDS:
        raise DataError(f"kind must be one of {SCORE_KINDS}, got {kind!r}")
    dtype = float_dtype(dtype)
    U = _check_embeddings(U, "U", dtype=dtype)                   # U's errors before V's
    return _item_scorer(V, kind, dtype)(U, out=out, checked=True)


def _item_scorer(V, kind="dot", dtype=np.float64):
    """``score_matrix(·, V, kind, dtype=dtype)`` as a function of ``U`` (and ``out``) alone.

    What does not depend on the users (``V`` checked and converted to ``dtype``, and its
    norms for cosine and Euclidean) is done once, here, instead of once per block of users:
    ``_item_scorer(V, kind, dtype)(U, out=out)`` gives the same bits as
    ``score_matrix(U, V, kind, out, dtype)``. For scoring many blocks against one item
    table within one call (``evaluate``, ``recommend``); the function keeps the prepared
    table, so a later change to ``V`` is not seen by it.
    """
    if kind not in SCORE_KINDS:
        raise DataError(f"kind must be one of {SCORE_KINDS}, got {kind!r}")
    dtype = float_dtype(dtype)
    V = _check_embeddings(V, "V", dtype=dtype)                   # (n_v, d) in dtype
    sq_v = None if kind == "dot" else _squared_norms(V)          # (n_v,) float64
    if kind == "cosine":
        V, sq_v = _lift_tiny_rows(V, sq_v)                       # their products would underflow
        nv = np.sqrt(sq_v).astype(dtype)                         # (n_v,) ‖v‖
    elif kind == "euclidean":
        sv = sq_v.astype(dtype)                                  # (n_v,) ‖v‖²
    safe = np.finfo(dtype).max / 4        # scores and partial sums below this cannot overflow
    largest = {}                          # the largest ‖v‖ (inf: huge), once, when needed

    def norm_v():
        if "v" not in largest:
            sq = _squared_norms(V) if sq_v is None else sq_v
            largest["v"] = float(np.sqrt(sq.max())) if sq.size else 0.0
        return largest["v"]

    def score(U, out=None, checked=False, first_row=0):
        """``first_row``: the row of the caller's ``U`` that ``U[0]`` is (for messages)."""
        if not checked:                                          # checked: done by the caller
            U = _check_embeddings(U, "U", dtype=dtype)
        if U.shape[1] != V.shape[1]:
            raise DataError(f"U has {U.shape[1]} columns and V has {V.shape[1]}; "
                            "the embeddings must share one dimension d")
        if out is not None:
            if (not isinstance(out, np.ndarray) or out.shape != (U.shape[0], V.shape[0])
                    or out.dtype != dtype or not out.flags.c_contiguous
                    or not out.flags.writeable):
                raise ValueError(f"out must be a writable C-contiguous {dtype} array of "
                                 f"shape {(U.shape[0], V.shape[0])}")
        if kind == "dot" and U.shape[0] <= U.shape[1]:
            # a few users (one user's scores): checking the scores afterwards reads no more
            # numbers than the norms of V would
            with np.errstate(over="ignore", invalid="ignore"):
                D = few_rows_matmul(U, V.T, out=out)             # (n_u, n_v) in dtype
            if D.size and not (np.isfinite(D.max()) and np.isfinite(D.min())):
                _check_overflow(D, U, V, kind, first_row)
            return D
        sq_u = _squared_norms(U)                                 # (n_u,) float64
        if kind == "cosine":
            U, sq_u = _lift_tiny_rows(U, sq_u)
        norm_u = float(np.sqrt(sq_u.max())) if sq_u.size else 0.0
        # |u·v| <= ‖u‖ ‖v‖ and ‖u - v‖² <= (‖u‖ + ‖v‖)²: below ``safe`` nothing can
        # overflow, and the scan for non-finite scores is skipped (the usual case)
        reach = (norm_u + norm_v() if kind == "euclidean"
                 else np.sqrt(norm_u * norm_v()))
        risky = reach * reach >= safe                            # Python floats: inf, no error
        # where it may overflow, NumPy's warning would come before our error: silenced there
        with np.errstate(over="ignore", invalid="ignore") if risky else contextlib.nullcontext():
            return _scores(U, out, sq_u, risky, first_row)

    def _scores(U, out, sq_u, risky, first_row):
        D = few_rows_matmul(U, V.T, out=out)                     # (n_u, n_v) in dtype
        if kind == "dot":
            if risky:
                _check_overflow(D, U, V, kind, first_row)
            return D
        if kind == "cosine":
            nu = np.sqrt(sq_u).astype(dtype)                     # (n_u,)
            for chunk in _row_chunks(*D.shape):
                D_r = D[chunk]                                   # (chunk, n_v), a view
                denom = np.multiply.outer(nu[chunk], nv)         # (chunk, n_v)
                if risky:                                        # ‖u‖ ‖v‖ overflows: 0, not cos
                    _check_overflow(np.where(np.isfinite(denom), D_r, np.inf), U, V, kind,
                                    first_row + chunk.start, row_offset=chunk.start)
                positive = denom > 0                             # a zero vector: 0/0 is taken as 0
                np.divide(D_r, denom, out=D_r, where=positive)
                D_r[~positive] = 0.0
                np.clip(D_r, -1.0, 1.0, out=D_r)
            return D
        # euclidean
        su = sq_u.astype(dtype)                                  # (n_u,) ‖u‖²
        for chunk in _row_chunks(*D.shape):
            D_r = D[chunk]                                       # (chunk, n_v), a view
            scale = su[chunk, None] + sv[None, :]                # (chunk, n_v)
            np.multiply(D_r, 2.0, out=D_r)
            np.subtract(scale, D_r, out=D_r)                     # ‖u‖² + ‖v‖² - 2 u·v
            np.maximum(D_r, 0.0, out=D_r)
            rows, cols = np.nonzero(D_r < 1e-3 * scale)          # cancellation-prone pairs
            for start in range(0, rows.shape[0], 65536):         # bounded memory
                i = rows[start:start + 65536]
                c = cols[start:start + 65536]
                diff = U[chunk.start + i].astype(np.float64, copy=False) - V[c]  # (pairs, d)
                D_r[i, c] = np.einsum("pd,pd->p", diff, diff)    # rounded once to dtype
            np.sqrt(D_r, out=D_r)
            np.negative(D_r, out=D_r)
        if risky:
            _check_overflow(D, U, V, kind, first_row)
        return D

    return score


def _check_overflow(D, U, V, kind, first_row, row_offset=0):
    """Raise a DataError naming the first non-finite entry of ``D`` (rows of ``U`` from
    ``row_offset``, named from ``first_row`` on; columns: rows of ``V``), if there is one.
    ``U`` and ``V`` are finite (checked), so such a score overflowed."""
    if np.isfinite(D).all():
        return
    r, c = (int(i) for i in np.argwhere(~np.isfinite(D))[0])
    u, v = U[row_offset + r], V[c]
    hint = "; score in float64 or" if D.dtype == np.float32 else ";"
    raise DataError(f"the {kind} score of U[{first_row + r}] and V[{c}] overflowed "
                    f"{D.dtype} (it is not finite, while both rows are: their largest "
                    f"entries are {np.abs(u).max():.3g} and {np.abs(v).max():.3g} in size, "
                    f"too large for {kind} scores in {D.dtype}){hint} scale the "
                    f"embeddings down")


def _score_blocks(score, users, batch_size, reuse=False):
    """Score ``users`` in consecutive blocks of ``batch_size``: yields ``(start, batch, S)``.

    ``S = score(batch)`` for the first block; with ``reuse`` (a model whose scores can be
    written into an array, ``_scores_into``) every later block is written into the first
    one's rows, ``score(batch, out=first[:len(batch)])``, so that one block of memory
    serves them all instead of a fresh one, page-faulted in, per block. A block is no longer
    referenced here once the next one is asked for: a caller that drops its own reference
    holds one block at a time either way.
    """
    first = None
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        S = score(batch) if first is None else score(batch, out=first[:batch.shape[0]])
        if reuse and first is None:
            first = S
        yield start, batch, S
        del S


def _read_only(X):
    """Whether nothing can write into ``X``'s numbers: ``X`` and every array it views are
    read-only, and the last of them owns its memory. (A read-only view of a writable array,
    or of a buffer of another kind such as a writable memory map, may change under it.)
    Also used by :mod:`minigraphrec.models.embedding_base` (its prepared item table)."""
    while isinstance(X, np.ndarray):
        if X.flags.writeable:
            return False
        if X.base is None:
            return True
        X = X.base
    return False


def _check_embeddings(X, name, why="embeddings must be finite", dtype=np.float64):
    """``X`` as a finite 2-d array of ``dtype``; DataError naming ``name`` (and ``why``)
    otherwise."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise DataError(f"{name} must be 2-d (n, d), got shape {X.shape}")
    if not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)):
        raise DataError(f"{name} must be numeric, got dtype {X.dtype}")
    with np.errstate(over="ignore"):                       # a finite float64 beyond float32
        Y = X.astype(dtype, copy=False)
    if not np.all(np.isfinite(Y)):
        r, c = np.argwhere(~np.isfinite(Y))[0]
        if np.isfinite(X[r, c]):                             # finite, but not in dtype
            raise DataError(f"{name}[{r}, {c}] is {X[r, c]}, beyond the range of "
                            f"{np.dtype(dtype)}; {why}")
        raise DataError(f"{name}[{r}, {c}] is {X[r, c]}; {why}")
    return Y


def _squared_norms(X):
    """Row sums of squares of ``X`` (n, d), accumulated in float64: (n,) float64."""
    return np.einsum("nd,nd->n", X, X, dtype=np.float64)


def _lift_tiny_rows(X, sq):
    """``X`` (n, d) with every nonzero row too short for cosine scores multiplied by a
    power of 2, and its squared norms ``sq`` (n,) float64 to match: ``(X, sq)``.

    Cosine is scale-free, but the products of a row shorter than about 1e-12 (float32;
    1e-138 in float64) with other rows underflow to 0 or lose digits in subnormal
    numbers, and its squared norm may be 0 even in float64. Such a row is scaled by the
    power of 2 that brings its largest entry into [0.5, 1): exact, as scaling by 2^m is
    for any float that stays in range. Other rows keep their bits, and ``X`` is copied
    only when a row is scaled.
    """
    info = np.finfo(X.dtype)
    short = sq < (np.sqrt(info.tiny) / info.eps) ** 2          # (n,) bool; zero rows too
    if not short.any():
        return X, sq
    rows = np.flatnonzero(short)
    top = np.abs(X[rows]).max(axis=1)                          # (n_short,) largest entry
    rows, top = rows[top > 0], top[top > 0]                    # a zero row stays zero
    if rows.size == 0:
        return X, sq
    X, sq = X.copy(), sq.copy()
    X[rows] = np.ldexp(X[rows], -np.frexp(top)[1][:, None])    # largest entry in [0.5, 1)
    sq[rows] = _squared_norms(X[rows])
    return X, sq


# ------------------------------------------------------------------- top-k
def _top_k_numpy(S, k, ex_indptr, ex_indices):
    """Reference: mark excluded items -inf, stable descending argsort, cut at k."""
    S = np.array(S, dtype=np.float64, copy=True)             # (n_rows, n_items)
    rows = np.repeat(np.arange(S.shape[0]), np.diff(ex_indptr))
    S[rows, ex_indices] = -np.inf
    k_eff = min(k, S.shape[1])
    order = np.argsort(-S, axis=1, kind="stable")[:, :k_eff]  # (n_rows, k_eff)
    vals = np.take_along_axis(S, order, axis=1)              # (n_rows, k_eff)
    items = np.full((S.shape[0], k), -1, dtype=np.int64)     # (n_rows, k)
    out = np.full((S.shape[0], k), -np.inf)                  # (n_rows, k)
    items[:, :k_eff] = np.where(np.isneginf(vals), -1, order)
    out[:, :k_eff] = vals
    return items, out


def _top_k_kernel(n_rows, n_items):
    """The numba kernel of :mod:`minigraphrec.kernels.topk` for an (n_rows, n_items) block:
    its serial twin below ``PARALLEL_FROM`` scores (a one-user ``recommend``), where waking
    the thread pool would cost more than the ranking; the same bits either way."""
    from .kernels import topk
    return (topk.top_k_rows if n_rows * n_items >= topk.PARALLEL_FROM
            else topk.top_k_rows_serial)


def _top_k_numba(S, k, ex_indptr, ex_indices):
    """The kernel's top-k; a NaN in ``S`` (which the kernel counts while it reads each row
    once, rather than a pass of its own before) raises :func:`_raise_nan`'s DataError."""
    from numba import parallel_chunksize

    from .kernels.topk import top_k_rows

    n_rows, n_items = S.shape
    items = np.empty((n_rows, k), dtype=np.int64)            # (n_rows, k)
    out = np.empty((n_rows, k), dtype=np.float64)            # (n_rows, k)
    if n_items == 0:
        items.fill(-1)
        out.fill(-np.inf)
        return items, out
    n_nan = np.zeros(n_rows, dtype=np.int64)                 # (n_rows,)
    kernel = _top_k_kernel(n_rows, n_items)
    # parallel: rows to whichever thread is free, 16 at a time (results per row)
    with parallel_chunksize(16) if kernel is top_k_rows else contextlib.nullcontext():
        kernel(S, min(k, n_items), ex_indptr, ex_indices, items, out, n_nan)
    if n_nan.any():
        _raise_nan(S)
    return items, out


def top_k(scores, k, exclude=None, backend="numba"):
    r"""The k largest entries of each row, best first, skipping excluded items.

    Parameters
    ----------
    scores : array-like (n_rows, n_items)
        Higher is better. Must not contain NaN (rejected with an error naming
        the entry). ``-inf`` marks an item that cannot be recommended.
    k : int, >= 1
        May exceed ``n_items``; the extra slots are padding. A ``k`` whose padding
        would take more than 1 GiB (``n_rows · k`` slots of 16 bytes, all but
        ``n_items`` per row padding) is refused with a ``DataError``: ask for at most
        ``n_items``.
    exclude : scipy.sparse matrix (n_rows, n_items), optional
        Nonzero entries are removed from the ranking (a user's seen items).
    backend : {"numba", "numpy"}
        ``"numba"`` (default) and ``"numpy"`` (the reference) return identical
        arrays. ``"numpy"``: the reference (exclusions set to ``-inf``, a stable
        descending ``argsort``); O(n_items log n_items) per row and three
        (n_rows, n_items) temporaries. ``"numba"``: one pass per row with a
        bounded heap (``kernels.topk.top_k_rows``), rows in parallel (in one
        thread below 2^18 scores, ``kernels.topk.PARALLEL_FROM``: a few rows),
        O(n_items log k) and no temporaries. On 1024 x 41k float64 scores
        with k = 20: ~0.05 s against ~4 s for the reference (2-core laptop
        class CPU). Its first call after install compiles for a few seconds;
        numba caches the result on disk.

    Returns
    -------
    items : int64 (n_rows, k)
    scores : float64 (n_rows, k)
        Best first. Equal scores break toward the smaller item id. Rows with
        fewer than k candidates (items neither excluded nor scored ``-inf``)
        are padded with item -1 and score -inf; an all-excluded row is all
        padding.
    """
    check_backend(backend)
    k = check_int(k, "k")
    S = _as_scores(scores)                                   # NaN: checked below
    _check_padding(k, *S.shape)
    if exclude is None:
        ex_indptr = np.zeros(S.shape[0] + 1, dtype=np.int64)
        ex_indices = np.zeros(0, dtype=np.int64)
    else:
        X = canonical_csr(exclude, S.shape, "exclude")
        ex_indptr, ex_indices = csr_arrays(X)
    if backend == "numpy":
        _check_scores(S)                                     # the NaN error, as numba's
        return _top_k_numpy(S, k, ex_indptr, ex_indices)
    return _top_k_numba(S, k, ex_indptr, ex_indices)         # counts NaN as it ranks


def top_k_by_similarity(U, V, k, kind="dot", exclude=None, batch_size=1024,
                        backend="numba"):
    r"""For each row of ``U``, the ``k`` rows of ``V`` with the highest similarity.

    The recommendation step of the article's pipeline: ``top_k(score_matrix(U,
    V, kind), k, exclude)``, computed ``batch_size`` rows of ``U`` at a time so
    that at most ``batch_size * n_v`` scores are in memory.

    Parameters
    ----------
    U : array-like (n_u, d)
    V : array-like (n_v, d)
    k : int, >= 1
    kind : {"dot", "cosine", "euclidean"}
        See :func:`score_matrix`.
    exclude : scipy.sparse matrix (n_u, n_v), optional
        Pairs to leave out (seen items).
    batch_size : int, >= 1
    backend : {"numba", "numpy"}
        See :func:`top_k`.

    Returns
    -------
    items : int64 (n_u, k)
        As :func:`top_k`.
    scores : float64 (n_u, k)
        As :func:`top_k`.
    """
    check_backend(backend)
    k = check_int(k, "k")
    if kind not in SCORE_KINDS:
        raise DataError(f"kind must be one of {SCORE_KINDS}, got {kind!r}")
    batch_size = check_int(batch_size, "batch_size")
    U = _check_embeddings(U, "U")
    V = _check_embeddings(V, "V")
    if exclude is not None:
        exclude = canonical_csr(exclude, (U.shape[0], V.shape[0]), "exclude")
    _check_padding(k, U.shape[0], V.shape[0])
    score = _item_scorer(V, kind)                            # V's part once, as score_matrix
    items = np.empty((U.shape[0], k), dtype=np.int64)        # (n_u, k)
    scores = np.empty((U.shape[0], k), dtype=np.float64)     # (n_u, k)
    for start in range(0, U.shape[0], batch_size):
        stop = min(start + batch_size, U.shape[0])
        S = score(U[start:stop], checked=True, first_row=start)   # (b, n_v)
        ex = None if exclude is None else exclude[start:stop]
        items[start:stop], scores[start:stop] = top_k(S, k, exclude=ex, backend=backend)
    return items, scores
