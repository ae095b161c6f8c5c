r"""Graph propagation: multiply node features by the normalised adjacency.

``propagate`` is one hop, ``Y = Â X``; ``lightgcn`` is LightGCN's whole
encoder, the mean of ``K + 1`` hops, ``E = 1/(K+1) Σ_{k=0..K} Â^k E0``.
Both are linear in their dense argument, so their backward passes are the
same sums with ``Âᵀ``.

The transpose. The backward pass needs ``Âᵀ dY``. Pass ``A_hat_T`` (a CSR
copy of ``Âᵀ`` made once, e.g. ``A_hat.T.tocsr()``) to the forward function
to have the backward pass use it; LightGCN's and GCN's symmetric
normalisation ``D^{-1/2} A D^{-1/2}`` of an undirected graph is symmetric, so
there pass ``A_hat_T=A_hat`` and no transpose is ever built. Without
``A_hat_T`` the backward pass uses ``A_hat.T`` (``backend="numpy"``: SciPy's
CSC view, no copy) or builds ``A_hat.T.tocsr()`` on each call
(``backend="numba"``, whose kernel reads CSR).

Backends. ``"numpy"`` is the one-line reference ``A_hat @ X`` (SciPy).
``"numba"`` (the default) runs the kernel of :func:`minigraphrec.ops.spmm`
(parallel, deterministic). For the full-graph ops (``propagate_*``,
``lightgcn_*``) both sum each output row in storage order, so they give the
same bits. The row ops' numba kernels (``propagate_rows_*``) sum four stored
entries at a time: deterministic for any thread count, equal to SciPy's row
slices to rounding only.

Inputs, the one rule of every public op here and in
:mod:`~minigraphrec.ops.lightgcn_rows`. ``A_hat`` (and ``A_hat_T``, checked
in the forward call that takes it) is checked on every forward call, on both
backends: a scipy sparse matrix, converted to CSR (a copy unless it is CSR)
and its arrays checked by :func:`~minigraphrec.ops.as_csr`; the full-graph
ops also take a dense ndarray (multiplied by NumPy on both backends), the row
ops, which read CSR rows, refuse it (``TypeError``). Its values must be real
and finite (a :class:`~minigraphrec.errors.DataError` names the first NaN or
inf, an O(nnz) check); negative ones are taken. They are cast to the dense
argument's dtype, entry by entry (a copy per call unless they have it: build
``A_hat`` in the training dtype), and the output has that dtype. A backward
pass takes its gradient in that dtype only (a ``DataError`` otherwise, as
every backward pass of :mod:`minigraphrec.ops`). The models call the
unchecked cores (``rows_product`` and friends, ``lightgcn_rows_core``) on a
graph they checked once.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import (DataError, check_backend, check_float_array, check_finite_sparse,
                      check_grad_shape, check_ids, check_int, check_out, check_real_sparse)
from ._row_work import PARALLEL_FROM, push_bounds, row_blocks, rows_nnz
from .sparse import _cast_data, as_csr, spmm_core

__all__ = ["propagate_forward", "propagate_backward", "lightgcn_forward", "lightgcn_backward",
           "propagate_rows_forward", "propagate_rows_backward"]


def _check_matrix(A, name, dense=True):
    """``A`` as a checked CSR matrix (:func:`as_csr`), or the dense 2-d ndarray itself when
    ``dense``; ``TypeError`` for another kind, :class:`DataError` for a complex dtype."""
    if sp.issparse(A):
        A = as_csr(A, name)
    elif not (dense and isinstance(A, np.ndarray)):
        kinds = "a scipy sparse matrix or an ndarray" if dense else "a scipy sparse matrix"
        raise TypeError(f"{name} must be {kinds}, got {type(A).__name__}")
    elif A.ndim != 2:
        raise DataError(f"{name} must be 2-d, got shape {A.shape}")
    return check_real_sparse(A, name)


def _check_operator(A_hat, X, name_A="A_hat", name_X="X", dense=True):
    """``(A_hat, X)`` checked as the module docstring says: ``A_hat`` as CSR (or dense),
    real, finite in ``X``'s dtype, with ``X.shape[0]`` columns; ``X`` a 2-d float array."""
    A_hat = _check_matrix(A_hat, name_A, dense)
    X = check_float_array(X, name_X)
    if X.ndim != 2:
        raise DataError(f"{name_X} must be 2-d (n_nodes, d), got shape {X.shape}")
    if A_hat.shape[1] != X.shape[0]:
        raise DataError(f"{name_A} has shape {A_hat.shape} but {name_X} has {X.shape[0]} rows; "
                        f"need {name_X}.shape[0] == {A_hat.shape[1]}")
    check_finite_sparse(A_hat, name_A, X.dtype)
    return A_hat, X


def _check_transpose(A_hat, A_hat_T, given, dtype):
    """``A_hat_T`` checked as ``A_hat`` is (``A_hat`` itself when the caller passed the
    matrix it passed as ``A_hat``: a symmetric ``Â``, checked once), of ``A_hat``'s shape
    transposed; None stays None. ``given``: the ``A_hat`` argument before its checks."""
    if A_hat_T is None:
        return None
    if A_hat_T is given:
        A_T = A_hat
    else:
        A_T = _check_matrix(A_hat_T, "A_hat_T")
    if A_T.shape != A_hat.shape[::-1]:
        raise DataError(f"A_hat_T must have shape {A_hat.shape[::-1]} (the transpose of A_hat "
                        f"{A_hat.shape}), got {A_T.shape}")
    if A_T is not A_hat:
        check_finite_sparse(A_T, "A_hat_T", dtype)
    return A_T


def _spmm(A, X, backend):
    """``A @ X`` as a dense ndarray in ``X``'s dtype, by SciPy or by the numba kernel
    (``A`` checked: CSR, or any format on the NumPy backend, or dense)."""
    if backend == "numba" and sp.issparse(A):
        return spmm_core(A, X, "numba")
    return np.asarray(_cast_data(A, X.dtype) @ X)


def _transpose(A_hat, A_hat_T, backend):
    """The operator of the backward pass: ``A_hat_T`` if given, else ``A_hat``'s transpose."""
    if A_hat_T is not None:
        return A_hat_T
    if backend == "numba" and sp.issparse(A_hat):
        return A_hat.T.tocsr()
    return A_hat.T


# ---------------------------------------------------------------- one hop
def propagate_forward(A_hat, X, backend="numba", A_hat_T=None):
    r"""One propagation step ``Y = Â X``.

    Parameters
    ----------
    A_hat : scipy sparse (n_out, n_in), usually CSR; a dense ndarray also
        works (multiplied by NumPy whatever the backend). Real, finite values
        (negative ones taken), cast to ``X``'s dtype: see the module docstring.
    X : ndarray (n_in, d)
    backend : ``"numba"`` (default) or ``"numpy"`` (the SciPy reference).
    A_hat_T : sparse (n_in, n_out) or None
        ``Âᵀ`` for the backward pass, checked here as ``A_hat`` is; ``A_hat``
        itself when ``Â`` is symmetric. See the module docstring.

    Returns
    -------
    Y : ndarray (n_out, d), dtype of ``X``
    cache : ``(A_hat, A_hat_T, backend, Y.shape, Y.dtype)``; ``X`` is not kept (the map is
        linear).
    """
    check_backend(backend)
    given = A_hat
    A_hat, X = _check_operator(A_hat, X)
    A_hat_T = _check_transpose(A_hat, A_hat_T, given, X.dtype)
    Y = _spmm(A_hat, X, backend)                          # (n_out, d)
    return Y, (A_hat, A_hat_T, backend, Y.shape, Y.dtype)


def propagate_backward(cache, dY):
    r"""``dX = Âᵀ dY``.   dY: (n_out, d), the shape and dtype of ``Y`` -> dX: (n_in, d)."""
    A_hat, A_hat_T, backend, shape, dtype = cache
    dY = check_grad_shape(dY, "dY", shape, dtype=dtype, op="propagate_backward")
    A_T = _transpose(A_hat, A_hat_T, backend)
    return _spmm(A_T, dY, backend)                        # (n_in, d)


# ------------------------------------------------------------- LightGCN
def lightgcn_forward(A_hat, E0, K, backend="numba", A_hat_T=None):
    r"""LightGCN's encoder: the mean of K + 1 propagation depths.

    ``E = 1/(K+1) Σ_{k=0..K} Â^k E0``, computed as ``E^{(0)} = E0``,
    ``E^{(k)} = Â E^{(k-1)}``, ``E = (E^{(0)} + … + E^{(K)}) / (K+1)``
    (summed in that order, then divided). ``K = 0`` gives ``E = E0`` (a copy).

    Parameters
    ----------
    A_hat : sparse (n, n), the normalised adjacency over users then items
        (or a dense ndarray; checked and cast as in :func:`propagate_forward`)
    E0 : ndarray (n, d), layer-0 embeddings
    K : int >= 0, number of layers
    backend, A_hat_T : as in :func:`propagate_forward`.

    Returns
    -------
    E : ndarray (n, d), dtype of ``E0``
    cache : ``(A_hat, A_hat_T, K, backend, E.shape, E.dtype)``.
    """
    check_backend(backend)
    K = check_int(K, "K (the number of layers)", at_least=0)
    given = A_hat
    A_hat, E0 = _check_operator(A_hat, E0, "A_hat", "E0")
    if A_hat.shape[0] != A_hat.shape[1]:
        raise DataError(f"A_hat must be square (n, n), got shape {A_hat.shape}")
    A_hat_T = _check_transpose(A_hat, A_hat_T, given, E0.dtype)
    E = E0.copy()                                         # (n, d) running sum
    H = E0
    for _ in range(K):
        H = _spmm(A_hat, H, backend)                      # (n, d)  E^{(k)}
        E += H
    E /= K + 1
    return E, (A_hat, A_hat_T, int(K), backend, E.shape, E.dtype)


def lightgcn_backward(cache, dE):
    r"""``dE0 = 1/(K+1) Σ_{k=0..K} (Âᵀ)^k dE``.   dE: (n, d), ``E``'s dtype -> dE0: (n, d).

    Computed as ``G^{(0)} = dE / (K+1)``, ``G^{(k)} = Âᵀ G^{(k-1)}``,
    ``dE0 = G^{(0)} + … + G^{(K)}``.
    """
    A_hat, A_hat_T, K, backend, shape, dtype = cache
    dE = check_grad_shape(dE, "dE", shape, dtype=dtype, op="lightgcn_backward")
    A_T = _transpose(A_hat, A_hat_T, backend)
    G = dE / (K + 1)                                      # (n, d) gradient of every depth
    dE0 = G.copy()
    for _ in range(K):
        G = _spmm(A_T, G, backend)                        # (n, d)
        dE0 += G
    return dE0


# ------------------------------------------------------- some rows of one hop
def propagate_rows_forward(A_hat, X, rows, backend="numba"):
    r"""Some rows of one propagation step: ``Y = Â[rows, :] X``, compact.

    The graph models restrict a layer to the rows a batch needs (its
    ``h``-hop ball, see :func:`minigraphrec.ops.hop_levels`);
    row ``q`` of ``Y`` belongs to node ``rows[q]``.

    Parameters
    ----------
    A_hat : scipy sparse (n_out, n_in), usually CSR (a dense ndarray is refused,
        ``TypeError``); real, finite values, cast to ``X``'s dtype (module docstring)
    X : ndarray (n_in, d), float32 or float64; read only on the neighbours of ``rows``
    rows : int array (m,), each in ``0 .. n_out-1`` (repeats allowed)
    backend : ``"numba"`` (default) or ``"numpy"`` (SciPy: ``A_hat[rows] @ X``).
        The numba kernel
        (:func:`~minigraphrec.kernels.propagate_rows.pull_compact_rows`) computes
        the rows in parallel, each summed by one thread four stored entries at a
        time: deterministic for any thread count, equal to SciPy's to rounding
        (not bit for bit).

    Returns
    -------
    Y : ndarray (m, d), dtype of ``X``
    cache : ``(A_hat, rows, n_in, backend, d)``, ``A_hat`` in ``Y``'s dtype; ``X`` is not
        kept (the map is linear).
    """
    check_backend(backend)
    A_hat, X = _check_operator(A_hat, X, dense=False)
    rows = check_ids(rows, "rows", A_hat.shape[0])
    A_x = _cast_data(A_hat, X.dtype)
    return (rows_product(A_x, np.ascontiguousarray(X), rows, backend),
            (A_x, rows, X.shape[0], backend, X.shape[1]))


def rows_product(A_hat, X, rows, backend, out=None):
    """Unchecked core of :func:`propagate_rows_forward`: ``A_hat[rows] @ X`` (m, d).

    For the models, which validated their graph once: nothing here is checked.

    Parameters
    ----------
    A_hat : scipy CSR (n_out, n_in), values in ``X``'s dtype
    X : ndarray (n_in, d), C-contiguous, float32 or float64
    rows : int64 array (m,), each in ``0 .. n_out-1`` (repeats allowed)
    backend : ``"numba"`` or ``"numpy"``, as in :func:`propagate_rows_forward`
    out : ndarray (m, d), optional
        C-contiguous, of ``X``'s dtype; overwritten and returned.

    Returns
    -------
    Y : ndarray (m, d), dtype of ``X``
        Row ``q`` is ``Â[rows[q]] X``; ``out`` when given.
    """
    if backend == "numpy":
        Y = np.asarray(A_hat[rows] @ X)                               # (m, d)
        if out is None:
            return Y
        out[...] = Y
        return out
    from numba import parallel_chunksize
    from ..kernels import propagate_rows as k
    if out is None:
        out = np.empty((rows.shape[0], X.shape[1]), dtype=X.dtype)   # (m, d)
    indptr, indices, data = A_hat.indptr, A_hat.indices, A_hat.data
    if rows_nnz(indptr, rows) < PARALLEL_FROM:
        k.pull_compact_block(indptr, indices, data, X, rows, 0, rows.shape[0], out)
        return out
    bounds = row_blocks(indptr, rows)
    with parallel_chunksize(1):
        k.pull_compact_rows(indptr, indices, data, X, rows, bounds, out)
    return out


def propagate_rows_backward(cache, dY, out=None):
    r"""``dX = Â[rows, :]ᵀ dY``: each row's gradient sent back to its neighbours.

    ``dY`` (m, d) -> ``dX`` (n_in, d), zero off the neighbours of ``rows``.
    ``backend="numba"`` scatters (pushes) the rows' stored entries with
    :func:`~minigraphrec.kernels.propagate_rows.push_rows` (no transpose of
    ``Â`` is built; destinations split into ranges, one per thread, each
    receiving its terms in the order of ``rows``: deterministic).

    ``dY`` must have ``Y``'s dtype (:class:`~minigraphrec.errors.DataError` otherwise).
    ``out`` : optional C-contiguous, writeable (n_in, d) array of the forward's dtype,
    overwritten and returned.
    """
    A_hat, rows, n_in, backend, d = cache
    dY = check_grad_shape(dY, "dY", (rows.shape[0], d), dtype=A_hat.dtype,
                          op="propagate_rows_backward")
    shape = (n_in, dY.shape[1])
    if out is None:
        out = np.empty(shape, dtype=dY.dtype)
    else:
        check_out(out, "out", shape, dY.dtype)
    return rows_product_T(A_hat, rows, np.ascontiguousarray(dY), backend, out)


def rows_product_T(A_hat, rows, dY, backend, out):
    """Unchecked core of :func:`propagate_rows_backward`: ``out = A_hat[rows].T @ dY`` (n_in, d).

    For the models, which validated their graph once: nothing here is checked. The numba
    backend pushes (scatters) the rows' stored entries, as :func:`propagate_rows_backward`
    says; no transpose of ``A_hat`` is read or built.

    Parameters
    ----------
    A_hat : scipy CSR (n_out, n_in), values in ``dY``'s dtype
    rows : int64 array (m,), each in ``0 .. n_out-1`` (repeats allowed: their terms add)
    dY : ndarray (m, d), C-contiguous, float32 or float64
    backend : ``"numba"`` or ``"numpy"``
    out : ndarray (n_in, d)
        C-contiguous, of ``dY``'s dtype; overwritten (zero off the neighbours of ``rows``).

    Returns
    -------
    out : ndarray (n_in, d)
    """
    if backend == "numpy":
        out[...] = A_hat[rows].T @ dY                                 # (n_in, d)
        return out
    from ..kernels.propagate_rows import push_rows
    out.fill(0)
    bounds = push_bounds(A_hat, rows, out.shape[0])      # destination ranges, one per thread
    push_rows(A_hat.indptr, A_hat.indices, A_hat.data, dY, rows, bounds, out)
    return out


def rows_product_T_pull(A_hat_T, rows, dY, targets, backend):
    r"""``(Â[rows]ᵀ dY)[targets]`` (len(targets), d), by pulling through ``Âᵀ``'s rows.

    The pull form of :func:`rows_product_T` for a large ``rows``: each
    target row ``c`` sums ``Âᵀ[c, r] dY[r]`` over its stored entries whose
    ``r`` is in ``rows`` (the others are skipped, never read), with the
    numba kernel :func:`~minigraphrec.kernels.propagate_rows.pull_indirect_rows`
    (deterministic, parallel over targets, no scatter). ``targets`` must
    hold every node the result is needed on (rows not in ``targets`` are
    not computed). Unchecked (models only).

    Parameters
    ----------
    A_hat_T : scipy CSR (n, n), ``Âᵀ`` (``Â`` itself when symmetric), in ``dY``'s dtype
    rows : int64 array (m,), distinct, each in ``0 .. n-1``: the nodes ``dY`` is given on
    dY : ndarray (m, d), C-contiguous, float32 or float64; row ``q`` belongs to ``rows[q]``
    targets : int64 array (t,), each in ``0 .. n-1``
    backend : ``"numba"`` or ``"numpy"``

    Returns
    -------
    ndarray (t, d), dtype of ``dY``
        Row ``j`` is ``Σ_q Â[rows[q], targets[j]] dY[q]``.
    """
    n = A_hat_T.shape[0]
    if backend == "numpy":
        Y = np.zeros((n, dY.shape[1]), dtype=dY.dtype)
        Y[rows] = dY
        return np.asarray(A_hat_T[targets] @ Y)
    from numba import parallel_chunksize
    from ..kernels import propagate_rows as k
    pos = np.full(n, -1, dtype=np.int64)                 # (n,) node -> row of dY, -1 elsewhere
    pos[rows] = np.arange(rows.shape[0])
    out = np.empty((targets.shape[0], dY.shape[1]), dtype=dY.dtype)
    indptr, indices, data = A_hat_T.indptr, A_hat_T.indices, A_hat_T.data
    if rows_nnz(indptr, targets) < PARALLEL_FROM:
        k.pull_indirect_block(indptr, indices, data, dY, pos, targets, 0, targets.shape[0], out)
        return out
    bounds = row_blocks(indptr, targets)
    with parallel_chunksize(1):
        k.pull_indirect_rows(indptr, indices, data, dY, pos, targets, bounds, out)
    return out


def rows_product_T_on(A_hat, A_hat_T, rows, dY, targets, backend, work=None, out=None):
    r"""``(Â[rows]ᵀ dY)[targets]`` (len(targets), d): a push or a pull, whichever reads less.

    Pushing (:func:`rows_product_T`) reads the stored entries of ``rows``
    once per thread; pulling (:func:`rows_product_T_pull`) reads those of
    ``targets`` once. Push when ``rows`` holds at most a quarter of the
    entries ``targets`` do; else pull, skipping the nodes outside ``rows``
    or, when ``rows`` holds at least half of the nodes, reading ``dY``
    scattered into a zeroed (n, d) array (a plain product, faster than
    skipping). Fixed rules: the result must not depend on the thread count.
    Unchecked (models only).

    Parameters
    ----------
    A_hat : scipy CSR (n, n), in ``dY``'s dtype
    A_hat_T : scipy CSR (n, n), ``Âᵀ`` (``A_hat`` itself when symmetric)
    rows : int64 array (m,), distinct, each in ``0 .. n-1``: the nodes ``dY`` is given on
    dY : ndarray (m, d), C-contiguous, float32 or float64
    targets : int64 array (t,), ascending, each in ``0 .. n-1``
    backend : ``"numba"`` or ``"numpy"``
    work : ndarray (n, d), optional
        C-contiguous scratch of ``dY``'s dtype for the full-size intermediates
        (overwritten, never returned; saves allocating them on every call).
    out : ndarray (t, d), optional
        C-contiguous, of ``dY``'s dtype: written and returned when the result is a
        plain product over ``targets`` (a pull with ``rows`` holding at least half of
        the nodes), else left alone.

    Returns
    -------
    ndarray (t, d), dtype of ``dY``
        ``(Â[rows]ᵀ dY)[targets]``: ``out`` in the plain-product cases when given, else a
        new array.
    """
    n = A_hat.shape[1]
    whole = targets.shape[0] == n
    # the choice must not depend on the thread count (the two sum in different orders):
    # pushing reads the rows' entries about once per thread, so push only a clearly
    # smaller set (the batch's own rows)
    if rows_nnz(A_hat.indptr, rows) * 4 <= rows_nnz(A_hat_T.indptr, targets):
        full = np.empty((n, dY.shape[1]), dY.dtype) if whole or work is None else work
        full = rows_product_T(A_hat, rows, dY, backend, full)
        return full if whole else full[targets]
    if rows.shape[0] == A_hat.shape[0]:                  # dY on every node: a plain product
        return rows_product(A_hat_T, dY, targets, backend, out=out)
    if 2 * rows.shape[0] >= A_hat.shape[0]:              # most nodes: zero the rest, plain
        shape = (A_hat.shape[0], dY.shape[1])
        if backend == "numba":                           # in one parallel pass
            from numba import get_num_threads
            from ..kernels.propagate_rows import spread_rows
            Y = np.empty(shape, dtype=dY.dtype) if work is None else work
            spread_rows(Y, rows, dY, 4 * get_num_threads())
        else:
            Y = np.zeros(shape, dtype=dY.dtype)
            Y[rows] = dY
        return rows_product(A_hat_T, Y, targets, backend, out=out)
    return rows_product_T_pull(A_hat_T, rows, dY, targets, backend)
