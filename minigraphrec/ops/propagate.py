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
``"numba"`` calls :func:`minigraphrec.ops.sparse.spmm` (a parallel,
deterministic CSR kernel); if that module is absent it falls back to SciPy.
Both sum each output row in storage order, so they give the same bits.

Dtype. ``Y`` has ``X``'s dtype: ``A_hat``'s values are cast to it (a copy
per call unless ``A_hat`` already has that dtype; build ``A_hat`` in the
training dtype).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import DataError, check_backend

__all__ = ["propagate_forward", "propagate_backward", "lightgcn_forward", "lightgcn_backward"]

def _check_operator(A_hat, X, name_A="A_hat", name_X="X"):
    if not (sp.issparse(A_hat) or isinstance(A_hat, np.ndarray)):
        raise TypeError(f"{name_A} must be a scipy sparse matrix or an ndarray, "
                        f"got {type(A_hat).__name__}")
    if A_hat.ndim != 2:
        raise DataError(f"{name_A} must be 2-d, got shape {A_hat.shape}")
    X = np.asarray(X)
    if X.ndim != 2:
        raise DataError(f"{name_X} must be 2-d (n_nodes, d), got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.floating):
        raise TypeError(f"{name_X} must have a floating dtype, got {X.dtype}")
    if A_hat.shape[1] != X.shape[0]:
        raise DataError(f"{name_A} has shape {A_hat.shape} but {name_X} has {X.shape[0]} rows; "
                        f"need {name_X}.shape[0] == {A_hat.shape[1]}")
    return X


def _check_transpose(A_hat, A_hat_T):
    if A_hat_T is None:
        return
    if not (sp.issparse(A_hat_T) or isinstance(A_hat_T, np.ndarray)):
        raise TypeError(f"A_hat_T must be a scipy sparse matrix, an ndarray or None, "
                        f"got {type(A_hat_T).__name__}")
    if A_hat_T.shape != A_hat.shape[::-1]:
        raise DataError(f"A_hat_T must have shape {A_hat.shape[::-1]} (the transpose of A_hat "
                        f"{A_hat.shape}), got {A_hat_T.shape}")


def _spmm(A, X, backend):
    """``A @ X`` as a dense ndarray in ``X``'s dtype, by SciPy or by the numba kernel."""
    if backend == "numba" and sp.issparse(A):
        try:
            from .sparse import spmm
        except ModuleNotFoundError as err:   # kernel module not present: the SciPy reference
            if err.name != f"{__package__}.sparse":
                raise
        else:
            return spmm(A, X, backend="numba")
    A_x = A if A.dtype == X.dtype else A.astype(X.dtype)
    return np.asarray(A_x @ X)


def _transpose(A_hat, A_hat_T, backend):
    """The operator of the backward pass: ``A_hat_T`` if given, else ``A_hat``'s transpose."""
    if A_hat_T is not None:
        return A_hat_T
    if backend == "numba" and sp.issparse(A_hat):
        return A_hat.T.tocsr()
    return A_hat.T


# ---------------------------------------------------------------- one hop
def propagate_forward(A_hat, X, backend="numpy", A_hat_T=None):
    r"""One propagation step ``Y = Â X``.

    Parameters
    ----------
    A_hat : scipy sparse (n_out, n_in), usually CSR; a dense ndarray also
        works (multiplied by NumPy whatever the backend).
    X : ndarray (n_in, d)
    backend : ``"numpy"`` (SciPy reference) or ``"numba"``.
    A_hat_T : sparse (n_in, n_out) or None
        ``Âᵀ`` for the backward pass; ``A_hat`` itself when ``Â`` is
        symmetric. See the module docstring.

    Returns
    -------
    Y : ndarray (n_out, d)
    cache : ``(A_hat, A_hat_T, backend)``; ``X`` is not kept (the map is linear).
    """
    check_backend(backend)
    X = _check_operator(A_hat, X)
    _check_transpose(A_hat, A_hat_T)
    Y = _spmm(A_hat, X, backend)                          # (n_out, d)
    return Y, (A_hat, A_hat_T, backend)


def propagate_backward(cache, dY):
    r"""``dX = Âᵀ dY``.   dY: (n_out, d) -> dX: (n_in, d)."""
    A_hat, A_hat_T, backend = cache
    A_T = _transpose(A_hat, A_hat_T, backend)
    dY = _check_operator(A_T, dY, "A_hatᵀ", "dY")
    return _spmm(A_T, dY, backend)                        # (n_in, d)


# ------------------------------------------------------------- LightGCN
def lightgcn_forward(A_hat, E0, K, backend="numpy", A_hat_T=None):
    r"""LightGCN's encoder: the mean of K + 1 propagation depths.

    ``E = 1/(K+1) Σ_{k=0..K} Â^k E0``, computed as ``E^{(0)} = E0``,
    ``E^{(k)} = Â E^{(k-1)}``, ``E = (E^{(0)} + … + E^{(K)}) / (K+1)``
    (summed in that order, then divided). ``K = 0`` gives ``E = E0`` (a copy).

    Parameters
    ----------
    A_hat : sparse (n, n), the normalised adjacency over users then items
    E0 : ndarray (n, d), layer-0 embeddings
    K : int >= 0, number of layers
    backend, A_hat_T : as in :func:`propagate_forward`.

    Returns
    -------
    E : ndarray (n, d)
    cache : ``(A_hat, A_hat_T, K, backend)``.
    """
    check_backend(backend)
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or K < 0:
        raise DataError(f"K must be a non-negative integer (number of layers), got {K!r}")
    E0 = _check_operator(A_hat, E0, "A_hat", "E0")
    if A_hat.shape[0] != A_hat.shape[1]:
        raise DataError(f"A_hat must be square (n, n), got shape {A_hat.shape}")
    _check_transpose(A_hat, A_hat_T)
    E = E0.copy()                                         # (n, d) running sum
    H = E0
    for _ in range(K):
        H = _spmm(A_hat, H, backend)                      # (n, d)  E^{(k)}
        E += H
    E /= K + 1
    return E, (A_hat, A_hat_T, int(K), backend)


def lightgcn_backward(cache, dE):
    r"""``dE0 = 1/(K+1) Σ_{k=0..K} (Âᵀ)^k dE``.   dE: (n, d) -> dE0: (n, d).

    Computed as ``G^{(0)} = dE / (K+1)``, ``G^{(k)} = Âᵀ G^{(k-1)}``,
    ``dE0 = G^{(0)} + … + G^{(K)}``.
    """
    A_hat, A_hat_T, K, backend = cache
    A_T = _transpose(A_hat, A_hat_T, backend)
    dE = _check_operator(A_T, dE, "A_hatᵀ", "dE")
    G = dE / (K + 1)                                      # (n, d) gradient of every depth
    dE0 = G.copy()
    for _ in range(K):
        G = _spmm(A_T, G, backend)                        # (n, d)
        dE0 += G
    return dE0
