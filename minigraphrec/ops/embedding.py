r"""Embedding lookup: gather rows of a table, scatter-add their gradients back.

``rows = E[idx]`` is the product ``S E`` with the selection matrix
``S ∈ {0,1}^{B × n}``, ``S[b, idx[b]] = 1``; its backward pass is
``dE = Sᵀ drows``: row ``r`` of ``dE`` is the sum of every ``drows[b]`` with
``idx[b] = r`` (an id drawn twice in a batch gets both contributions),
and rows no id points at are zero.

The readable reference is ``dE = np.zeros_like(E); np.add.at(dE, idx, drows)``.
We compute the same ``Sᵀ drows`` as a SciPy sparse product, which adds the
contributions to each row in the same order (b ascending) and so gives the
same bits, about ten times faster than ``np.add.at`` on a Gowalla-sized table.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import DataError, check_float_array, check_ids

__all__ = ["gather_forward", "gather_backward", "gather_backward_rows"]


def gather_forward(E, idx):
    r"""Rows of a table: ``rows[b] = E[idx[b]]``.

    Parameters
    ----------
    E : ndarray (n, ...) -- usually (n, d); a (n,) bias vector also works.
    idx : int array (B,), each in ``0..n-1``; repeats allowed. Negative ids
        are rejected rather than wrapped around.

    Returns
    -------
    rows : ndarray (B, ...), a copy, dtype of E
    cache : ``(idx, E.shape)`` for the backward functions.
    """
    E = np.asarray(E)
    if E.ndim < 1:
        raise DataError("E must have at least one axis (rows), got a scalar")
    idx = check_ids(idx, "idx", E.shape[0])
    return E[idx], (idx, E.shape)                        # (B, ...)


def _selection_T(idx, n_rows, dtype):
    """Sᵀ as CSC (n_rows, B): column b holds a single 1 at row idx[b]."""
    B = idx.shape[0]
    S = sp.csr_array((np.ones(B, dtype=dtype), idx, np.arange(B + 1)), shape=(B, n_rows))
    return S.T                                            # CSC view, no copy


def _row_size(drows):
    """Entries per row (``d``), also for an empty batch."""
    return int(np.prod(drows.shape[1:], dtype=np.int64))


def _check_drows(cache, drows):
    """``drows`` of the gathered rows' shape ``(B,) + E.shape[1:]``, float32/float64."""
    idx, shape = cache
    want = idx.shape + tuple(shape[1:])
    drows = check_float_array(drows, "drows")
    if drows.shape != want:                   # nothing broadcast, no width of its own
        raise DataError(f"drows must have {idx.shape[0]} rows (one per id) and E's row shape "
                        f"{tuple(shape[1:])}: the shape of E[idx], {want}; got {drows.shape}")
    return drows


def gather_backward(cache, drows):
    r"""Scatter-add: ``dE[r] = Σ_{b : idx[b] = r} drows[b]``.

    Parameters
    ----------
    cache : from :func:`gather_forward`.
    drows : ndarray (B, ...), gradient of the gathered rows, exactly their shape
        ``(B,) + E.shape[1:]``.

    Returns
    -------
    dE : ndarray (n, ...), dtype of drows; zero rows for ids not in ``idx``.
        Bit-for-bit equal to ``np.add.at(zeros, idx, drows)``.
    """
    idx, n_rows = cache[0], cache[1][0]
    drows = _check_drows(cache, drows)                          # (B, ...)
    flat = drows.reshape(idx.shape[0], _row_size(drows))         # (B, d)
    dE = _selection_T(idx, n_rows, drows.dtype) @ flat          # (n, d)
    return np.asarray(dE).reshape((n_rows,) + drows.shape[1:])  # (n, ...)


def gather_backward_rows(cache, drows):
    r"""Scatter-add onto the touched rows only.

    Returns ``(rows, drows_summed)``: ``rows`` (U,) int64 the distinct ids
    in ascending order, and ``drows_summed`` (U, ...) with
    ``drows_summed[k] = Σ_{b : idx[b] = rows[k]} drows[b]``, so that
    ``gather_backward(cache, drows)[rows] == drows_summed`` exactly and every
    other row of the full gradient is zero. Costs O(B d) instead of O(n d):
    the form for sparse-row updates of large tables.
    """
    idx = cache[0]
    drows = _check_drows(cache, drows)                          # (B, ...)
    rows, inverse = np.unique(idx, return_inverse=True)         # (U,), (B,)
    flat = drows.reshape(idx.shape[0], _row_size(drows))         # (B, d)
    summed = _selection_T(inverse.reshape(-1), rows.shape[0], drows.dtype) @ flat   # (U, d)
    return rows, np.asarray(summed).reshape(rows.shape + drows.shape[1:])
