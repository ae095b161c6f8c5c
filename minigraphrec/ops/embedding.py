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
:func:`scatter_add` is that sum for any index array, checked, and the one every op and
model uses (SR-GNN's gradients from positions to nodes and from nodes to items too).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import DataError, check_float_array, check_ids, check_int, check_out

__all__ = ["gather_forward", "gather_backward", "gather_backward_rows", "scatter_add",
           "segment_ids"]


def segment_ids(counts):
    r"""The segment of every entry when segment ``b`` has ``counts[b]`` of them, in order:
    ``[0, 0, 1, 2, 2, 2]`` for ``counts = [2, 1, 3]``.

    ``np.repeat(np.arange(len(counts)), counts)``: the row of each stored entry of a CSR
    matrix (``counts = np.diff(indptr)``), the session of each event or node of a packed
    batch. The inverse of the pointer ``indptr = [0, cumsum(counts)]``.

    counts : int (B,), each >= 0 -> int64 (sum(counts),)
    """
    counts = np.asarray(counts)
    return np.repeat(np.arange(counts.shape[0], dtype=np.int64), counts)


def _row_sums(index, flat):
    r"""``(rows, sums)``: the distinct ids of ``index`` (n,) in ascending order and
    ``sums[k] = Σ_{i : index[i] = rows[k]} flat[i]`` for ``flat`` (n, d), each sum taken in
    the order of ``i`` from zero, as :func:`gather_backward` does (the same bits).
    ``index`` is trusted (checked by the caller)."""
    order = np.argsort(index, kind="stable")                     # (n,) rows of flat by id
    target = index[order]                                        # (n,) sorted
    starts = (np.flatnonzero(np.r_[True, target[1:] != target[:-1]]) if target.size
              else target)                                       # (u,) first of each id
    rows = target[starts]                                        # (u,) the named ids, sorted
    indptr = np.append(starts, index.shape[0])                   # (u + 1,)
    Ct = sp.csr_matrix((np.ones(index.shape[0], dtype=flat.dtype), order, indptr),
                       shape=(rows.shape[0], index.shape[0]))    # (u, n) one-hot, by id
    return rows, np.asarray(Ct @ flat)                           # (u,), (u, d)


def scatter_add(index, n_rows, V, out=None):
    r"""``out[index[k]] += V[k]`` for every ``k``: the rows of ``V`` summed into ``n_rows``.

    The transpose of the gather ``V = X[index]``: ``Sᵀ V`` with ``S`` the one-hot
    ``(len(index), n_rows)`` selection (the module docstring). Each row's terms are summed
    in the order of ``k``, starting from zero, so the result equals
    ``np.add.at(np.zeros(...), index, V)`` bit for bit (tested). With ``out`` that sum is
    then added to ``out``'s row once, and the rows ``index`` does not name are not touched:
    no second ``(n_rows, d)`` array and pass (SR-GNN adds its input-side item gradient so
    to the output side's).

    Parameters
    ----------
    index : int (n,), each in ``0 .. n_rows-1``; repeats allowed. A negative, too large or
        non-integer id is a :class:`~minigraphrec.errors.DataError` naming it, never wrapped
        or truncated.
    n_rows : int >= 0
    V : float32 or float64 (n, ...), one row per id
    out : ndarray (n_rows, ...) of ``V``'s dtype, C-contiguous, optional; added to in place.

    Returns
    -------
    ``out``, or a new ``(n_rows, ...)`` array of ``V``'s dtype, zero where ``index`` is silent.
    """
    n_rows = check_int(n_rows, "n_rows", at_least=0)
    V = check_float_array(V, "V")
    if V.ndim < 1:
        raise DataError("V must have at least one axis (one row per id), got a scalar")
    index = check_ids(index, "index", n_rows)
    if index.shape[0] != V.shape[0]:
        raise DataError(f"V has {V.shape[0]} rows but index has {index.shape[0]} ids; "
                        f"one row per id")
    shape = (n_rows,) + V.shape[1:]
    flat = V.reshape(V.shape[0], _row_size(V))                    # (n, d)
    if out is None:
        return np.asarray(_selection_T(index, n_rows, V.dtype) @ flat).reshape(shape)
    check_out(out, "out", shape, V.dtype)
    rows, sums = _row_sums(index, flat)                           # (u,), (u, d)
    out.reshape(n_rows, flat.shape[1])[rows] += sums              # a view: out is C-contiguous
    return out


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
    return scatter_add(idx, n_rows, _check_drows(cache, drows))   # (n, ...)


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
    rows, summed = _row_sums(idx, drows.reshape(idx.shape[0], _row_size(drows)))   # (U, d)
    return rows, summed.reshape(rows.shape + drows.shape[1:])
