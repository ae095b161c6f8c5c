r"""Dense symmetric positive definite algebra in tiles: Cholesky and inverse.

Why. Some OpenBLAS builds crash (segmentation fault) in their own threaded
Cholesky ``potrf`` on large matrices: the OpenBLAS that NumPy and SciPy wheels
ship, on CPUs where it picks its AVX-512 "SkylakeX" kernels, dies on
``np.linalg.cholesky(3.0 * np.eye(16000))`` with 2 threads and works at 15,000,
with one thread, or with ``OPENBLAS_CORETYPE=Haswell``. EASE factorises an
(n_items, n_items) Gram matrix, so it hit that crash at about 16,000 items.

What. The tile algorithms below never hand BLAS or LAPACK an operand larger
than ``block_size × block_size`` (default 2048, far below the crash size):
every step is one LAPACK call on a diagonal tile (``dpotrf``, ``dtrtri``),
one triangular solve ``dtrsm`` or one product ``@`` (``dgemm``) on tiles.
BLAS still runs each call with all its threads (but for the diagonal tiles
of a ``block_size`` above :data:`SERIAL_LAPACK_ABOVE`, below); only the matrix is cut up.
With ``A`` split into ``nb × nb`` tiles ``A_ij`` of size ``b``:

1. Cholesky ``A = L Lᵀ`` (right-looking): for ``k = 0..nb-1``,
   ``L_kk = chol(A_kk)``; ``L_ik = A_ik L_kk^{-ᵀ}`` (``i > k``);
   ``A_ij −= L_ik L_jkᵀ`` (``k < j ≤ i``).
2. Triangular inverse ``X = L⁻¹`` (column by column): ``X_jj = L_jj⁻¹``,
   ``X_ij = −L_ii⁻¹ Σ_{k=j}^{i-1} L_ik X_kj`` (``i > j``).
3. ``A⁻¹ = Xᵀ X`` (row by row): ``P_ij = Σ_{k ≥ i} X_kiᵀ X_kj`` (``j ≤ i``),
   then the upper triangle is the mirror of the lower one.

All three run in place in one (n, n) array, in an order where a tile is
overwritten only once nothing later reads it (LAPACK's ``potrf``, ``trtri``,
``lauum`` use the same orders). So :func:`spd_inverse` needs one n × n
array where ``cho_solve(cho_factor(A), I)`` needs two, and does ``n³`` flops
instead of ``n³/3 + 2n³``.

The results equal LAPACK's to rounding (the sums are grouped differently);
``tests/test_linalg.py`` checks them against ``np.linalg`` with tiny tiles.
A matrix that fits in one tile goes to LAPACK in one call, as before.

A ``block_size`` chosen above :data:`SERIAL_LAPACK_ABOVE` would hand the
threaded ``dpotrf`` the sizes that crash it: diagonal tiles of more rows are
factorised and inverted (``dpotrf``, ``dtrtri``) on one BLAS thread
(:func:`~minigraphrec.threadpools.serial_blas`), the products keep every thread.

Thread count: OpenBLAS's threaded ``dpotrf``, ``dtrtri`` and ``dgemm`` group
their sums otherwise than its serial ones, so the last bits of the results
depend on the BLAS thread count (OpenBLAS 0.3.31, AMD EPYC with AVX-512, 1
against 2 threads on 1,500 × 1,500 operands: 910,117 of the 1,125,750 entries
of ``dpotrf``'s factor and 1,460,749 of the 2,250,000 of a ``dgemm`` product
differed; none at 64 rows, and ``dgemm``'s none at 200). Under
``minigraphrec.threads(1)`` they do not.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas, lapack

from .errors import DataError, check_bool, check_int
from .threadpools import serial_blas

__all__ = ["cholesky", "spd_inverse", "DEFAULT_BLOCK", "SERIAL_LAPACK_ABOVE"]

#: tile size: every BLAS/LAPACK call sees at most DEFAULT_BLOCK² entries per operand
DEFAULT_BLOCK = 2048
#: diagonal tiles of more rows than this go to ``dpotrf`` and ``dtrtri`` on one BLAS thread
#: (OpenBLAS's threaded ``dpotrf`` crashed at 16,000 rows on 2 threads, worked at 15,000)
SERIAL_LAPACK_ABOVE = 4096


def _check(A, block_size, overwrite_a):
    check_int(block_size, "block_size")
    overwrite_a = check_bool(overwrite_a, "overwrite_a")      # "no" is truthy: would overwrite
    if sp.issparse(A):
        raise DataError(f"A must be a dense array, got a SciPy sparse {A.format} matrix: "
                        "its factor and inverse are dense (A.toarray() if it fits)")
    A = np.asarray(A)
    if A.dtype.kind not in "biuf":
        raise DataError(f"A must have a real (bool, integer or float) dtype, got {A.dtype}"
                        + (": the imaginary part would be lost" if A.dtype.kind == "c" else ""))
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"expected a square matrix, got shape {A.shape}")
    _check_finite_lower(A)
    if not overwrite_a or A.dtype != np.float64 or not A.flags.c_contiguous \
            or not A.flags.writeable:
        A = np.array(A, dtype=np.float64, order="C")                      # our own copy
    return A, int(block_size)


#: entries of ``A`` per step of the finiteness check (its bool temporaries stay this small)
_CHECK_ENTRIES = 1 << 18


def _check_finite_lower(A):
    """DataError naming the first NaN or infinite entry of ``A``'s lower triangle (the part
    that is read), in row order. LAPACK does not refuse them: a NaN on the diagonal gave an
    all-NaN "inverse", an infinite one a finite matrix that is no inverse. One pass over
    the lower triangle (``n²/2`` reads, nothing next to the ``n³`` flops), by blocks of
    rows so that no (n, n) temporary is made."""
    if A.dtype.kind != "f":                                 # bool and integers are finite
        return
    n = A.shape[0]
    step = max(1, _CHECK_ENTRIES // max(n, 1))
    for start in range(0, n, step):
        stop = min(start + step, n)
        bad = ~np.isfinite(A[start:stop, :stop])                          # (rows, stop)
        bad &= np.tri(stop - start, stop, k=start, dtype=bool)            # lower triangle
        if bad.any():
            i, j = np.argwhere(bad)[0]
            i += start
            raise DataError(f"A[{i}, {j}] = {A[i, j]} is not finite: a symmetric positive "
                            "definite matrix has finite entries (only the lower triangle "
                            "is read)")


def _tiles(n, b):
    return [slice(s, min(s + b, n)) for s in range(0, n, b)]


def _diagonal_lapack(f, T, **kwargs):
    """``f(T, **kwargs)`` (``dpotrf`` or ``dtrtri`` on a diagonal tile ``T``), on one BLAS
    thread when ``T`` has more than :data:`SERIAL_LAPACK_ABOVE` rows."""
    if T.shape[0] > SERIAL_LAPACK_ABOVE:
        with serial_blas():
            return f(T, **kwargs)
    return f(T, **kwargs)


def _potrf(T, offset):
    """Lower Cholesky factor of one diagonal tile, upper part zeroed."""
    L, info = _diagonal_lapack(lapack.dpotrf, T, lower=1, clean=1)
    if info > 0:
        raise np.linalg.LinAlgError(f"matrix is not positive definite: the leading minor of "
                                    f"order {offset + info} is not positive")
    if info < 0:
        raise ValueError(f"dpotrf: illegal argument {-info}")
    return L


def _cholesky_inplace(A, b):
    r"""Step 1 on the lower tiles of ``A`` (n, n), in place: lower tiles become ``L``."""
    t = _tiles(A.shape[0], b)
    for k, kk in enumerate(t):
        L_kk = _potrf(A[kk, kk], kk.start)                                # (b, b)
        A[kk, kk] = L_kk
        for ii in t[k + 1:]:
            # L_ik = A_ik L_kk^{-T}, i.e. (L_kk^{-1} A_ikᵀ)ᵀ: a left solve on the transposed tile
            A[ii, kk] = blas.dtrsm(1.0, L_kk, A[ii, kk].T, side=0, lower=1).T  # (b_i, b)
        for j, jj in enumerate(t[k + 1:], start=k + 1):
            for ii in t[j:]:
                A[ii, jj] -= A[ii, kk] @ A[jj, kk].T                      # (b_i, b_j)
    return t


def _zero_upper_tiles(A, t):
    """Zero every tile strictly above the diagonal, and the upper part of diagonal tiles."""
    for j, jj in enumerate(t):
        A[jj, jj] = np.tril(A[jj, jj])
        for ii in t[:j]:
            A[ii, jj] = 0.0


def cholesky(A, block_size=DEFAULT_BLOCK, overwrite_a=False):
    r"""Lower Cholesky factor ``L`` of a symmetric positive definite ``A``, ``A = L Lᵀ``.

    Computed in tiles of ``block_size`` (module docstring, step 1); only the
    lower triangle of ``A`` is read.

    Parameters
    ----------
    A : array-like (n, n), real (complex is a DataError), symmetric positive definite
    block_size : int >= 1, default :data:`DEFAULT_BLOCK`
        Diagonal tiles above :data:`SERIAL_LAPACK_ABOVE` rows are factorised on
        one BLAS thread.
    overwrite_a : bool, default False
        Work in ``A`` itself when it is a writeable C-contiguous float64
        array (saves one n × n copy); ``A`` then holds scratch after an error.

    Returns
    -------
    L : ndarray float64 (n, n), lower triangular (zeros above the diagonal)

    Raises
    ------
    numpy.linalg.LinAlgError
        When ``A`` is not positive definite (naming the leading minor).
    DataError
        When an entry of the lower triangle is NaN or infinite (naming the first), ``A``
        is sparse or not real, or ``overwrite_a`` is not a bool.
    """
    A, b = _check(A, block_size, overwrite_a)
    t = _cholesky_inplace(A, b)
    _zero_upper_tiles(A, t)
    return A


def spd_inverse(A, block_size=DEFAULT_BLOCK, overwrite_a=False):
    r"""The inverse of a symmetric positive definite ``A``, through its Cholesky factor.

    ``A⁻¹ = L^{-ᵀ} L^{-1}`` with ``A = L Lᵀ``, all in tiles of ``block_size``
    (module docstring, steps 1–3), in place: peak memory is one (n, n) array
    (none extra with ``overwrite_a=True``). Only the lower triangle of ``A`` is
    read. The result is symmetric (the upper triangle mirrors the lower).

    Parameters
    ----------
    A : array-like (n, n), real (complex is a DataError), symmetric positive definite
    block_size : int >= 1, default :data:`DEFAULT_BLOCK`
        Diagonal tiles above :data:`SERIAL_LAPACK_ABOVE` rows are factorised and
        inverted on one BLAS thread.
    overwrite_a : bool, default False
        Work in ``A`` itself when it is a writeable C-contiguous float64 array;
        ``A`` then holds scratch after an error.

    Returns
    -------
    P : ndarray float64 (n, n), ``A⁻¹``

    Raises
    ------
    numpy.linalg.LinAlgError
        When ``A`` is not positive definite.
    DataError
        When an entry of the lower triangle is NaN or infinite (naming the first), ``A``
        is sparse or not real, or ``overwrite_a`` is not a bool.
    """
    A, b = _check(A, block_size, overwrite_a)
    t = _cholesky_inplace(A, b)
    # step 2: X = L^{-1}, tile column by tile column
    for j, jj in enumerate(t):
        X_jj, info = _diagonal_lapack(lapack.dtrtri, A[jj, jj], lower=1)
        if info != 0:                                     # cannot happen after a clean potrf
            raise np.linalg.LinAlgError(f"dtrtri failed on diagonal tile {j} (info={info})")
        A[jj, jj] = np.tril(X_jj)
        for i, ii in enumerate(t[j + 1:], start=j + 1):
            T = A[ii, jj] @ A[jj, jj]                                     # L_ij X_jj  (b_i, b_j)
            for kk in t[j + 1:i]:
                T += A[ii, kk] @ A[kk, jj]                                # L_ik X_kj
            A[ii, jj] = -blas.dtrsm(1.0, A[ii, ii], T, side=0, lower=1)   # -L_ii^{-1} T
    # step 3: P = Xᵀ X, lower tiles row by row (P_ij overwrites X_ij once nothing needs it)
    for i, ii in enumerate(t):
        for j, jj in enumerate(t[:i + 1]):
            T = A[ii, ii].T @ A[ii, jj]                                   # X_iiᵀ X_ij (b_i, b_j)
            for kk in t[i + 1:]:
                T += A[kk, ii].T @ A[kk, jj]                              # X_kiᵀ X_kj
            A[ii, jj] = T
    # mirror: upper = lowerᵀ (diagonal tiles from their own lower triangle, exactly symmetric)
    for i, ii in enumerate(t):
        D = np.tril(A[ii, ii])
        A[ii, ii] = D + np.tril(D, -1).T
        for jj in t[:i]:
            A[jj, ii] = A[ii, jj].T
    return A
