r"""Dense layers: the affine map, elementwise activations and dropout.

Every op is a pure pair ``*_forward(...) -> (out, cache)`` and
``*_backward(cache, d_out) -> grads``; nothing is stored between calls, so a
model may run the same op many times in one step and keep each cache.
Outputs keep the input dtype (float32 in training, float64 in gradient
checks).

Conventions at kinks (where the derivative does not exist) are fixed and
documented: ReLU and LeakyReLU use the left derivative at exactly 0 (that is
0 for ReLU and ``slope`` for LeakyReLU), as PyTorch does.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import (DataError, check_backend, check_finite_number, check_float_array,
                      check_grad_shape, check_out, check_real_sparse)

__all__ = [
    "linear_forward", "linear_backward", "xt_dot", "halves_matmul", "halves_xt_dot",
    "identity_forward", "identity_backward",
    "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward",
    "sigmoid_forward", "sigmoid_backward",
    "tanh_forward", "tanh_backward",
    "dropout_forward", "dropout_backward",
    "ACTIVATIONS",
]


# ------------------------------------------------------------ gradients in
# ---------------------------------------------------------------- linear
def linear_forward(X, W, b=None, backend="numba"):
    r"""Affine map ``Z = X W + b``.

    Parameters
    ----------
    X : ndarray (n, d_in) or scipy sparse matrix/array (n, d_in)
        Inputs. A sparse ``X`` (e.g. a one-hot or bag-of-words feature
        matrix) is multiplied without densifying, its values cast to
        ``W``'s dtype (a copy per call unless they have it already).
    W : ndarray (d_in, d_out)
    b : ndarray (d_out,) or None
        Bias broadcast over rows; ``None`` for no bias.
    backend : ``"numba"`` (default) or ``"numpy"``. ``"numpy"``: plain NumPy products.
        ``"numba"``, for a dense ``X``: the backward pass's ``dW = Xᵀ dZ`` by ``xt_dot``,
        and, from ``HALVES_FROM`` rows on, every product in two row halves on two
        numba threads (``halves_matmul``, ``halves_xt_dot``; all three in ``ops/dense.py``).

    Returns
    -------
    Z : ndarray (n, d_out)
    cache : tuple for :func:`linear_backward`.
    """
    check_backend(backend)
    W = check_float_array(W, "W", ndim=2)
    if sp.issparse(X):
        if X.ndim != 2:
            raise DataError(f"X must be 2-d, got shape {X.shape}")
        check_real_sparse(X, "X")
        if X.dtype != W.dtype:
            X = X.astype(W.dtype)
    else:
        X = check_float_array(X, "X", ndim=2)
    if X.shape[1] != W.shape[0]:
        raise DataError(f"X has {X.shape[1]} columns but W has {W.shape[0]} rows; "
                        f"shapes X {X.shape}, W {W.shape}")
    if backend == "numba" and not sp.issparse(X) and X.dtype == W.dtype \
            and X.shape[0] >= HALVES_FROM:
        Z = halves_matmul(np.ascontiguousarray(X), W)                    # (n, d_out)
    else:
        Z = np.asarray(X @ W)                # (n, d_out)
    if b is not None:
        b = check_float_array(b, "b", ndim=1)
        if b.shape[0] != W.shape[1]:
            raise DataError(f"b must have shape ({W.shape[1]},) to match W {W.shape}, "
                            f"got {b.shape}")
        Z += b                               # (n, d_out), Z is a fresh array
    return Z, (X, W, b is not None, backend)


def linear_backward(cache, dZ):
    r"""Gradients of ``Z = X W + b``.

    ``dX = dZ Wᵀ`` (n, d_in), ``dW = Xᵀ dZ`` (d_in, d_out),
    ``db = Σ_rows dZ`` (d_out,); the products as :func:`linear_forward`'s ``backend`` says.

    Returns ``(dX, dW, db)``. ``db`` is ``None`` when the forward pass had no
    bias. ``dX`` is ``None`` when ``X`` was sparse: a sparse ``X`` is a
    constant feature matrix, and its gradient would be a dense (n, d_in)
    array nobody uses.
    """
    X, W, has_b, backend = cache
    dZ = check_grad_shape(dZ, "dZ", (X.shape[0], W.shape[1]),                  # (n, d_out)
                          dtype=np.result_type(X.dtype, W.dtype), op="linear_backward")
    numba_dense = backend == "numba" and not sp.issparse(X) and X.dtype == dZ.dtype
    if numba_dense and W.dtype == X.dtype and X.shape[0] >= HALVES_FROM:
        dZ = np.ascontiguousarray(dZ)                # tall: both products on two cores
        dX = halves_matmul(dZ, W.T)                  # (n, d_in)
        dW = halves_xt_dot(X, dZ)                    # (d_in, d_out)
    else:
        dX = None if sp.issparse(X) else dZ @ W.T    # (n, d_in)
        if numba_dense:
            dW = xt_dot(X, dZ, backend="numba")      # (d_in, d_out)
        else:
            dW = np.asarray(X.T @ dZ)                # (d_in, d_out)
    db = dZ.sum(axis=0) if has_b else None           # (d_out,)
    return dX, dW, db


#: rows per block of the numba ``Xᵀ D`` (the block count depends on the row count only)
_XT_DOT_ROWS_PER_BLOCK = 2048
_XT_DOT_MAX_BLOCKS = 64


def xt_dot(X, D, backend="numba"):
    r"""``Xᵀ D`` summed over the rows: the weight gradient ``dW = Xᵀ dZ`` of a linear layer.

    Parameters
    ----------
    X : ndarray (m, p), float32 or float64
    D : ndarray (m, q), dtype of ``X``
    backend : ``"numba"`` (default) or ``"numpy"`` (the reference ``X.T @ D``,
        BLAS); numba is (:func:`~minigraphrec.kernels.dense.xt_dot_blocks`: the rows cut
        into ``min(64, ceil(m / 2048))`` blocks, partial products in
        parallel, added in block order; the same bits for any thread count,
        equal to BLAS to rounding). The kernel exists because OpenBLAS
        threads this tall, thin product badly beside numba's threads.

    Returns
    -------
    ndarray (p, q), dtype of ``X``
    """
    check_backend(backend)
    X, D = check_float_array(X, "X", ndim=2), check_float_array(D, "D", ndim=2)
    if X.dtype != D.dtype:
        raise DataError(f"X and D must both be float32 or both float64, got {X.dtype} and "
                        f"{D.dtype}")
    if X.shape[0] != D.shape[0]:
        raise DataError(f"X and D must have the same number of rows, got {X.shape} and {D.shape}")
    if backend == "numpy":
        return np.asarray(X.T @ D)                                       # (p, q)
    from ..kernels.dense import xt_dot_blocks
    m = X.shape[0]
    n_blocks = max(1, min(_XT_DOT_MAX_BLOCKS, -(-m // _XT_DOT_ROWS_PER_BLOCK)))
    partial = np.empty((n_blocks, X.shape[1], D.shape[1]), dtype=X.dtype)
    xt_dot_blocks(np.ascontiguousarray(X), np.ascontiguousarray(D), n_blocks, partial)
    out = partial[0].copy()                                              # (p, q)
    for b in range(1, n_blocks):                                         # block order
        out += partial[b]
    return out


# ------------------------------------------------ products on two cores
#: products on fewer rows than this are one BLAS call
HALVES_FROM = 16384

#: and so are products of fewer multiply-adds (``m k q``) than this, whatever ``min_rows``:
#: waking numba's second thread costs tens of microseconds on idle cores, and about a time
#: slice (5-13 ms measured) when the cores are busy, against under a millisecond of work
#: on one core here. SR-GNN's output layer on 300 items (a batch of 100, d = 16: 480k)
#: spent 5.3 s of a 6.0 s epoch in its split products on a loaded 2-core AMD EPYC
#: (load average 5, 2026-12-07, ad hoc); a batch of 100 over 43k items, d = 100 (430M),
#: is still split.
HALVES_MIN_WORK = 1 << 24
_FLOATS = (np.float32, np.float64)


def _numba_dot(A, B, out):
    r"""``out[...] = A @ B`` by the BLAS call numba's ``np.dot(A, B, out)`` makes, in SciPy's
    BLAS, which is the one numba calls: the NumPy reference of the kernels that call
    ``np.dot`` (:func:`~minigraphrec.kernels.dense.matmul_halves`,
    :func:`~minigraphrec.kernels.dense.xt_dot_halves`), the same bits wherever they run.

    NumPy's ``A @ B`` goes to NumPy's own BLAS, and the wheels of NumPy and SciPy may bring
    different OpenBLAS builds (when this was measured, NumPy 1.24's wheel shipped OpenBLAS
    0.3.21 and SciPy 1.10's 0.3.18; other versions bring others), whose kernels may round
    differently on a given CPU. numba (``numba/np/linalg.py``,
    ``dot_3_mm``) takes a (1, k) or (m, 1) operand for a vector and calls ``gemv``, and
    otherwise computes the C-ordered ``out`` as ``outᵀ = Bᵀ Aᵀ`` in column-major order, with
    ``gemm``'s first operand ``B`` and its second ``A``, each transposed when its memory
    order is not ``out``'s. The calls here are the same, on the same memory, chosen by the
    arrays' run-time flags where numba reads their static layout: the two differ only for
    an operand with a unit dimension, which is both C- and F-contiguous, where the product
    is a single multiplication (inner dimension 1) or the operand a vector (``dot``,
    ``gemv``), so the bits agree.

    A : (m, k), B : (k, n), each C- or F-contiguous, float32 or float64 alike; out : (m, n)
    C-contiguous, written.
    """
    from scipy.linalg import blas
    m, n = A.shape[0], B.shape[1]
    if A.shape[1] == 0 or m == 0 or n == 0:
        out[...] = 0
        return out
    gemm, gemv, dot = blas.get_blas_funcs(("gemm", "gemv", "dot"), (A, B))
    if m == 1 and n == 1:
        out[0, 0] = dot(A.ravel(order="K"), B.ravel(order="K"))
    elif n == 1:                            # out[:, 0] = A b by gemv on A's memory
        b = B.ravel(order="K")
        out[:, 0] = gemv(1.0, A.T, b, trans=1) if A.flags.c_contiguous else gemv(1.0, A, b)
    elif m == 1:                            # out[0] = Bᵀ a by gemv on B's memory
        a = A.ravel(order="K")
        out[0] = gemv(1.0, B.T, a) if B.flags.c_contiguous else gemv(1.0, B, a, trans=1)
    else:                                   # outᵀ = Bᵀ Aᵀ, column-major, on the same memory
        first, trans_a = (B.T, 0) if B.flags.c_contiguous else (B, 1)
        second, trans_b = (A.T, 0) if A.flags.c_contiguous else (A, 1)
        out[...] = gemm(1.0, first, second, trans_a=trans_a, trans_b=trans_b).T
    return out


def halves_matmul(A, B, out=None, *, min_rows=None, backend="numba"):
    r"""``A @ B`` for a tall ``A``: two BLAS calls on fixed row halves, on two numba threads.

    The training steps run BLAS on one thread (:func:`~minigraphrec.threadpools.serial_blas`),
    which would leave a core idle during their products ``(m, 128) @ (128, 64)``; here the
    rows ``m // 2 ..`` go to numba's second thread
    (:func:`~minigraphrec.kernels.dense.matmul_halves`). The split is at ``m // 2`` whatever
    the thread count (and below ``min_rows`` rows, or ``ops.dense.HALVES_MIN_WORK``
    multiply-adds, ``A`` is one call), so the bits depend on the shapes only; equal to
    ``A @ B`` to rounding (the NumPy reference, tests/test_models.py). On Gowalla's 70k-row
    ball, 2 idle cores: 17 -> 8.5 ms. BLAS runs serially inside (it is called from two
    threads at once).

    Parameters
    ----------
    A : ndarray (m, k), float32 or float64 (another dtype is a
        :class:`~minigraphrec.errors.DataError`, no array at all a ``TypeError``)
    B : ndarray (k, q), float32 or float64, of ``A``'s dtype for the split (``W.T`` is fine)
    out : ndarray (m, q), optional
        C-contiguous, of the product's dtype; written and returned.
    min_rows : int, optional
        Split from this many rows on (default, ``None``: ``ops.dense.HALVES_FROM``;
        SR-GNN's output layer, a short ``A`` against a wide ``B``, passes 2).
    backend : ``"numba"`` (default) or ``"numpy"``
        ``"numpy"`` makes the same two calls one after the other, in the same BLAS
        (:func:`_numba_dot`): the same bits.

    Returns
    -------
    ndarray (m, q)
        ``A @ B``: ``out`` when given, else a new array.
    """
    from ..kernels.dense import matmul_halves
    from ..threadpools import serial_blas
    check_backend(backend)
    min_rows = max(HALVES_FROM if min_rows is None else min_rows, 2)
    A = np.ascontiguousarray(check_float_array(A, "A", ndim=2))
    B = check_float_array(B, "B", ndim=2)
    if A.shape[1] != B.shape[0]:
        raise DataError(f"halves_matmul needs A (m, k) and B (k, q), got {A.shape} and {B.shape}")
    if out is not None:          # the kernels write its rows: the exact shape, dtype, layout
        check_out(out, "out", (A.shape[0], B.shape[1]), np.result_type(A, B))
    if not (B.flags.c_contiguous or B.flags.f_contiguous):
        B = np.ascontiguousarray(B)
    if out is None:
        out = np.empty((A.shape[0], B.shape[1]), dtype=np.result_type(A, B))   # (m, q)
    with serial_blas():
        if (A.shape[0] < min_rows or A.shape[0] * A.shape[1] * B.shape[1] < HALVES_MIN_WORK
                or A.dtype != B.dtype or A.dtype not in _FLOATS):
            return np.matmul(A, B, out=out)
        if backend == "numpy":
            h = A.shape[0] // 2
            _numba_dot(A[:h], B, out[:h])
            _numba_dot(A[h:], B, out[h:])
            return out
        return matmul_halves(A, B, out)


def halves_xt_dot(X, D, *, min_rows=None, backend="numba", out=None, work=None):
    r"""``Xᵀ D`` (a weight gradient) as ``X[:h]ᵀ D[:h] + X[h:]ᵀ D[h:]``, on two numba threads.

    ``h = m // 2``; the partial products are BLAS calls run side by side
    (:func:`~minigraphrec.kernels.dense.xt_dot_halves`), then added, first + second. Below
    ``min_rows`` rows or ``ops.dense.HALVES_MIN_WORK`` multiply-adds, one call. The bits
    depend on the shapes only; equal to ``X.T @ D`` to rounding.

    Parameters
    ----------
    X : ndarray (m, p), float32 or float64 (as :func:`halves_matmul`'s ``A``)
    D : ndarray (m, q), float32 or float64, of ``X``'s dtype for the split
    min_rows : int, optional
        Split from this many rows on (default, ``None``: ``ops.dense.HALVES_FROM``).
    backend : ``"numba"`` (default) or ``"numpy"``
        ``"numpy"`` makes the same calls one after the other, in the same BLAS
        (:func:`_numba_dot`): the same bits.
    out : ndarray (p, q), optional
        C-contiguous, for the result (the first half, then the sum).
    work : ndarray (p, q), optional
        C-contiguous scratch for the second half (a caller's buffer kept between steps).

    Returns
    -------
    ndarray (p, q)
        ``Xᵀ D``: ``out`` when given, else a new array.
    """
    from ..kernels.dense import xt_dot_halves
    from ..threadpools import serial_blas
    check_backend(backend)
    min_rows = max(HALVES_FROM if min_rows is None else min_rows, 2)
    X, D = check_float_array(X, "X", ndim=2), check_float_array(D, "D", ndim=2)
    if X.shape[0] != D.shape[0]:
        raise DataError(f"halves_xt_dot needs X (m, p) and D (m, q), got {X.shape} and {D.shape}")
    for name, buf in (("out", out), ("work", work)):
        if buf is not None:
            check_out(buf, name, (X.shape[1], D.shape[1]), np.result_type(X, D))
    with serial_blas():
        if (X.shape[0] < min_rows or X.shape[0] * X.shape[1] * D.shape[1] < HALVES_MIN_WORK
                or X.dtype != D.dtype or X.dtype not in _FLOATS):
            return np.matmul(X.T, D, out=out)                            # (p, q)
        shape = (X.shape[1], D.shape[1])
        first = np.empty(shape, dtype=X.dtype) if out is None else out
        second = np.empty(shape, dtype=X.dtype) if work is None else work
        X, D = np.ascontiguousarray(X), np.ascontiguousarray(D)
        if backend == "numpy":
            h = X.shape[0] // 2
            _numba_dot(X[:h].T, D[:h], first)
            _numba_dot(X[h:].T, D[h:], second)
        else:
            xt_dot_halves(X, D, first, second)
    return np.add(first, second, out=first)                              # (p, q)


# ----------------------------------------------------------- activations
def identity_forward(X):
    r"""``Y = X`` (the "no activation" choice, so models can look activations up by name).

    ``X`` is checked as every activation checks it (a float32/float64 array, else the
    convention's error) and returned as is, not copied. The cache is its shape and dtype,
    for the backward pass's check of ``dY``.
    """
    X = check_float_array(X, "X")
    return X, (X.shape, X.dtype)


def identity_backward(cache, dY):
    r"""``dX = dY`` (``dY`` of the forward output's shape and dtype)."""
    shape, dtype = cache
    return check_grad_shape(dY, "dY", shape, dtype=dtype, op="identity_backward")


def relu_forward(X):
    r"""``Y = max(X, 0)`` elementwise; any shape.

    The derivative at exactly 0 is taken as 0 (``X > 0`` is the mask).
    """
    X = check_float_array(X, "X")
    mask = X > 0                              # same shape as X, bool
    return np.where(mask, X, X.dtype.type(0)), (mask, X.dtype)


def relu_backward(cache, dY):
    r"""``dX = dY · [X > 0]``."""
    mask, dtype = cache
    dY = check_grad_shape(dY, "dY", mask.shape, dtype=dtype, op="relu_backward")
    return np.where(mask, dY, np.zeros((), dtype=np.result_type(dY)))


def leaky_relu_forward(X, slope=0.2):
    r"""``Y = X`` where ``X > 0``, else ``slope · X``; any shape.

    ``slope=0.2`` is the GAT paper's choice; it must be a finite number. The
    derivative at exactly 0 is taken as ``slope``.
    """
    X = check_float_array(X, "X")
    slope = check_finite_number(slope, "slope")
    mask = X > 0
    return np.where(mask, X, X * slope), (mask, slope, X.dtype)


def leaky_relu_backward(cache, dY):
    r"""``dX = dY`` where ``X > 0``, else ``slope · dY``."""
    mask, slope, dtype = cache
    dY = check_grad_shape(dY, "dY", mask.shape, dtype=dtype, op="leaky_relu_backward")
    return np.where(mask, dY, dY * slope)


def sigmoid_forward(X):
    r"""Logistic ``Y = 1 / (1 + exp(-X))``, computed without overflow.

    With ``z = exp(-|X|) ∈ (0, 1]``: ``Y = 1 / (1 + z)`` for ``X ≥ 0`` and
    ``Y = z / (1 + z)`` for ``X < 0``; no ``exp`` of a positive number is
    ever taken, so ``X = ±1000`` gives exactly 1 and 0 (well, ``exp(-1000)``
    underflows to 0). Any shape; keeps the dtype.
    """
    X = check_float_array(X, "X")
    z = np.exp(-np.abs(X))
    Y = np.where(X >= 0, 1 / (1 + z), z / (1 + z))
    return Y, Y


def sigmoid_backward(cache, dY):
    r"""``dX = dY · Y (1 - Y)`` with ``Y`` the forward output.

    Its absolute error is below about ``0.75 ε |dY|`` (``ε`` the dtype's machine epsilon;
    measured on a grid of ``X`` in [-60, 60]: 8.9e-8 in float32, 1.7e-16 in float64) but
    not relatively small for large positive ``X``, since ``1 - Y`` cancels: ``Y``, rounded
    next to 1, carries an absolute error of up to about ``ε / 2``, which ``1 - Y`` keeps
    while its value shrinks like ``e^{-X}`` (float32 ``X = 15``: 17 % of ``σ'(15) = 3e-7``).
    """
    Y = cache
    dY = check_grad_shape(dY, "dY", Y.shape, dtype=Y.dtype, op="sigmoid_backward")
    return dY * Y * (1 - Y)


def tanh_forward(X):
    r"""``Y = tanh(X)`` elementwise; any shape; stable at any ``X``."""
    X = check_float_array(X, "X")
    Y = np.tanh(X)
    return Y, Y


def tanh_backward(cache, dY):
    r"""``dX = dY · (1 - Y²)`` with ``Y`` the forward output."""
    Y = cache
    dY = check_grad_shape(dY, "dY", Y.shape, dtype=Y.dtype, op="tanh_backward")
    return dY * (1 - Y * Y)


#: name -> (forward, backward) for models that take ``activation="relu"`` etc.
#: ``leaky_relu`` here uses its default slope 0.2.
ACTIVATIONS = {
    "identity": (identity_forward, identity_backward),
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
}


# --------------------------------------------------------------- dropout
def dropout_forward(X, p, rng, training=True):
    r"""Inverted dropout: ``Y = X · (M / (1 - p))`` with ``M_ij ~ Bernoulli(1 - p)``.

    Parameters
    ----------
    X : ndarray, any shape
    p : float in [0, 1), a real number (a string is a ``TypeError``)
        Probability of zeroing an entry. ``p = 1`` is rejected (it would
        divide by zero); ``p = 0`` returns ``X`` unchanged.
    rng : numpy.random.Generator
        Source of the mask. The mask is ``rng.random(X.shape) >= p``, drawn
        in float64 whatever ``X``'s dtype, so one seed gives the same mask in
        float32 training and in a float64 gradient check.
    training : bool
        ``False`` (evaluation) returns ``X`` unchanged and draws nothing.

    Returns
    -------
    Y : ndarray, shape and dtype of X
    cache : the scaled mask ``M / (1 - p)`` (dtype of X), or None when no
        dropout was applied.
    """
    X = check_float_array(X, "X")
    p = check_finite_number(p, "dropout probability p")
    if not 0.0 <= p < 1.0:
        raise DataError(f"dropout probability p must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return X, None
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    keep = rng.random(X.shape) >= p                       # same shape as X, bool
    scaled_mask = keep.astype(X.dtype) * X.dtype.type(1 / (1 - p))
    return X * scaled_mask, scaled_mask


def dropout_backward(cache, dY):
    r"""``dX = dY · (M / (1 - p))``: the same scaled mask as the forward pass.

    Without dropout (cache None: ``p = 0`` or not training) ``dY`` itself is returned,
    unchecked: that cache does not know the shape.
    """
    scaled_mask = cache
    if scaled_mask is None:
        return dY
    dY = check_grad_shape(dY, "dY", scaled_mask.shape, dtype=scaled_mask.dtype,
                          op="dropout_backward")
    return dY * scaled_mask
