r"""Model compression by quantisation (the article's FAQ Q4): ``mgr.quantize(model, "int8")``.

A fitted recommender scores from a few large float arrays: the final
embeddings of an embedding model, the item–item matrix of ItemKNN or
EASE, the singular vectors of GF-CF. :func:`~minigraphrec.quantize` stores them at
reduced precision and returns a fitted recommender with the same API
(``score``, ``recommend``, ``mgr.evaluate``, ``save``/``mgr.load``).

**Symmetric per-row int8 quantisation.** For a row ``x`` (d,):

.. math::
    s = \max_k |x_k| / 127, \qquad q_k = \mathrm{round}(x_k / s) \in [-127, 127],
    \qquad x_k \approx s\, q_k, \quad |x_k - s q_k| \le s / 2,

(a zero row gets ``s = 0``, ``q = 0``). A dot product of two quantised rows
is then an integer sum times two scales,

.. math::
    x_u \cdot x_i \approx s_u s_i \sum_k q_{uk} q_{ik},

and the sum is exact: a float32 matrix product of the rows widened to float32
sums it without rounding up to ``d = 1,024`` (every partial sum is an integer
of magnitude at most ``d · 128² ≤ 2^24``), an int64 kernel beyond.
``dtype="float16"`` stores ``x / max|x|`` (``s = max|x|``) in IEEE half
precision instead, the scale keeping every row in range: ``|x − s q| ≤
2^{-12} max|x|`` (half of float16's step below 1), which is 11 significant
bits (about 3 digits) for entries above ``2^{-14} max|x|`` and fewer below,
where float16 has only its subnormals (an entry under ``2^{-25} max|x|``
comes back as 0).

What is quantised, per model:

* :class:`~minigraphrec.models.embedding_base.EmbeddingRecommender` (MF,
  LightGCN, GCN, NGCF, GAT): the final embeddings ``user_embeddings_`` and
  ``item_embeddings_``, one scale per row, scored as the model's
  ``scoring`` says. ``"dot"``: the formula above. ``"cosine"``: the rows
  are divided by their norms first (a zero row stays zero), so the score is
  the dot product of the quantised unit rows, clipped to [-1, 1].
  ``"euclidean"``: ``-sqrt(max(‖x̃_u‖² + ‖x̃_i‖² − 2 x̃_u·x̃_i, 0))`` with
  ``x̃`` the dequantised rows.
* :class:`~minigraphrec.models.knn.ItemKNN` (sparse ``W``) and
  :class:`~minigraphrec.models.ease.EASE` (dense ``B``): scores are
  ``s_u = r_u W`` with a *binary* ``r_u``, i.e. ``s_uj = Σ_{i ∈ I_u} W_ij``.
  The scale is taken per **column** (per output item ``j``, a row of
  ``Wᵀ``): ``W_ij ≈ c_j q_ij``, so ``s_uj ≈ c_j Σ_{i ∈ I_u} q_ij`` is again
  an exact integer sum times one scale. (Per-row scales would need a float
  sum.) For EASE it is also the natural choice: ``B = I − P
  diagMat(1/diag P)`` scales the columns of ``P``.
* :class:`~minigraphrec.models.gfcf.GFCF`: the ideal low-pass term's
  singular vectors ``V`` (n_items, k), per row. With ``V ≈ diag(s) Q``,
  ``x_u = r_u D_I^{-1/2} V = Σ_{i∈I_u} d_i^{-1/2} s_i q_i`` is formed in
  float (k values per user), quantised per row in turn, and
  ``α x_u · (d_j^{1/2} V_j)`` goes through the int8 dot kernel. The linear
  term ``r_u R̃ᵀR̃`` is kept exact (it is the interaction data itself,
  stored as the sparse ``R̃``): a GF-CF with ``alpha=0`` computes it.

Other models (UserKNN, Popularity, ContentBased, Hybrid, the session
models) are refused with a :class:`~minigraphrec.errors.DataError`.

**Kernels.** int8 scores go through numba kernels
(:mod:`minigraphrec.kernels.quantize`, ``backend="numba"``) or their NumPy
references (``backend="numpy"``): the integer sums are computed in float64
there, which is exact (every partial sum is an integer far below 2⁵³), then
converted to float32 and multiplied by the scales in the kernels' order.
Both backends therefore return identical arrays. float16 arrays are
dequantised to float32 and multiplied by BLAS; numba has no float16
arithmetic, so ``backend="numba"`` widens them by a table lookup over
their bit patterns (:func:`minigraphrec.kernels.quantize.float16_widen`,
about 4x faster than NumPy's conversion) and ``"numpy"`` by NumPy: the
same bits either way.

**A few users** (at most 8, ``threadpools.FEW_ROWS``: a one-user
``recommend``) are scored from the stored arrays as they are:
int8 rows go through a serial integer kernel (int64 sums) instead of being
widened to float32 first, and GF-CF and the item–item models widen only the
rows a user's history touches. A larger batch widens each table once per
call. The bits are the same either way for int8 and for the item–item
models. float16 embeddings and GF-CF's float16 ideal term end in a float32
BLAS product, whose last bits may differ between one row and a batch (as
for the float models: on 400 users of the synthetic data, every one-user
row of an MF and of its float16 copy differed from the batch's row in some
entry); they do not depend on ``backend``.

Memory: :func:`scoring_nbytes` counts the bytes of the arrays a model's
``score`` reads (the training matrix ``R_`` that ``recommend`` uses to
drop seen items is left out: every model keeps it). int8 with float32
scales: ``d + 4`` bytes per row instead of ``4 d`` (float32) or ``8 d``
(float64); a sparse matrix also keeps its int32 column indices.
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp

from .errors import DataError, check_backend, check_compressed, int64_ids
from .models.base import Recommender
from .rank import _check_embeddings, _row_chunks
from .threadpools import FEW_ROWS, few_rows_matmul

__all__ = ["quantize", "quantize_rows", "dequantize_rows", "int8_dot_scores",
           "int8_row_sum_scores", "scoring_nbytes", "QuantizedEmbeddings", "QuantizedItemItem",
           "QuantizedGFCF", "QUANT_DTYPES"]

#: the storage types :func:`~minigraphrec.quantize` offers
QUANT_DTYPES = ("int8", "float16")
_Q_MAX = 127
#: the longest int8 dot product the float64 reference sums exactly: every partial sum, an
#: integer of magnitude at most d · 128², stays within 2^53 (the kernels' int64 sums would go on)
_MAX_DOT_LENGTH = 2**53 // (128 * 128)                    # 549,755,813,888
#: the longest int8 dot product a float32 matrix product sums exactly: with |q| <= 128 every
#: partial sum, in any order, is an integer of magnitude at most d · 128² <= 2^24, which
#: float32 represents exactly
_MAX_FLOAT32_EXACT_LENGTH = 2**24 // (128 * 128)         # 1,024


def _check_dtype(dtype):
    if not isinstance(dtype, str) or dtype not in QUANT_DTYPES:
        raise DataError(f"dtype must be one of {QUANT_DTYPES}, got {dtype!r}")
    return dtype


# ------------------------------------------------------------ row quantisation
def quantize_rows(X, dtype="int8"):
    r"""Symmetric per-row quantisation of a 2-d float array.

    ``int8``: ``s = max|x| / 127``, ``q = round(x / s)`` clipped to
    [-127, 127]; ``float16``: ``s = max|x|``, ``q = float16(x / s)``. A zero
    row gets ``s = 0`` and ``q = 0``; every other row ``s > 0``. The scale is
    rounded to float32 first (to nearest; upward where it falls below
    float32's normal range, ``max|x|`` under about ``1.5e-36`` for int8, so
    that a tiny row neither rounds to a zero scale nor needs ``|q| > 127``)
    and ``q`` computed from that float32 scale, so ``s q`` is exactly what
    :func:`dequantize_rows` gives back.

    Parameters
    ----------
    X : array-like (n, d), finite
    dtype : {"int8", "float16"}

    Returns
    -------
    Q : (n, d) int8 or float16
    scale : (n,) float32

    Notes
    -----
    int8 error bound: ``|x − s q| ≤ s / 2`` entrywise (rounding to nearest),
    ``s = max|x| / 127``, up to the float32 rounding of ``s``. float16:
    ``|x − s q| ≤ 2^{-12} s`` with ``s = max|x|`` (``|x / s| ≤ 1``, where
    float16's steps are at most ``2^{-11}``), up to the float32 rounding of
    ``s`` and of the product ``s q``.
    """
    _check_dtype(dtype)
    X = _check_embeddings(X, "X", why="only finite arrays can be quantised")   # (n, d) float64
    peak = np.abs(X).max(axis=1) if X.shape[1] else np.zeros(X.shape[0])   # (n,)
    too_big = peak > np.finfo(np.float32).max                               # (n,)
    if too_big.any():
        r = int(np.flatnonzero(too_big)[0])
        raise DataError(f"X row {r} holds {peak[r]:.3g}, beyond float32 (3.4e38), the dtype "
                        f"a quantised row is restored in: it would come back infinite")
    scale = _scales(peak, _Q_MAX if dtype == "int8" else 1)                # (n,)
    s64 = scale.astype(np.float64)[:, None]                                # (n, 1)
    Y = np.divide(X, s64, out=np.zeros_like(X), where=s64 > 0)             # (n, d) in [-L, L]
    if dtype == "int8":
        Q = np.clip(np.rint(Y), -_Q_MAX, _Q_MAX).astype(np.int8)
    else:
        Q = Y.astype(np.float16)
    return np.ascontiguousarray(Q), scale


def _scales(peak, levels):
    """float32 ``peak / levels``, rounded to nearest, except where that falls below float32's
    normal range (``peak`` under ``levels · 2^-126``, about ``1.5e-36`` for int8): there the
    subnormal grid is coarse, and a scale rounded down would need ``|q| > levels`` (clipped:
    the error bound lost) or round to 0 (a nonzero row restored as zeros). Those scales are
    rounded up instead, so ``|x| / s <= levels`` and ``s > 0`` for every nonzero ``peak``."""
    scale = (peak / levels).astype(np.float32)                              # (n,)
    # s * levels is exact in float64 (24 + 7 significant bits)
    low = (scale < np.finfo(np.float32).tiny) & (scale.astype(np.float64) * levels < peak)
    scale[low] = np.nextafter(scale[low], np.float32(np.inf))
    return scale


def dequantize_rows(Q, scale):
    r"""``X̃ = diag(scale) Q`` as float32, shape of ``Q``."""
    return np.asarray(Q, dtype=np.float32) * np.asarray(scale, dtype=np.float32)[:, None]


@functools.lru_cache(maxsize=1)
def _float16_table():
    """The float32 value of each of the 65,536 float16 bit patterns, by NumPy's own
    conversion (256 KiB, made once, read-only): the lookup table of ``float16_widen``."""
    table = np.arange(2**16, dtype=np.uint16).view(np.float16).astype(np.float32)
    table.flags.writeable = False
    return table


def _widen(Q, scale=None, backend="numba"):
    r"""``float32(Q)``, each row times its ``scale`` (n,) when given: what the scoring
    products read. ``Q``: int8 or float16, (n, d), or 1-d without ``scale``.

    float16 on the numba backend goes through
    :func:`~minigraphrec.kernels.quantize.float16_widen` (a table lookup); everything else
    through NumPy, whose bits it gives: the conversion is exact, and ``x · 1`` is ``x``.
    """
    if Q.dtype != np.float16 or backend != "numba" or Q.size == 0:
        return Q.astype(np.float32) if scale is None else dequantize_rows(Q, scale)
    from .kernels.quantize import float16_widen
    rows = Q if Q.ndim == 2 else Q.reshape(1, -1)                              # (n, d)
    s = (np.ones(rows.shape[0], dtype=np.float32) if scale is None
         else np.ascontiguousarray(scale, dtype=np.float32))
    out = np.empty(rows.shape, dtype=np.float32)
    float16_widen(np.ascontiguousarray(rows).view(np.uint16), _float16_table(), s, out)
    return out.reshape(Q.shape)


def _quantize_columns_dense(W, dtype):
    """Per-column quantisation of a dense (n, m) matrix: ``(Q (n, m), c (m,))``."""
    QT, c = quantize_rows(np.asarray(W).T, dtype)                        # (m, n), (m,)
    return np.ascontiguousarray(QT.T), c


def _quantize_columns_csr(W, dtype):
    """Per-column quantisation of a CSR matrix's stored values: ``(indptr, indices, data, c)``."""
    _check_dtype(dtype)
    W = sp.csr_matrix(W, dtype=np.float64)
    W.sum_duplicates()
    W.sort_indices()
    m = W.shape[1]
    peak = np.zeros(m)
    np.maximum.at(peak, W.indices, np.abs(W.data))                       # (m,) max_i |W_ij|
    c = _scales(peak, _Q_MAX if dtype == "int8" else 1)                 # (m,)
    c64 = c.astype(np.float64)[W.indices]                                # (nnz,)
    y = np.divide(W.data, c64, out=np.zeros_like(W.data), where=c64 > 0)
    if dtype == "int8":
        data = np.clip(np.rint(y), -_Q_MAX, _Q_MAX).astype(np.int8)
    else:
        data = y.astype(np.float16)
    return W.indptr.copy(), W.indices.copy(), data, c


# ------------------------------------------------------------------- scoring
def int8_dot_scores(Qu, su, Qi, si, backend="numba"):
    r"""``S[u, j] = float32(Σ_k Qu[u,k] Qi[j,k]) · su[u] · si[j]``: quantised dot products.

    Parameters
    ----------
    Qu : (b, d) int8
    su : (b,) float32
    Qi : (n, d) int8
    si : (n,) float32
    backend : {"numba", "numpy"}
        ``"numba"``, the fast path: for at most 8 users
        (``threadpools.FEW_ROWS``),
        :func:`minigraphrec.kernels.quantize.int8_dot_serial`, which reads
        the int8 rows as they are; for more and ``d`` up to 1,024, a float32
        matrix product (BLAS) of the rows widened to float32, which is exact
        (every partial sum, in whatever order BLAS adds, is an integer of
        magnitude at most ``d · 128² <= 2^24``); for longer rows,
        :func:`minigraphrec.kernels.quantize.int8_dot` (int64 accumulators,
        in parallel). ``"numpy"``, the reference: the integer products in
        float64 (exact), then the same float32 steps. Identical results.

    Returns
    -------
    S : (b, n) float32

    Notes
    -----
    On Gowalla (40,981 items, 64 dims, 2 threads), a quantised LightGCN's
    ``score`` of 1,024 users took 0.062 s through the float32 product and
    0.225 s through the integer kernel (``benchmarks/bench_quantize.py``, an
    Intel Xeon, the runs before and after the change).
    """
    check_backend(backend)
    Qu, su = _check_q(Qu, su, "Qu", "su")
    Qi, si = _check_q(Qi, si, "Qi", "si")
    if Qu.shape[1] != Qi.shape[1]:
        raise DataError(f"Qu has {Qu.shape[1]} columns and Qi has {Qi.shape[1]}; "
                        "they must share one dimension d")
    if Qu.shape[1] > _MAX_DOT_LENGTH:
        raise DataError(f"d = {Qu.shape[1]} is above {_MAX_DOT_LENGTH}: the float64 reference "
                        "would no longer sum the integer products exactly")
    if backend == "numba":
        few = Qu.shape[0] <= FEW_ROWS
        if not few and Qu.shape[1] <= _MAX_FLOAT32_EXACT_LENGTH:
            return _int8_dot_float32(Qu, su, Qi.astype(np.float32), si)
        from .kernels.quantize import int8_dot, int8_dot_serial
        out = np.empty((Qu.shape[0], Qi.shape[0]), dtype=np.float32)    # (b, n)
        return (int8_dot_serial if few else int8_dot)(Qu, su, Qi, si, out)
    acc = Qu.astype(np.float64) @ Qi.astype(np.float64).T                # (b, n) exact integers
    S = acc.astype(np.float32)
    S *= su[:, None]
    S *= si[None, :]
    return S


def _int8_dot_float32(Qu, su, Qi_f32, si, add_to=None):
    """``int8_dot_scores`` through a float32 product, for ``d <= _MAX_FLOAT32_EXACT_LENGTH``:
    ``Qi_f32`` is ``Qi`` widened to float32 (done once by a caller scoring many blocks).
    The sums are exact integers; the two scalings are then the reference's float32 steps, in
    its order, over chunks of rows that stay in cache. With ``add_to`` (b, n) float32, each
    scaled chunk is added to it there (the bits of ``add_to += scores``), and it is returned."""
    S = few_rows_matmul(Qu.astype(np.float32), Qi_f32.T)                # (b, n) exact integers
    for rows in _row_chunks(*S.shape):
        S_r = S[rows]                                                   # a view
        S_r *= su[rows, None]
        S_r *= si[None, :]
        if add_to is not None:
            add_to[rows] += S_r
    return S if add_to is None else add_to


def int8_row_sum_scores(R_b, Q, c, backend="numba"):
    r"""``S = float32(R_b Q) · c`` (per column) for a binary CSR ``R_b`` and an int8 ``Q``.

    ``S[u, j] = c_j Σ_{p ∈ row u of R_b} Q_{indices[p], j}``: a sum over the
    *stored entries* of ``R_b``, each counting as 1 whatever its value (an
    explicitly stored 0 counts, a duplicate counts twice).

    Parameters
    ----------
    R_b : scipy sparse (b, n_rows)
        Its CSR arrays are checked (``indptr`` from 0 to nnz, never
        decreasing; column indices in ``0 .. n_rows-1``).
    Q : (n_rows, n_cols) int8 ndarray, or a tuple ``(indptr, indices, data)``
        of a canonical CSR matrix with ``n_cols = len(c)`` columns: integer
        ``indptr`` (n_rows + 1,) from 0 to nnz, never decreasing; integer
        ``indices`` (nnz,) in ``0 .. n_cols-1``, strictly increasing within
        each row (sorted, no duplicates: ``W.sum_duplicates()`` gives that);
        int8 ``data`` (nnz,). Each is checked, O(nnz), before any kernel runs:
        a :class:`~minigraphrec.errors.DataError` names the array and its first
        bad row or position (the structure by
        :func:`~minigraphrec.errors.check_compressed`, as every sparse input).
    c : (n_cols,) float32
    backend : {"numba", "numpy"}
        :mod:`minigraphrec.kernels.quantize` (integer sums) or the reference
        (an exact float64 sparse product). Identical results.

    Returns
    -------
    S : (b, n_cols) float32
    """
    check_backend(backend)
    from .ops.sparse import as_csr
    R_b = as_csr(R_b if sp.issparse(R_b) else sp.csr_matrix(R_b), "R_b")
    c = np.ascontiguousarray(c, dtype=np.float32)
    if c.ndim != 1:
        raise DataError(f"c must be 1-d (n_cols,), got shape {c.shape}")
    Q = _check_csr_tuple(Q, c.shape[0], "Q") if isinstance(Q, tuple) else np.asarray(Q)
    return _int8_row_sum_scores(R_b, Q, c, backend)


def _check_csr_tuple(Q, n_cols, name, data_dtype=np.int8, n_rows=None):
    """The tuple ``(indptr, indices, data)`` of a canonical CSR matrix with ``n_cols``
    columns (and ``n_rows`` rows when given, else ``len(indptr) - 1``) and ``data_dtype``
    values, as ``(int64, int64, data)`` arrays; else :class:`DataError` naming ``name``'s
    array and its first bad position. O(nnz), vectorised.

    The structure every compressed matrix needs (1-d integer index arrays, ``indptr`` from 0
    never decreasing, indices within ``0 .. n_cols-1``, one length for indices and data) is
    :func:`~minigraphrec.errors.check_compressed`'s; the kernels ask for more, checked here:
    ``data`` of ``data_dtype``, ``indptr`` ending at ``len(indices)`` (every entry in a
    row), and each row's indices strictly increasing (sorted, no duplicate: a duplicate
    column would add twice and break the int32 bound of ``int8_row_sums``).
    """
    if len(Q) != 3:
        raise DataError(f"{name} must be a tuple (indptr, indices, data), got {len(Q)} items")
    indptr, indices, data = (np.asarray(a) for a in Q)
    if indptr.ndim == 1 and indptr.shape[0] == 0:
        raise DataError(f"{name} indptr is empty; it needs n_rows + 1 >= 1 entries")
    # int64 before the shared check, so that an unsigned entry beyond int64 is named as such
    if indptr.ndim == 1 and indptr.dtype.kind in "iu":
        indptr = int64_ids(indptr, f"{name} indptr", "offsets")
    if indices.ndim == 1 and indices.dtype.kind in "iu":
        indices = int64_ids(indices, f"{name} indices", "column indices")
    if n_rows is None:
        n_rows = indptr.shape[0] - 1 if indptr.ndim == 1 else 0
    check_compressed(indptr, indices, data, (n_rows, n_cols), "csr", name)
    if data.dtype != data_dtype:
        raise DataError(f"the CSR data of {name} must be {np.dtype(data_dtype)}, "
                        f"got {data.dtype}")
    nnz = indices.shape[0]
    if indptr[-1] != nnz:
        raise DataError(f"{name} indptr ends at {indptr[-1]}, but {name} holds {nnz} "
                        f"entries: a canonical CSR matrix uses every one (expected 0 to "
                        f"{nnz}, len(indices))")
    indptr = indptr.astype(np.int64, copy=False)                 # empty float arrays pass
    indices = indices.astype(np.int64, copy=False)
    if nnz > 1:
        # within a row, each index above the one before; row starts are free
        not_up = indices[1:] <= indices[:-1]                                 # (nnz - 1,)
        starts = indptr[1:-1]
        starts = starts[(starts > 0) & (starts < nnz)]
        not_up[starts - 1] = False
        if not_up.any():
            p = int(np.flatnonzero(not_up)[0]) + 1
            row = int(np.searchsorted(indptr, p, side="right")) - 1
            raise DataError(f"{name} indices[{p}] = {indices[p]} in row {row} is not above "
                            f"the index before it ({indices[p - 1]}): each row's column "
                            f"indices must be sorted without duplicates (a canonical CSR)")
    return indptr, indices, data


def _int8_row_sum_scores(R_b, Q, c, backend):
    """:func:`int8_row_sum_scores` on checked inputs: ``R_b`` CSR, ``Q`` a dense array (its
    dtype and shape checked here, O(1)) or the int64/int64/int8 tuple
    :func:`_check_csr_tuple` returns, ``c`` float32 (n_cols,)."""
    n_cols = c.shape[0]
    dense = not isinstance(Q, tuple)
    if dense and (Q.dtype != np.int8 or Q.ndim != 2 or Q.shape[1] != n_cols):
        raise DataError(f"Q must be a 2-d int8 array with {n_cols} columns, "
                        f"got {Q.dtype} {Q.shape}")
    n_rows = Q.shape[0] if dense else Q[0].shape[0] - 1
    if R_b.shape[1] != n_rows:
        raise DataError(f"R_b has {R_b.shape[1]} columns, Q has {n_rows} rows")
    # each stored entry of R_b adds at most 128 = |-128| to a column's int32 sum
    if R_b.nnz and np.diff(R_b.indptr).max() > (2**31 - 1) // (_Q_MAX + 1):
        raise DataError("a row of R_b has too many entries: int32 sums could overflow")
    if backend == "numba":
        indptr = R_b.indptr.astype(np.int64, copy=False)
        indices = R_b.indices.astype(np.int64, copy=False)
        out = np.empty((R_b.shape[0], n_cols), dtype=np.float32)         # (b, n_cols)
        kernel = _int8_row_sums_kernel(indices, Q, out)
        return kernel(indptr, indices, np.ascontiguousarray(Q) if dense else Q, c, out)
    ones = sp.csr_matrix((np.ones(R_b.nnz), R_b.indices, R_b.indptr), shape=R_b.shape)
    if dense:
        acc = np.asarray(ones @ Q.astype(np.float64))                    # (b, n_cols) exact
    else:
        Qm = sp.csr_matrix((Q[2].astype(np.float64), Q[1], Q[0]), shape=(n_rows, n_cols))
        acc = (ones @ Qm).toarray()                                      # (b, n_cols) exact
    S = acc.astype(np.float32)
    S *= c[None, :]
    return S


def _int8_row_sums_kernel(indices, Q, out):
    """The numba kernel for :func:`_int8_row_sum_scores`: ``int8_row_sums``, or its serial
    twin below ``PARALLEL_FROM`` int32 additions (a one-user ``score``), where waking the
    thread pool would cost more than the sums; the same bits either way. The additions:
    ``out``'s entries, plus those of the rows of ``Q`` that ``indices`` picks (each a full
    row of a dense ``Q``; its stored entries for a CSR tuple)."""
    from .kernels import quantize as kernels
    if isinstance(Q, tuple):
        picked = int((Q[0][indices + 1] - Q[0][indices]).sum())
    else:
        picked = indices.shape[0] * Q.shape[1]
    if out.size + picked >= kernels.PARALLEL_FROM:
        return kernels.int8_row_sums
    return kernels.int8_row_sums_serial


def _check_q(Q, s, qname, sname):
    Q = np.asarray(Q)
    if Q.ndim != 2 or Q.dtype != np.int8:
        raise DataError(f"{qname} must be a 2-d int8 array, got {Q.dtype} {Q.shape}")
    s = np.asarray(s)
    if s.shape != (Q.shape[0],):
        raise DataError(f"{sname} has shape {s.shape}, expected ({Q.shape[0]},): one scale "
                        f"per row of {qname}")
    return np.ascontiguousarray(Q), np.ascontiguousarray(s, dtype=np.float32)


# ---------------------------------------------------------------- estimators
class _Quantized(Recommender):
    """Shared: the seen-item matrix and ids copied from the source model, checks."""

    _common_attrs = ("n_users_", "n_items_", "R_", "user_ids_", "item_ids_", "source_")

    def __init__(self, dtype="int8", backend="numba"):
        self.dtype = dtype
        self.backend = backend

    def _check_params(self):
        _check_dtype(self.dtype)
        check_backend(self.backend)

    @classmethod
    def _from_source(cls, model, **params):
        """A new instance with the checked hyperparameters ``params`` and ``model``'s
        seen-item matrix and ids; the caller adds the quantised arrays, then ``_restore``."""
        q = cls(**params)
        q._check_params()
        for name in cls._common_attrs[:-1]:
            setattr(q, name, getattr(model, name))
        q._set_item_labels(getattr(model, "item_labels_", None))     # titles for the CLI
        q.source_ = type(model).__name__
        return q

    def _check_scale(self, name, n=None):
        """The scale attribute ``name``: a 1-d float32 array (of length ``n`` when given:
        where ``_restore`` itself reads it; ``io.load`` checks every length after
        ``_restore``), every entry finite and ``>= 0`` (``quantize_rows`` makes no other),
        else :class:`DataError`. A saved file could hold any array: a negative scale would
        flip the sign of scores without a word, a float64 one be rounded at every score."""
        scale = getattr(self, name)
        if not isinstance(scale, np.ndarray) or scale.dtype != np.float32 or scale.ndim != 1 \
                or (n is not None and scale.shape != (n,)):
            want = "1-d" if n is None else f"({n},)"
            raise DataError(f"{name} must be a {want} float32 array, got "
                            f"{getattr(scale, 'dtype', type(scale).__name__)} of shape "
                            f"{np.shape(scale)}")
        bad = ~(scale >= 0) | ~np.isfinite(scale)                              # (n,)
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            raise DataError(f"{name}[{at}] = {scale[at]}: a scale is finite and >= 0")
        return scale

    def _built(self, stored):
        """Record, after ``_restore``, the hyperparameters the stored arrays were made
        with: everything but ``backend`` (a change of those is refused when scoring, as
        ``quantize`` would have made other arrays). ``stored``: a quantised array, whose
        dtype must be ``dtype`` (a file saved after a refused change would not be)."""
        if np.dtype(stored.dtype) != np.dtype(self.dtype):
            raise DataError(f"dtype is {self.dtype!r} but the quantised arrays are "
                            f"{stored.dtype}; quantize the source model again")
        self._built_with = {k: v for k, v in self.get_params().items() if k != "backend"}

    def _check_fitted(self):
        super()._check_fitted()
        built = getattr(self, "_built_with", None)
        changed = [f"{k}={built[k]!r} -> {v!r}" for k, v in self.get_params().items()
                   if built is not None and k in built and v != built[k]]
        if changed:
            raise ValueError(f"this {type(self).__name__} was quantised with other "
                            f"hyperparameters ({', '.join(changed)}); set them back, or "
                            "quantize the source model again with the new ones")

    def fit(self, train):
        """Refused: a quantised model is made by :func:`~minigraphrec.quantize`, not fitted.

        Fit the original model, then quantise it: ``mgr.quantize(model, "int8")``.

        Parameters
        ----------
        train : any
            Not used.

        Raises
        ------
        TypeError
            Always, whatever ``train`` is.
        """
        raise TypeError(f"a {type(self).__name__} is made by mgr.quantize(fitted_model), "
                        "not fitted: fit the original model, then quantize it")

    def _score_dtype(self):
        """Quantised scores are float32, whatever the storage (int8 or float16)."""
        return np.dtype(np.float32)


class QuantizedEmbeddings(_Quantized):
    r"""An embedding model's final embeddings at reduced precision (:mod:`minigraphrec.quantization`).

    Parameters
    ----------
    dtype : {"int8", "float16"}
        How the rows of both embedding tables are stored.
    scoring : {"dot", "cosine", "euclidean"}, the source model's
    backend : {"numba", "numpy"}
        For the int8 dot products (:func:`int8_dot_scores`); float16 ignores it.

    Attributes
    ----------
    user_q_, item_q_ : (n_users, d), (n_items, d) int8 or float16
        Quantised rows (for ``"cosine"``, of the unit-normalised embeddings).
    user_scale_, item_scale_ : float32 (n_users,), (n_items,)
    R_, n_users_, n_items_, user_ids_, item_ids_ : as the source model
    source_ : str, the source model's class name
    """

    _state_attrs = _Quantized._common_attrs + ("user_q_", "user_scale_", "item_q_",
                                               "item_scale_")

    def __init__(self, dtype="int8", scoring="dot", backend="numba"):
        self.dtype = dtype
        self.scoring = scoring
        self.backend = backend

    def _check_params(self):
        super()._check_params()
        from .rank import SCORE_KINDS
        if self.scoring not in SCORE_KINDS:
            raise DataError(f"scoring must be one of {SCORE_KINDS}, got {self.scoring!r}")

    @classmethod
    def from_model(cls, model, dtype="int8", backend="numba"):
        """Quantise a fitted embedding model's ``user_embeddings_`` / ``item_embeddings_``."""
        q = cls._from_source(model, dtype=dtype, scoring=model.scoring, backend=backend)
        U, V = model.user_embeddings_, model.item_embeddings_             # (n_u, d), (n_i, d)
        if q.scoring == "cosine":
            U, V = _unit_rows(U), _unit_rows(V)
        q.user_q_, q.user_scale_ = quantize_rows(U, dtype)
        q.item_q_, q.item_scale_ = quantize_rows(V, dtype)
        q._restore()
        return q

    def _restore(self):
        """Derived arrays: the squared norms of the dequantised rows (euclidean scoring)."""
        self._check_params()
        self._built(self.item_q_)
        for name, q in (("user_scale_", self.user_q_), ("item_scale_", self.item_q_)):
            # euclidean scoring's norms below read one scale per row of q
            self._check_scale(name, q.shape[0] if self.scoring == "euclidean" else None)
        if self.scoring == "euclidean":
            self._user_sq = _dequantized_sq_norms(self.user_q_, self.user_scale_)  # (n_users,)
            self._item_sq = _dequantized_sq_norms(self.item_q_, self.item_scale_)  # (n_items,)

    def _score_batch(self, users):
        r"""Approximate scores of ``users``: (len(users), n_items) float32."""
        Qu, su = self.user_q_[users], self.user_scale_[users]             # (b, d), (b,)
        if self.dtype == "int8":
            D = int8_dot_scores(Qu, su, self.item_q_, self.item_scale_, self.backend)
        else:
            D = few_rows_matmul(_widen(Qu, su, self.backend),
                                _widen(self.item_q_, self.item_scale_, self.backend).T)
        return self._finish(D, users)

    def _scorer(self):
        """``_score_batch`` for many blocks in one call: the item rows are widened to float32
        (int8 on the fast path, when a block of more than ``FEW_ROWS`` users first needs
        them; fewer go through the serial int8 kernel) or dequantised (float16) once, not once
        per block."""
        if self.dtype == "int8" and (self.backend == "numpy"
                                     or self.item_q_.shape[1] > _MAX_FLOAT32_EXACT_LENGTH):
            return self._score_batch
        if self.dtype == "int8":
            widened = []                                                 # [(n_items, d)]

            def score(users):
                if users.shape[0] <= FEW_ROWS:
                    return self._score_batch(users)
                if not widened:
                    widened.append(self.item_q_.astype(np.float32))
                D = _int8_dot_float32(self.user_q_[users], self.user_scale_[users], widened[0],
                                      self.item_scale_)
                return self._finish(D, users)
        else:
            V = _widen(self.item_q_, self.item_scale_, self.backend)     # (n_items, d)

            def score(users):
                return self._finish(few_rows_matmul(_widen(self.user_q_[users],
                                                           self.user_scale_[users], self.backend),
                                                    V.T), users)
        return score

    def _finish(self, D, users):
        """The dot products ``D`` (b, n_items) as the model's scores (``scoring``)."""
        if self.scoring == "dot":
            return D                                                       # (b, n_items)
        if self.scoring == "cosine":
            return np.clip(D, -1.0, 1.0, out=D)
        D2 = self._user_sq[users][:, None] + self._item_sq[None, :] - 2.0 * D
        np.maximum(D2, 0.0, out=D2)
        return -np.sqrt(D2, out=D2)


def _unit_rows(X):
    """Rows divided by their Euclidean norms (float64); zero rows stay zero."""
    X = np.asarray(X, dtype=np.float64)
    norm = np.sqrt(np.einsum("nd,nd->n", X, X))[:, None]                  # (n, 1)
    return np.divide(X, norm, out=np.zeros_like(X), where=norm > 0)


def _dequantized_sq_norms(Q, scale):
    """``‖s q‖²`` per row, float32 (computed in float64)."""
    Qf = np.asarray(Q, dtype=np.float64)
    return (np.einsum("nd,nd->n", Qf, Qf) * scale.astype(np.float64) ** 2).astype(np.float32)


class QuantizedItemItem(_Quantized):
    r"""ItemKNN's sparse ``W`` or EASE's dense ``B`` at reduced precision, per-column scales.

    ``s_uj = c_j Σ_{i ∈ I_u} q_ij`` (see :mod:`minigraphrec.quantization`).

    Parameters
    ----------
    dtype : {"int8", "float16"}
        How the entries of ``W`` are stored.
    backend : {"numba", "numpy"}
        For the int8 row sums (:func:`int8_row_sum_scores`); float16 ignores it.

    Attributes
    ----------
    W_q_ : (n_items, n_items) int8 or float16, for a dense source (EASE), else absent
    W_indptr_, W_indices_, W_data_ : the CSR arrays of a sparse source (ItemKNN)
        (``W_data_`` int8 or float16)
    col_scale_ : float32 (n_items,), ``c``
    R_, n_users_, n_items_, user_ids_, item_ids_, source_ : as the source model
    """

    _state_attrs = _Quantized._common_attrs + ("W_q_", "W_indptr_", "W_indices_", "W_data_",
                                               "col_scale_")
    #: of those, what a file may lack (:func:`minigraphrec.io.load`): it holds ``W_q_`` (a dense
    #: source) or the three CSR arrays (a sparse one); ``_restore`` needs one or the other
    _optional_state = ("W_q_", "W_indptr_", "W_indices_", "W_data_")

    @classmethod
    def from_matrix(cls, model, W, dtype="int8", backend="numba"):
        """Quantise ``W`` (n_items, n_items), dense or sparse, of the fitted ``model``."""
        q = cls._from_source(model, dtype=dtype, backend=backend)
        if sp.issparse(W):
            q.W_indptr_, q.W_indices_, q.W_data_, q.col_scale_ = _quantize_columns_csr(W, dtype)
        else:
            q.W_q_, q.col_scale_ = _quantize_columns_dense(W, dtype)
        q._restore()
        return q

    def _restore(self):
        """Derived: int64 copies of the CSR index arrays for the kernel, checked once here
        (a saved file could hold any arrays) so that scoring need not check them again."""
        self._check_params()
        self._sparse = hasattr(self, "W_data_")
        self._built(self.W_data_ if self._sparse else self.W_q_)
        n = int(self.n_items_)
        self._check_scale("col_scale_")
        if self._sparse:
            self._indptr64, self._indices64, _ = _check_csr_tuple(
                (self.W_indptr_, self.W_indices_, self.W_data_), n, "W",
                data_dtype=np.int8 if self.dtype == "int8" else np.float16, n_rows=n)

    def _score_batch(self, users):
        r"""Approximate ``R[users] W``: (len(users), n_items) float32."""
        R_b = self.R_[users]                                               # (b, n_items) binary
        c = self.col_scale_
        if self.dtype == "int8":
            Q = (self._indptr64, self._indices64, self.W_data_) if self._sparse else self.W_q_
            return _int8_row_sum_scores(R_b, Q, c, self.backend)     # W checked in _restore
        # only the rows of W that the users' histories touch are read (and widened)
        rows, ones = _touched_rows(R_b, np.ones(R_b.nnz, dtype=np.float32))   # ones: (b, |rows|)
        if self._sparse:
            indptr, indices, data = _csr_rows(self._indptr64, self._indices64, self.W_data_,
                                              rows)
            W = sp.csr_matrix((_widen(data, None, self.backend), indices, indptr),
                              shape=(rows.shape[0], self.n_items_))        # (|rows|, n_items)
            S = (ones @ W).toarray()                                       # (b, n_items)
        else:
            S = np.asarray(ones @ _widen(self.W_q_[rows], None, self.backend))
        S = S.astype(np.float32, copy=False)
        S *= c[None, :]
        return S


def _touched_rows(R_b, values):
    """The columns ``R_b`` (b, n) uses, sorted, and ``R_b`` restricted to them with ``values``
    as its entries: ``(rows (m,), csr (b, m))``, the entries in ``R_b``'s own order, so a
    product with the matching rows of a table sums in the order the full product would."""
    rows = np.unique(R_b.indices)                                          # (m,)
    compact = np.searchsorted(rows, R_b.indices)                           # (nnz,)
    return rows, sp.csr_matrix((values, compact, R_b.indptr), shape=(R_b.shape[0], rows.shape[0]))


def _csr_rows(indptr, indices, data, rows):
    """The CSR arrays ``(indptr, indices, data)`` of the rows ``rows`` of a CSR matrix, in that
    order: a (len(rows), n_cols) matrix, without building the whole one."""
    starts = indptr[rows]                                                  # (m,)
    lengths = indptr[rows + 1] - starts                                    # (m,)
    sub_indptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=sub_indptr[1:])
    # entry p of the result is entry starts[r] + (p - sub_indptr[r]) of the source, r its row
    take = np.repeat(starts - sub_indptr[:-1], lengths) + np.arange(sub_indptr[-1])
    return sub_indptr, indices[take], data[take]


class QuantizedGFCF(_Quantized):
    r"""GF-CF with its singular vectors at reduced precision; the linear term exact.

    .. math::
        s_u = r_u \tilde R^\top \tilde R + \alpha\, x_u \cdot (d_j^{1/2} V_j)_j,
        \qquad x_u = \sum_{i \in I_u} d_i^{-1/2} V_i,\quad V \approx \mathrm{diag}(s) Q.

    ``x_u`` (k,) is computed in float from the quantised ``V``, then
    quantised per row itself for the int8 dot kernel (item scales
    ``s_j d_j^{1/2}``, user scales ``α s(x_u)``).

    Parameters
    ----------
    dtype : {"int8", "float16"}
        How the singular vectors ``V`` are stored (the linear term stays exact).
    backend : {"numba", "numpy"}
        For the int8 dot products of the ideal term (:func:`int8_dot_scores`); float16
        ignores it.

    Attributes
    ----------
    linear_ : GFCF with ``alpha=0``, the exact linear filter (shares ``R̃``)
    alpha_ : float, the source's ``alpha``
    V_q_ : (n_items, k) int8 or float16
    V_scale_ : (n_items,) float32
    d_items_ : float64 (n_items,)
    """

    _state_attrs = _Quantized._common_attrs + ("linear_", "alpha_", "V_q_", "V_scale_",
                                               "d_items_")

    @classmethod
    def from_model(cls, model, dtype="int8", backend="numba"):
        from .models.gfcf import GFCF
        q = cls._from_source(model, dtype=dtype, backend=backend)
        linear = GFCF(alpha=0.0, n_factors=model.n_factors, dtype=model.dtype,
                      backend=model.backend)
        for name in ("n_users_", "n_items_", "R_", "user_ids_", "item_ids_", "R_tilde_",
                     "d_users_", "d_items_"):
            setattr(linear, name, getattr(model, name))
        linear.singular_values_ = np.empty(0)
        linear.V_ = np.empty((model.n_items_, 0))
        linear._restore()
        q.linear_ = linear
        q.alpha_ = float(model.alpha)
        q.d_items_ = model.d_items_
        q.V_q_, q.V_scale_ = quantize_rows(model.V_, dtype)               # (n_items, k), (n_items,)
        q._restore()
        return q

    def _restore(self):
        self._check_params()
        self._built(self.V_q_)
        n = int(self.n_items_)
        self._check_scale("V_scale_", n)
        d = np.asarray(self.d_items_)                                       # (n_items,)
        if d.shape != (n,) or d.dtype.kind not in "iuf":
            raise DataError(f"d_items_ must hold the {n} item degrees, got {d.dtype} of "
                            f"shape {d.shape}")
        from .models.gfcf import _inv_sqrt
        d = d.astype(np.float64, copy=False)
        s = self.V_scale_.astype(np.float64)
        self._in_weight = _inv_sqrt(d) * s                                  # (n_items,) d^-1/2 s_i
        self._out_scale = (np.sqrt(d) * s).astype(np.float32)               # (n_items,) d^1/2 s_j

    def _score_batch(self, users):
        r"""Exact linear term plus the quantised ideal term: (len(users), n_items) float32."""
        return self._scorer()(users)

    def _scorer(self):
        """``_score_batch`` for many blocks in one call: the singular vectors are widened to
        float32 (and, for float16, scaled) once, when a block of more than ``FEW_ROWS`` users
        first needs them, not once per block. Fewer users read only the rows of ``V`` their
        histories touch, and (int8) the serial kernel; float16 widens the scaled table once."""
        def linear(users):
            return np.asarray(self.linear_._score_batch(users), dtype=np.float32)  # (b, n_items)

        if self.alpha_ == 0 or self.V_q_.shape[1] == 0:
            return linear                                                    # no ideal term
        widened = {}                                           # made when first needed, kept

        def table(name):
            if name not in widened:                            # "in": V; "out": V d^1/2 s
                widened[name] = _widen(self.V_q_, None if name == "in" else self._out_scale,
                                       self.backend)                         # (n_items, k)
            return widened[name]

        def score(users):
            S = linear(users)                                                # (b, n_items)
            R_b = self.R_[users]                                             # (b, n_items)
            few = users.shape[0] <= FEW_ROWS
            if few:                                                          # x_u from the
                rows, W_b = _touched_rows(R_b, self._in_weight[R_b.indices])  # rows it needs
                X = np.asarray(W_b @ _widen(self.V_q_[rows], None, self.backend))
            else:
                W_b = sp.csr_matrix((self._in_weight[R_b.indices], R_b.indices, R_b.indptr),
                                    shape=R_b.shape)                         # r_u d^-1/2 s
                X = np.asarray(W_b @ table("in"))                            # (b, k) x_u
            if self.dtype == "int8":
                Qx, sx = quantize_rows(X, "int8")                            # (b, k), (b,)
                sx = (sx * np.float32(self.alpha_)).astype(np.float32)
                if (not few and self.backend == "numba"
                        and X.shape[1] <= _MAX_FLOAT32_EXACT_LENGTH):        # the same bits
                    _int8_dot_float32(Qx, sx, table("in"), self._out_scale, add_to=S)
                else:
                    S += int8_dot_scores(Qx, sx, self.V_q_, self._out_scale, self.backend)
            else:
                P = few_rows_matmul(X.astype(np.float32), table("out").T)    # (b, n_items)
                alpha = np.float32(self.alpha_)
                for rows in _row_chunks(*P.shape):        # S += alpha * P, chunk by chunk
                    P_r = P[rows]
                    P_r *= alpha
                    S[rows] += P_r
            return S
        return score


# ---------------------------------------------------------------- the entry
def quantize(model, dtype="int8", backend="numba"):
    r"""A fitted recommender that scores like ``model`` from reduced-precision arrays.

    Symmetric per-row scale ``s = max|x| / 127``, ``q = round(x / s)``;
    scores ``≈ s_u s_i Σ_k q_uk q_ik`` with the sum exact (see the
    module docstring for what each model stores and how it scores).

    Parameters
    ----------
    model : fitted MF, LightGCN, GCN, NGCF, GAT, ItemKNN, EASE or GFCF
    dtype : {"int8", "float16"}
    backend : {"numba", "numpy"}
        For int8 scoring: the numba kernels or their NumPy references
        (identical results).

    Returns
    -------
    QuantizedEmbeddings, QuantizedItemItem or QuantizedGFCF
        A fitted :class:`~minigraphrec.models.base.Recommender`:
        ``score``, ``recommend``, ``mgr.evaluate``, ``save`` and
        ``mgr.load`` work on it; ``recommend`` excludes the source's seen
        items. ``model`` is not changed.

    Raises
    ------
    DataError
        An unsupported model, ``dtype`` or ``backend``.
    RuntimeError
        ``model`` is not fitted.
    """
    from .models.ease import EASE
    from .models.embedding_base import EmbeddingRecommender
    from .models.gfcf import GFCF
    from .models.knn import ItemKNN

    _check_dtype(dtype)
    check_backend(backend)
    if not isinstance(model, Recommender):
        raise DataError(f"model must be a fitted Recommender, got {type(model).__name__}")
    if isinstance(model, _Quantized):
        raise DataError(f"model is already a {type(model).__name__}; quantize the original")
    supported = (EmbeddingRecommender, ItemKNN, EASE, GFCF)
    if not isinstance(model, supported):
        raise DataError(f"quantize supports MF, LightGCN, GCN, NGCF, GAT (final embeddings), "
                        f"ItemKNN, EASE (item-item matrix) and GFCF; got "
                        f"{type(model).__name__}")
    for name in ("score", "_score_batch", "_scorer"):      # (final embeddings may be a subclass's)
        owner = next((c for c in type(model).__mro__ if name in c.__dict__), None)
        if owner is not None and not owner.__module__.startswith("minigraphrec."):
            raise DataError(f"{type(model).__name__} overrides {name} ({owner.__module__}."
                            f"{owner.__qualname__}); a quantised copy stores the arrays the "
                            f"library's scoring reads and scores them as the library does, so "
                            f"it would drop that change without a word. Quantise the library's "
                            f"models only")
    model._check_fitted()
    if isinstance(model, EmbeddingRecommender):
        if not hasattr(model, "user_embeddings_"):
            raise RuntimeError(f"this {type(model).__name__} has no final embeddings; "
                               "call fit(train) first")
        return QuantizedEmbeddings.from_model(model, dtype, backend)
    if isinstance(model, ItemKNN):
        return QuantizedItemItem.from_matrix(model, model.similarity_, dtype, backend)
    if isinstance(model, EASE):
        return QuantizedItemItem.from_matrix(model, model.B_, dtype, backend)
    return QuantizedGFCF.from_model(model, dtype, backend)


def _nbytes(x):
    if x is None:
        return 0
    if sp.issparse(x):
        return x.data.nbytes + x.indices.nbytes + x.indptr.nbytes
    return np.asarray(x).nbytes


def scoring_nbytes(model):
    r"""Bytes of the arrays ``model.score`` reads, the seen-item matrix ``R_`` left out.

    * embedding models: ``user_embeddings_`` + ``item_embeddings_``;
    * ItemKNN: ``similarity_`` (data, indices, indptr); EASE: ``B_``;
    * GFCF: ``R̃`` and its transpose, the sparse item filter when it has
      one, and the two float arrays of the ideal term (``D^{-1/2} V`` and
      ``Vᵀ D^{1/2}``);
    * the quantised models: their quantised arrays and scales, plus what
      they keep exact (GF-CF's linear term).
    """
    from .models.ease import EASE
    from .models.embedding_base import EmbeddingRecommender
    from .models.gfcf import GFCF
    from .models.knn import ItemKNN

    model._check_fitted()
    if isinstance(model, QuantizedEmbeddings):
        return sum(_nbytes(getattr(model, a)) for a in ("user_q_", "user_scale_", "item_q_",
                                                         "item_scale_"))
    if isinstance(model, QuantizedItemItem):
        return sum(_nbytes(getattr(model, a, None)) for a in ("W_q_", "W_indptr_",
                                                              "W_indices_", "W_data_",
                                                              "col_scale_"))
    if isinstance(model, QuantizedGFCF):
        return scoring_nbytes(model.linear_) + _nbytes(model.V_q_) + _nbytes(model.V_scale_) \
            + _nbytes(model.d_items_)
    if isinstance(model, EmbeddingRecommender):
        return _nbytes(model.user_embeddings_) + _nbytes(model.item_embeddings_)
    if isinstance(model, ItemKNN):
        return _nbytes(model.similarity_)
    if isinstance(model, EASE):
        return _nbytes(model.B_)
    if isinstance(model, GFCF):
        n = _nbytes(model.R_tilde_) + _nbytes(model._R_tilde_T) + _nbytes(model._item_filter)
        if model.alpha > 0:
            n += _nbytes(model._V_in) + _nbytes(model._V_out)
        return n
    raise DataError(f"scoring_nbytes does not know {type(model).__name__}")
