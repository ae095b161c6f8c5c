r"""Sparse times dense: the propagation step ``A_hat @ X`` of every graph model.

:func:`spmm` is the user-facing wrapper: it validates, then dispatches to the
SciPy reference (``backend="numpy"``, the one line ``A @ X``) or to the
parallel numba kernel :func:`minigraphrec.kernels.spmm.spmm_csr`
(``backend="numba"``). Both return the same numbers (bit for bit on x86-64;
see the kernel module for why).

Transposed products. There is no ``spmm_t``: a scatter-style ``Aᵀ X`` on the
CSR arrays cannot be parallelised over output rows without racing or
duplicated work, and measured slower than transposing once. Callers that need
``Aᵀ X`` repeatedly (the backward pass of a non-symmetric propagation) build
``A_T = A.T.tocsr()`` once, keep it, and call ``spmm(A_T, X)``. LightGCN's
symmetric ``A_hat`` is its own transpose.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import (DataError, check_backend, check_finite_sparse, check_float_array,
                      check_out, check_real_sparse, check_sparse_arrays)

__all__ = ["spmm", "spgemm_dense", "as_csr"]

#: products of fewer multiply-adds (``spmm``: ``nnz(A) · d``) or outputs (``spgemm_dense``)
#: than this run their kernel on one numba thread (:class:`~minigraphrec.threadpools.
#: serial_if`): waking the pool costs a scheduler time slice when the cores are busy, for
#: microseconds of work. One ML-100K user's GF-CF ``recommend`` (two products over the 100k
#: ratings, one column each) took 5-14 ms per product on two threads (AMD EPYC, load
#: average 4-6, 2026-12-07, ad hoc). Rows are each computed by one thread: the same bits.
SERIAL_BELOW = 1 << 18


def as_csr(A, name="A"):
    r"""``A`` as a 2-d scipy CSR matrix or array whose arrays are safe for the kernels.

    Other sparse formats are converted (a copy); CSR input is returned as is. The index
    arrays are checked first (``errors.check_sparse_arrays``, before a conversion reads
    them), each check O(n_rows) or O(nnz) and far cheaper than a product: a CSR or CSC's
    ``indptr`` starts at 0, never decreases and ends at most at ``nnz``; every stored index
    (a COO's rows and columns too) lies within the shape. Dense input is refused: the
    caller chooses when to pay for ``sp.csr_matrix(dense)``. The values are not read
    (``errors.check_finite_sparse`` does).

    Parameters
    ----------
    A : scipy sparse matrix or array (n_rows, n_cols)
    name : str
        What to call ``A`` in the messages.

    Returns
    -------
    scipy CSR matrix or array (n_rows, n_cols)
        ``A`` itself when it is CSR, else ``A.tocsr()``.

    Raises
    ------
    TypeError
        ``A`` is not scipy sparse.
    DataError
        ``A`` is not 2-d, or its CSR arrays are inconsistent or hold a column index out
        of range (the message names ``name``, the first such index and its row).
    """
    if not sp.issparse(A):
        raise TypeError(f"{name} must be a scipy sparse matrix or array, "
                        f"got {type(A).__name__}")
    if A.ndim != 2:
        raise DataError(f"{name} must be 2-d, got shape {A.shape}")
    check_sparse_arrays(A, name)                        # tocsr reads them unchecked
    return A if A.format == "csr" else A.tocsr()


def _cast_data(A, dtype):
    """``A`` with its values cast to ``dtype``; a CSR or CSC matrix keeps its entries as
    stored: SciPy's ``A.astype`` sums duplicates and sorts the indices of the copy when the
    dtype changes, which would change the order (and so the rounding) of each row's sum, and
    the reference would no longer equal the kernel bit for bit. ``A`` itself when it already
    has ``dtype``; the index arrays are shared, not copied. Another sparse format or a dense
    ndarray (which the propagation ops also take) is cast by ``A.astype``."""
    if A.dtype == dtype:
        return A
    if sp.issparse(A) and A.format in ("csr", "csc"):
        return type(A)((A.data.astype(dtype), A.indices, A.indptr), shape=A.shape, copy=False)
    return A.astype(dtype)


def _check_2d(X, name):
    """``X`` as a float32/float64 ndarray (:func:`~minigraphrec.errors.check_float_array`, no
    copy) that is 2-d, (n, d), or the convention's error naming the axes."""
    X = check_float_array(X, name)
    if X.ndim != 2:
        raise DataError(f"{name} must be 2-d (n, d), got shape {X.shape}")
    return X


def spmm(A, X, backend="numba", out=None):
    r"""Sparse times dense, ``A @ X``, in ``X``'s dtype.

    .. math:: \mathrm{out}_{i,:} = \sum_{j:\,A_{ij} \text{ stored}} A_{ij}\, X_{j,:}

    Parameters
    ----------
    A : scipy sparse matrix or array, shape (n_rows, n_cols)
        CSR is used as is; any other format is converted with ``A.tocsr()``
        on every call (convert once and keep it). Its values are cast to
        ``X``'s dtype (a copy of ``A.data`` per call unless they already have
        it: keep ``A`` in the training dtype). Duplicate entries add up,
        indices need not be sorted. Every stored value must be finite in ``X``'s
        dtype (:class:`~minigraphrec.errors.DataError` naming the first that is
        not, an O(nnz) check); negative values are taken.
    X : ndarray, shape (n_cols, d), float32 or float64
        Copied once if not C-contiguous. Not scanned for NaN or inf (that
        would cost as much as a product): they propagate as IEEE arithmetic
        says, so a NaN in row ``j`` reaches every row with a stored
        ``A[i, j]``, even a stored zero.
    backend : {"numba", "numpy"}
        ``"numpy"`` is the reference ``A @ X`` (SciPy's serial C++ loop)
        on ``A`` with its values cast to ``X``'s dtype entry by entry (not
        ``A.astype``, which would merge duplicates and sort the indices
        first); ``"numba"`` runs rows in parallel on
        ``numba.get_num_threads()`` threads (``numba.set_num_threads`` or the
        environment variable ``NUMBA_NUM_THREADS`` set it).
    out : ndarray, shape (n_rows, d), optional
        Written in place and returned: same dtype as ``X``, C-contiguous,
        writeable and not overlapping ``X`` (``A @ X`` read from rows it has
        already overwritten would be wrong).

    Returns
    -------
    out : ndarray, shape (n_rows, d), dtype of ``X``
        Rows of ``A`` with no stored entry give zero rows.

    Notes
    -----
    Both backends sum each row's products in storage order in ``X``'s dtype
    (float32 inputs accumulate in float32, as SciPy does), also when ``A``
    has duplicates or unsorted indices and another dtype, and the numba
    kernel computes every row on one thread: the result is identical from
    run to run and for any thread count. On x86-64 the backends agree bit
    for bit; elsewhere to rounding (a compiler may fuse ``y + a x`` into one
    FMA).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> A = sp.csr_matrix(np.array([[0., 2.], [1., 0.], [0., 0.]]))
    >>> spmm(A, np.array([[1., 10.], [3., 30.]]))
    array([[ 6., 60.],
           [ 1., 10.],
           [ 0.,  0.]])
    """
    check_backend(backend)
    A = as_csr(A)
    X = _check_2d(X, "X")
    n_rows, n_cols = A.shape
    if X.shape[0] != n_cols:
        raise DataError(f"A has shape {A.shape} and X has shape {X.shape}: "
                        f"X needs A.shape[1] = {n_cols} rows")
    check_finite_sparse(check_real_sparse(A, "A"), "A", X.dtype)
    if out is not None:
        check_out(out, "out", (n_rows, X.shape[1]), X.dtype)
        if np.may_share_memory(out, X):
            raise DataError("out overlaps X; A @ X cannot be computed in place")
    return spmm_core(A, X, backend, out)


def spmm_core(A, X, backend, out=None):
    """Unchecked core of :func:`spmm`: ``A @ X`` (n_rows, d) in ``X``'s dtype, for callers
    that checked ``A`` (:func:`as_csr`, real and finite values) and ``X`` (float32 or
    float64, 2-d, ``A.shape[1]`` rows) themselves: the propagation ops, which check their
    operators once per forward pass and multiply by them ``K`` times and in the backward
    pass. ``out``: as in :func:`spmm`."""
    if backend == "numpy":
        result = np.asarray(_cast_data(A, X.dtype) @ X)   # (n_rows, d)
        if out is None:
            return np.ascontiguousarray(result)
        out[...] = result
        return out

    from numba import get_num_threads
    from ..kernels.spmm import spmm_csr
    from ..threadpools import serial_if
    X = np.ascontiguousarray(X)
    data = A.data.astype(X.dtype, copy=False)            # (nnz,) in X's dtype
    if out is None:
        out = np.empty((A.shape[0], X.shape[1]), dtype=X.dtype)
    with serial_if(A.nnz * X.shape[1] < SERIAL_BELOW):   # a few columns: GF-CF's one user
        return spmm_csr(A.indptr, A.indices, data, X, out, 4 * get_num_threads())


def spgemm_dense(A, B, rows=None, backend="numba", out=None):
    r"""Sparse times sparse with a dense result: ``(A[rows] @ B).toarray()``, in float64.

    For products that are nearly dense anyway (ContentBased's profile cosines): the
    kernel (:func:`minigraphrec.kernels.spgemm.csr_rows_times_csr`) accumulates each
    output row in place, in SciPy's order, so the result is the reference's to the bit
    without the intermediate sparse matrix.

    Parameters
    ----------
    A : scipy sparse (n, f)
        Converted to CSR and float64 when it is not (a copy per call: pass it so);
        complex values are rejected (:class:`~minigraphrec.DataError`).
    B : scipy sparse (f, m)
        As ``A``.
    rows : int array, optional
        Rows of ``A`` to multiply (default: all), each in ``0 .. n-1``.
    backend : {"numba", "numpy"}
        ``"numpy"`` is the reference ``(A[rows] @ B).toarray()``.
    out : ndarray, optional
        Where to write the result: float64, C-contiguous, (len(rows), m); the same values.

    Returns
    -------
    ndarray, float64 (len(rows), m)
        ``out`` when given.
    """
    check_backend(backend)
    A = check_real_sparse(as_csr(A, "A"), "A")
    B = check_real_sparse(as_csr(B, "B"), "B")
    if A.shape[1] != B.shape[0]:
        raise DataError(f"A is {A.shape} and B is {B.shape}: A's columns must match B's rows")
    if rows is None:
        rows = np.arange(A.shape[0], dtype=np.int64)
    rows = np.asarray(rows)
    if rows.ndim != 1 or (rows.size and not np.issubdtype(rows.dtype, np.integer)):
        raise DataError(f"rows must be a 1-d integer array, got shape {rows.shape}, "
                        f"dtype {rows.dtype}")
    rows = rows.astype(np.int64, copy=False)
    bad = (rows < 0) | (rows >= A.shape[0])
    if bad.any():
        q = int(np.flatnonzero(bad)[0])
        raise DataError(f"rows[{q}] = {int(rows[q])} is outside A's rows 0..{A.shape[0] - 1}")
    A = _cast_data(A, np.float64)                   # entries as stored, for both backends
    B = _cast_data(B, np.float64)
    shape = (rows.shape[0], B.shape[1])
    if out is not None:
        check_out(out, "out", shape, np.float64)
    if backend == "numpy":
        product = (A[rows] @ B).tocsr()
        if out is None:
            return np.asarray(product.toarray(), dtype=np.float64)
        return product.toarray(out=out)
    from ..kernels.spgemm import csr_rows_times_csr
    from ..threadpools import serial_if
    out = np.empty(shape) if out is None else out                        # (r, m)
    with serial_if(out.size < SERIAL_BELOW):             # a few rows: one session's scores
        return csr_rows_times_csr(A.indptr, A.indices, A.data, rows, B.indptr, B.indices,
                                  B.data, out)
