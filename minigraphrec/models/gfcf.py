r"""GF-CF: a training-free graph filter for collaborative filtering.

Shen, Wu, Zhang, Shan, Zhang, Letaief, Li, "How Powerful is Graph
Convolution for Recommendation?", CIKM 2021 (arXiv:2108.07567). The paper
shows that LightGCN-style propagation amounts to low-pass filtering of the
normalised interaction matrix, and that a closed-form filter, with no
embeddings and no training, matches or beats the trained models:

.. math::
    \tilde R = D_U^{-1/2} R\, D_I^{-1/2}, \qquad
    s_u = r_u\, \tilde R^\top \tilde R
          \;+\; \alpha\; r_u\, D_I^{-1/2}\, V V^\top D_I^{1/2},

where ``R`` (n_users, n_items) is the binary training matrix, ``D_U`` and
``D_I`` the diagonal user and item degrees (row and column sums of ``R``),
``r_u`` the row of ``R`` for user ``u`` and ``V`` (n_items, k) the top-k
right singular vectors of ``R̃``. The first term is the linear filter
``R̃ᵀR̃`` (two hops of normalised propagation); the second is the "ideal
low-pass" filter that keeps only the ``k`` smoothest graph frequencies.

Formula, defaults and normalisation details follow the authors' code
(github.com/yshenaw/GF_CF, ``Table3&4/model.py``, class ``GF_CF``):
``alpha = 0.3``, ``k = 256`` singular vectors, ``R̃`` built from the
*binary* matrix, the user's raw (un-normalised) row ``r_u`` on the left, and
degree 0 mapped to ``D^{-1/2} = 0``. This file is our own code.

Departures from the reference code, none of which change a score of a
user or item with at least one training interaction:

* An item with no training interaction gets ``D_I^{1/2} = 0`` (the
  reference divides by its ``D^{-1/2} = 0`` and produces inf·0 = NaN):
  its score is 0 from both terms, as for a user with no training items.
* Nothing dense of size (n_items, n_items) is formed. The ideal term is
  computed per user batch as ``((r_u D_I^{-1/2}) V)(Vᵀ D_I^{1/2})``; the
  linear term as ``r_u F`` with ``F = R̃ᵀR̃`` kept *sparse* when that is
  small and cheaper (sparse catalogues: ``F`` has few nonzeros per row),
  else as ``(r_u R̃ᵀ) R̃`` with a sparse and a sparse-times-dense product:
  memory is ``O(nnz(R) + nnz(F) + k·n_items + batch·(n_users + n_items))``.
  Where the time goes (measured, ``benchmarks/bench_catalogues.py``): on
  large sparse catalogues the fit is almost all the truncated SVD (ARPACK
  took 664 s on a 50,000-item synthetic catalogue whose spectrum is flat;
  PROPACK, now the automatic choice, 13 s), and scoring is dominated by the
  ideal term's dense product (``2 k n_items`` flops per user).
* The singular vectors come from PROPACK / ARPACK (via
  ``scipy.sparse.linalg.svds``, seeded), a dense LAPACK SVD, or our own
  Chebyshev-filtered or randomized subspace iteration, instead of SVDLIBC
  (``sparsesvd``). When ``σ_k = σ_{k+1}`` the top-k subspace is not unique
  and any solver may return a different (equally valid) one.
"""
from __future__ import annotations

import functools
import logging
import re
import time

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from ..data import check_interactions
from ..errors import (DataError, check_backend, check_bool, check_finite_sparse,
                      check_int, check_param_number, check_random_state,
                      check_real_sparse)
from ..linalg import cholesky
from ..rank import float_dtype
from ..threadpools import FEW_ROWS, few_rows_matmul
from .base import Recommender, kept

logger = logging.getLogger("minigraphrec")

__all__ = ["GFCF", "normalized_interactions", "svd_working_memory",
           "top_right_singular_vectors"]

SVD_SOLVERS = ("auto", "dense", "arpack", "propack", "randomized", "chebyshev")
_ADD_BLOCK = 256          # item columns per step of the blocked transposed add
#: largest Σ_u d_u² (products, and bound on the nonzeros) of a sparse R̃ᵀR̃ kept for scoring
_ITEM_FILTER_PRODUCTS = 1 << 25




def _inv_sqrt(d):
    """``d^{-1/2}`` elementwise, with 0 where ``d == 0``."""
    out = np.zeros_like(d, dtype=np.float64)
    np.divide(1.0, np.sqrt(d), out=out, where=d > 0)
    return out


def normalized_interactions(R):
    r"""``R̃ = D_U^{-1/2} R D_I^{-1/2}`` and the degrees.

    Parameters
    ----------
    R : scipy sparse or array-like, shape (n_users, n_items)
        Finite, non-negative, real entries (else a DataError naming the first bad one).

    Returns
    -------
    R_tilde : csr_matrix float64, shape (n_users, n_items)
        ``R̃_ui = R_ui / sqrt(d_u d_i)``; rows / columns of zero degree stay 0.
    d_users : float64 (n_users,), row sums of R
    d_items : float64 (n_items,), column sums of R
    """
    if not sp.issparse(R):
        R = np.asarray(R)
    R = sp.csr_matrix(check_real_sparse(R, "R"), dtype=np.float64)      # (n_users, n_items)
    check_finite_sparse(R, "R", nonnegative=True,
                        why_nonnegative=": R holds interaction counts or weights, which are >= 0")
    d_users = np.asarray(R.sum(axis=1)).ravel()                           # (n_users,)
    d_items = np.asarray(R.sum(axis=0)).ravel()                           # (n_items,)
    R_tilde = sp.diags(_inv_sqrt(d_users)) @ R @ sp.diags(_inv_sqrt(d_items))
    R_tilde = sp.csr_matrix(R_tilde)
    R_tilde.sort_indices()
    return R_tilde, d_users, d_items


# ------------------------------------------------------------ truncated SVD
def _orthonormalize(Y):
    r"""An orthonormal basis of the columns of tall ``Y`` (n, l), n ≥ l.

    Repeated CholeskyQR (Fukaya et al. 2014): ``Q ← Q L⁻ᵀ`` with
    ``L Lᵀ = QᵀQ``, until ``max |QᵀQ − I| < 1e-10`` (one pass for a
    well-conditioned ``Y``, two for most others; the Gram of the check is the
    next pass's input). An order of magnitude faster than Householder QR for
    tall-skinny blocks. Falls back to Householder QR when ``Y`` is
    numerically rank-deficient (the factorisation fails or three passes do
    not reach orthonormality) or its Gram overflows (columns of norm above
    about 1e154).
    The factor is :func:`minigraphrec.linalg.cholesky`'s, in tiles, which
    for ``l`` up to its block size (2048) is one LAPACK ``dpotrf``, the same
    call and bits as ``scipy.linalg.cholesky``.
    """
    Q, eye = Y, np.eye(Y.shape[1])
    try:
        with np.errstate(over="ignore"):                  # an infinite Gram: QR below
            G = Q.T @ Q                                                   # (l, l)
        for _ in range(3):
            if not np.isfinite(G).all():
                break
            L = cholesky(G)                                               # (l, l)
            Q = sla.solve_triangular(L, Q.T, lower=True).T                # (n, l)
            G = Q.T @ Q
            error = np.abs(G - eye).max()
            if error < 1e-10:
                return np.ascontiguousarray(Q)
            if not np.isfinite(error):
                break
    except np.linalg.LinAlgError:
        pass
    return np.linalg.qr(Y)[0]


def _randomized_right_vectors(A, k, n_oversamples, n_power_iter, rng):
    r"""Top-k right singular pairs of sparse ``A`` by randomized subspace iteration.

    Halko, Martinsson & Tropp (2011), Alg. 4.4 on the item side:
    ``Q₀ = orth(Ω)``, ``Ω ~ N(0, 1)^{n×l}``, ``l = k + n_oversamples``;
    ``Q_{t+1} = orth(Aᵀ (A Q_t))`` for ``n_power_iter`` steps; then
    Rayleigh–Ritz: the eigenpairs ``(θ, w)`` of ``M = (A Q)ᵀ(A Q)`` (l × l)
    give ``σ = sqrt(θ)`` and ``v = Q w``. The error in the trailing vectors
    shrinks like ``(σ_{l+1} / σ_k)^{2 t}``.
    """
    n = A.shape[1]
    l = min(k + n_oversamples, n)
    AT = A.T.tocsr()                                                      # (n, m)
    Q = _orthonormalize(rng.standard_normal((n, l)))                      # (n, l)
    for _ in range(n_power_iter):
        Q = _orthonormalize(AT @ (A @ Q))                                 # (n, l)
    Y = A @ Q                                                             # (m, l)
    theta, W = np.linalg.eigh(Y.T @ Y)                                    # ascending, (l,), (l, l)
    order = np.argsort(theta)[::-1][:k]
    s = np.sqrt(np.clip(theta[order], 0.0, None))                         # (k,)
    return s, Q @ W[:, order]                                             # (k,), (n, k)


#: Chebyshev solver: polynomial degree per filtering pass, residual tolerance, pass limit
_CHEB_DEGREE = 12
_CHEB_TOL = 1e-10
_CHEB_MAX_PASSES = 200
#: the largest ratio by which one filtering pass may amplify the top Ritz vector's direction
#: over the k-th one's (:func:`_filter_degree`)
_CHEB_MAX_SPREAD = 1e10


def _filter_degree(theta_1, theta_k, b, degree, max_spread=_CHEB_MAX_SPREAD):
    r"""The degree ``m ≤ degree`` of the next filtering pass: the largest for which
    ``T_m(t(θ_1)) / T_m(t(θ_k)) ≤ max_spread`` (at least 1).

    The filter amplifies each eigendirection by ``T_m(t(λ))``; in the column of the
    ``k``-th Ritz vector, rounding-level traces of the top directions grow by that ratio
    more than the wanted direction itself, and taking them out again (orthonormalisation)
    costs as many digits of it. At ``m = 12`` the ratio reached 1e25 on MovieLens-100K
    at k = 256 (θ_1 / b about 90), and from pass 80 to 120 the largest residual went
    back and forth between 1.3e-10 and 6e-9, never below the tolerance (one run, seed 0).
    ``T_m(t) = cosh(m arccosh t)`` for ``t ≥ 1``, so the ratio is about
    ``exp(m (arccosh t(θ_1) − arccosh t(θ_k)))``, and ``|T_m| ≤ 1`` below ``t = 1``.
    The number of products with ``G`` to converge stays about the same (each pass gains
    in proportion to its degree); only the Rayleigh–Ritz steps come more often. On Gowalla
    at k = 256 the degrees were 12, 11, 10, 10, 10 (108 products against 98 uncapped), and
    the fit took 40.1 s (``benchmarks/results/gfcf_gowalla_chebyshev.md``, 2026-12-07), as
    before the cap (41.4 s, 2026-12-04, another machine).
    """
    top = np.arccosh(max(2.0 * theta_1 / b - 1.0, 1.0))
    kth = np.arccosh(max(2.0 * theta_k / b - 1.0, 1.0))
    if top - kth <= 0:
        return degree
    return int(min(degree, max(1.0, np.log(max_spread) / (top - kth))))


def _chebyshev_filter(gram, X, GX, degree, b):
    r"""``T_m(t(G)) X`` for ``G = AᵀA`` with ``t(x) = 2x/b − 1``, given ``GX = G X``.

    ``t`` maps the damped interval ``[0, b]`` (the unwanted end of G's
    spectrum, which lies in ``[0, λ_max]``) onto ``[−1, 1]``, where every
    Chebyshev polynomial stays within ±1, while an eigenvalue ``λ > b``
    grows like ``cosh(m · arccosh(t(λ)))``. Three-term recurrence
    ``Y_{j+1} = 2 t(G) Y_j − Y_{j−1}``, ``Y_0 = X``, ``Y_1 = t(G) X``:
    ``degree − 1`` products with ``G`` beyond the given ``GX``.
    """
    Y_prev, Y = X, (2.0 / b) * GX - X                                     # T_0 X, T_1 X
    for _ in range(degree - 1):
        Y_prev, Y = Y, 2.0 * ((2.0 / b) * gram(Y) - Y) - Y_prev
    return Y


def _chebyshev_right_vectors(A, k, n_oversamples, rng, backend="numba", degree=_CHEB_DEGREE,
                             tol=_CHEB_TOL, max_passes=_CHEB_MAX_PASSES):
    r"""Top-k right singular pairs of sparse ``A`` by Chebyshev-filtered subspace iteration.

    The eigenpairs of ``G = AᵀA`` (n × n, applied as ``Aᵀ(A X)``, never
    formed) on a block of ``l = k + n_oversamples`` columns (Zhou & Saad,
    "Self-consistent-field calculations using Chebyshev-filtered subspace
    iteration", J. Comput. Phys. 2006, for the method). Each pass:

    1. Rayleigh–Ritz: ``H = Xᵀ G X`` (l × l), ``H = W Θ Wᵀ``; ``X ← X W``,
       Ritz values ``θ`` descending;
    2. stop when every one of the top ``k`` Ritz pairs has a residual
       ``‖G x_j − θ_j x_j‖ ≤ tol · θ_1``;
    3. else ``X ← orth(T_m(t(G)) X)`` (:func:`_chebyshev_filter`), damping
       ``[0, θ_l]``: below the smallest Ritz value, which by interlacing is
       at most ``λ_l``, so the wanted ``λ_1..λ_k`` are all amplified.

    Why not plain subspace iteration: its error in ``v_k`` shrinks by
    ``λ_{l+1} / λ_k`` per product with ``G``, which is close to 1 on the
    flat spectra of sparse interaction data (measured 0.96 on a 50k × 50k
    synthetic catalogue); a degree-``m`` Chebyshev polynomial gains about
    ``exp(2 m sqrt(λ_k / λ_{l+1} − 1))`` for the same ``m`` products. Every
    product is a block of ``l`` columns (sparse times dense, then BLAS 3 for
    the Rayleigh–Ritz), where ARPACK's Lanczos steps are one vector each.

    Converged means what ARPACK's ``tol`` means: each returned pair is an
    eigenpair of ``G`` to a residual of ``tol · λ_1``, so ``σ_j`` is within
    ``tol`` (relative) and ``v_j`` within ``tol / gap_j`` of the exact ones.
    Raises ``RuntimeError`` if ``max_passes`` do not get there.
    """
    from ..ops.sparse import spmm

    n = A.shape[1]
    l = min(k + n_oversamples, n)
    A = A.tocsr().astype(np.float64)
    AT = A.T.tocsr()                                                      # (n, m)

    def gram(X):                                                          # (n, l) -> (n, l)
        return spmm(AT, spmm(A, X, backend), backend)

    X = _orthonormalize(rng.standard_normal((n, l)))                      # (n, l)
    for _ in range(max_passes):
        GX = gram(X)                                                      # (n, l)
        theta, W = np.linalg.eigh(X.T @ GX)                               # ascending
        theta, W = theta[::-1], W[:, ::-1]                                # descending
        X, GX = X @ W, GX @ W                                             # Ritz vectors
        top = max(theta[0], np.finfo(float).tiny)
        residual = np.linalg.norm(GX[:, :k] - X[:, :k] * theta[:k], axis=0)
        if residual.max() <= tol * top:
            s = np.sqrt(np.clip(theta[:k], 0.0, None))
            return s, np.ascontiguousarray(X[:, :k])
        b = max(theta[l - 1], 1e-3 * top)          # damp [0, θ_l]; never a vanishing interval
        m = _filter_degree(top, theta[k - 1], b, degree)
        Y = _chebyshev_filter(gram, X, GX, m, b)                            # (n, l)
        # unit columns first: near convergence the filter mostly rescales the Ritz vectors
        # (by up to T_m(t(θ_1)) / T_m(t(θ_l))), which would make the Gram of CholeskyQR
        # needlessly ill-conditioned
        X = _orthonormalize(Y / np.linalg.norm(Y, axis=0))
    raise RuntimeError(f"the Chebyshev solver did not reach a residual of {tol:g} in "
                       f"{max_passes} passes (largest {residual.max() / top:.2e}); use "
                       "svd_solver='propack' or 'arpack'")


@functools.lru_cache(maxsize=1)
def _propack_enabled():
    """Whether this SciPy's ``svds`` takes ``solver="propack"`` without an environment switch.

    SciPy 1.8 shipped PROPACK off by default (``SCIPY_USE_PROPACK=1`` turns
    it on, a ``ValueError`` otherwise), and so did every release up to 1.12; 1.13 and
    later enable it.
    """
    try:
        svds(sp.diags([3.0, 2.0, 1.0], format="csr"), k=1, solver="propack")
    except ValueError:
        return False
    return True


#: ``"auto"``'s default budget for a solver's working arrays, in MiB (GFCF's ``max_svd_memory_mb``)
MAX_SVD_MEMORY_MB = 8192


def svd_working_memory(solver, shape, k, n_oversamples=128):
    r"""Bytes of float64 arrays ``solver`` allocates for the top ``k`` pairs of an
    ``(m, n)`` sparse matrix, beyond the matrix: what ``"auto"`` compares with its budget.

    Counted from the arrays each solver allocates (SciPy 1.17's ``_svdp`` and ``svds``
    for PROPACK and ARPACK, our own code for the rest); ``K`` is PROPACK's limit of
    Lanczos steps, ``min(10 k, m + 1, n + 1)``, ``d = min(m, n)``, ``l = k + n_oversamples``:

    * ``"propack"``: the Lanczos bases ``U`` (m, K + 1) and ``V`` (n, K), its work array
      (``5K² + max(3K², 32 max(m, n))`` and change) and the returned vectors, twice
      ``(m + n) × k``. NumPy allocates the bases whole, but their pages become resident
      only as the steps fill them: an easy spectrum stays below the bound (Gowalla at
      k = 256: about 900 MiB of 2,060), a hard one comes close
      (``benchmarks/results/scaling.md``, 9.9 million edges: a whole-process peak of
      17,600 MB, 16,800 MiB, against 20,800 MiB here).
    * ``"arpack"``: the Lanczos vectors of the Gram on the smaller side, ``d × ncv`` with
      ``ncv = min(d, max(2k + 1, 20))``, and the singular vectors on both sides, twice
      ``(m + n) × k`` at the peak.
    * ``"chebyshev"`` and ``"randomized"``: nine ``(n, l)`` blocks (the filter's
      three-term recurrence and its temporaries, the Ritz rotation, CholeskyQR's copies)
      and two ``(m, l)`` ones.
    * ``"dense"``: ``A`` dense and the SVD's factors, ``3 m n``.

    The constants were checked against measured peaks (``tests/test_gfcf.py``, and
    ``benchmarks/results/svd_memory.md``, up to 10^7 edges).
    """
    m, n = (int(d) for d in shape)
    k = int(k)
    if solver == "propack":
        K = min(10 * k, m + 1, n + 1)
        count = (m * (K + 1) + n * K + m + n + 5 * K * K + 9 * K
                 + max(3 * K * K + 4 * K, 32 * max(m, n)) + 2 * (m + n) * k)
    elif solver == "arpack":
        d = min(m, n)
        ncv = min(d, max(2 * k + 1, 20))
        count = d * ncv + ncv * (ncv + 8) + 3 * d + 2 * (m + n) * k
    elif solver in ("chebyshev", "randomized"):
        l = min(k + int(n_oversamples), n)
        count = (9 * n + 2 * m) * l
    elif solver == "dense":
        count = 3 * m * n
    else:
        raise ValueError(f"unknown solver {solver!r}")
    return 8 * count


def _resolve_solver(solver, shape, k=1, max_memory_mb=MAX_SVD_MEMORY_MB, n_oversamples=128):
    """The solver that runs for ``solver`` (see :func:`top_right_singular_vectors`).

    ``"auto"``: ``"dense"`` up to 2000 rows or columns (if ``A.toarray()`` and its
    factors fit ``max_memory_mb``); else ``"propack"`` where SciPy
    enables it and its Lanczos bases fit ``max_memory_mb``; else ``"chebyshev"`` (SciPy
    without PROPACK) if it fits, else ``"arpack"``, the lightest exact solver; a
    MemoryError up front if even that does not fit. The choice depends on the shape,
    ``k``, the budget and whether this SciPy enables PROPACK (its version, and
    ``SCIPY_USE_PROPACK`` before 1.13: :func:`_propack_enabled`), never on the machine's
    free memory; a seed gives the same vectors wherever the same solver runs, and
    :func:`top_right_singular_vectors` (``return_solver``) and GFCF's ``svd_solver_``
    say which one did.
    """
    if solver != "auto":
        return solver
    budget = max_memory_mb * 2**20
    if min(shape) <= 2000 and svd_working_memory("dense", shape, k) <= budget:
        return "dense"
    if _propack_enabled() and svd_working_memory("propack", shape, k) <= budget:
        return "propack"
    if not _propack_enabled() and \
            svd_working_memory("chebyshev", shape, k, n_oversamples) <= budget:
        return "chebyshev"
    need = svd_working_memory("arpack", shape, k)
    if need > budget:
        raise MemoryError(
            f"the top {k} singular vectors of a {shape[0]} x {shape[1]} matrix need about "
            f"{need / 2**20:.0f} MiB of working arrays even with ARPACK, the lightest exact "
            f"solver, above the budget of {max_memory_mb} MiB: raise max_svd_memory_mb, "
            "lower n_factors, or choose svd_solver yourself")
    return "arpack"


def _largest_k(shape, solver):
    """The largest ``k`` that ``solver`` computes for an (m, n) matrix: ``min(m, n)``, one less
    for ARPACK (SciPy's ``svds`` requires ``k < min(m, n)`` there, and takes
    ``k = min(m, n)`` with PROPACK)."""
    return min(shape) - 1 if solver == "arpack" else min(shape)


def _fallback_solver(shape, k, max_memory_mb, n_oversamples):
    """Where ``"auto"`` goes when PROPACK does not converge: Chebyshev if it fits the
    budget, else ARPACK."""
    fits = svd_working_memory("chebyshev", shape, k, n_oversamples) <= max_memory_mb * 2**20
    return "chebyshev" if fits else "arpack"


def top_right_singular_vectors(A, k, solver="auto", random_state=0, n_oversamples=128,
                               n_power_iter=4, backend="numba", max_memory_mb=MAX_SVD_MEMORY_MB,
                               return_solver=False):
    r"""The ``k`` largest singular values of sparse ``A`` and their right vectors.

    Parameters
    ----------
    A : scipy sparse, shape (m, n)
        Real, finite entries (a DataError names the first NaN or infinite one); a dense
        2-d array is taken as ``scipy.sparse.csr_matrix(A)``, an integer or bool one is
        cast to float64.
    k : int, 1 <= k <= min(m, n) (``< min(m, n)`` for ARPACK)
        Above the solver's limit it is a DataError, never fewer vectors than asked for.
    solver : {"auto", "dense", "arpack", "propack", "randomized", "chebyshev"}
        ``"auto"`` is ``"dense"`` (LAPACK on ``A.toarray()``) when
        ``min(m, n) <= 2000``, else ``"propack"``, or ``"chebyshev"`` on a
        SciPy that ships PROPACK switched off (``SCIPY_USE_PROPACK=1``
        turns it on) and wherever PROPACK does not converge (its Lanczos
        limit of ``10 k`` steps: seen on uniformly random sparse matrices,
        whose top singular values lie close together). A solver whose
        working arrays (:func:`svd_working_memory`) would exceed
        ``max_memory_mb`` is passed over for ``"arpack"``, the lightest;
        see :func:`_resolve_solver`. ``"arpack"`` and ``"propack"`` call
        :func:`scipy.sparse.linalg.svds`; ``"chebyshev"`` is
        :func:`_chebyshev_right_vectors`, our own exact solver, on every
        platform; ``"randomized"`` is :func:`_randomized_right_vectors`,
        approximate in the trailing vectors. The exact solvers agree with
        ``"dense"`` (LAPACK) to at most 1e-9 in the projector ``V Vᵀ``
        (largest entry) and 2e-8 in its 2-norm, and to 2e-12 in the
        singular values (measured 2026-12-07, not in ``benchmarks/results``:
        40 x 30 and 400 x 300 random matrices and ML-100K at k = 64 and 256;
        ARPACK agrees to 1e-14 and 1e-13 in the projector, 3e-15 in the
        values; PROPACK's projector differs by up to 7.7e-10 / 1e-8, and
        Chebyshev's, whose residual tolerance is 1e-10, by up to 1.6e-10 /
        1.5e-8, its values by up to 1.7e-12).
    random_state : int or numpy Generator
        Seeds ARPACK's start vector ``v0``, PROPACK, and the randomized and
        Chebyshev solvers' start block: the same seed gives the same vectors.
    n_oversamples : int
        Extra columns of the randomized and Chebyshev solvers' block.
    n_power_iter : int
        Randomized solver only.
    backend : {"numba", "numpy"}
        The sparse products of the Chebyshev solver
        (:func:`minigraphrec.ops.spmm`); the same numbers either way.
    max_memory_mb : float > 0, default 8192
        ``"auto"`` only: the budget for the solver's working arrays, in MiB. An explicit
        solver runs whatever its estimate (a measurement of a solver above the budget,
        ``benchmarks/bench_svd_memory.py``, asks for that); :class:`GFCF` refuses one
        above its ``max_svd_memory_mb`` up front.
    return_solver : bool, default False
        Also return the name of the solver that ran.

    Returns
    -------
    s : float64 (k,), descending
    V : float64 (n, k), orthonormal columns, ``V[:, j]`` the right singular
        vector of ``s[j]``, its sign fixed so that its entry of largest
        magnitude is positive (as scikit-learn's ``svd_flip``): a solver's
        sign is arbitrary and changed with the BLAS thread count.
    solver : str, only with ``return_solver``
    """
    A = _check_svd_input(A)
    m, n = A.shape
    if solver not in SVD_SOLVERS:
        raise DataError(f"solver must be one of {SVD_SOLVERS}, got {solver!r}")
    k = check_int(k, "k")
    n_oversamples = check_int(n_oversamples, "n_oversamples", at_least=0)
    n_power_iter = check_int(n_power_iter, "n_power_iter", at_least=0)
    max_memory_mb = check_param_number(max_memory_mb, "max_memory_mb", above=0.0)
    check_random_state(random_state)
    check_backend(backend)
    check_bool(return_solver, "return_solver")
    if k > min(m, n):
        raise DataError(f"k={k} is too large for a {m} x {n} matrix: it needs k <= {min(m, n)}")
    rng = np.random.default_rng(random_state)
    resolved = _resolve_solver(solver, A.shape, k, max_memory_mb, n_oversamples)
    if k > _largest_k(A.shape, resolved):
        raise DataError(f"k={k} is too large for a {m} x {n} matrix: the {resolved!r} solver "
                        f"needs k < {min(m, n)}")
    if solver == "auto" and resolved == "propack":
        start = time.perf_counter()
        try:
            return top_right_singular_vectors(A, k, "propack", random_state,
                                              return_solver=return_solver)
        except np.linalg.LinAlgError as err:  # "did not converge within kmax", an invariant
            resolved = _fallback_solver(A.shape, k, max_memory_mb, n_oversamples)
            # subspace, or wrong triplets (_check_triplets): always said, with the time lost
            # (an Amazon-Book-sized run fell back after minutes without a word)
            logger.warning("GFCF: svd_solver='auto' chose PROPACK, which failed after %.1f s "
                           "(%s); using svd_solver=%r instead", time.perf_counter() - start,
                           err, resolved)
    solver = resolved
    if solver == "dense":
        _, s, Vt = np.linalg.svd(A.toarray(), full_matrices=False)        # (r,), (r, n)
        s, V = s[:k], Vt[:k].T
    elif solver == "randomized":
        s, V = _randomized_right_vectors(A, k, n_oversamples, n_power_iter, rng)
    elif solver == "chebyshev":
        s, V = _chebyshev_right_vectors(A, k, n_oversamples, rng, backend)
    else:
        if solver == "arpack":
            v0 = rng.uniform(-1.0, 1.0, size=min(m, n))
            _, s, Vt = svds(A, k=k, solver="arpack", v0=v0)
        else:
            U, s, Vt = svds(A, k=k, solver="propack",
                            random_state=np.random.default_rng(rng.integers(2**63)))
            _check_triplets(A, U, s, Vt)
        order = np.argsort(s)[::-1]                                       # svds: ascending
        s, V = s[order], Vt[order].T
    s, V = np.asarray(s, dtype=np.float64), np.ascontiguousarray(V, dtype=np.float64)
    if V.size:                                 # each column's largest entry positive, exactly
        V *= np.sign(V[np.argmax(np.abs(V), axis=0), np.arange(V.shape[1])])
    return (s, V, solver) if return_solver else (s, V)


def _check_svd_input(A):
    """``A`` for :func:`top_right_singular_vectors`: a scipy sparse matrix (CSR, CSC or COO
    kept as they are, another format as CSR; a dense 2-d array as CSR) of a float dtype
    (integers and bools as float64) with finite entries, else DataError (TypeError for
    what is no matrix at all)."""
    if not sp.issparse(A):
        if A is None or isinstance(A, (str, bytes, dict, set)):
            raise TypeError(f"A must be a scipy sparse matrix, got {type(A).__name__}")
        A = np.asarray(A)
        if A.ndim != 2:
            raise DataError(f"A must be 2-d, got shape {A.shape}")
        A = sp.csr_matrix(check_real_sparse(A, "A"))
    elif A.format not in ("csr", "csc", "coo"):
        A = A.tocsr()
    check_real_sparse(A, "A")
    if A.dtype.kind != "f":
        A = A.astype(np.float64)
    check_finite_sparse(A, "A")
    return A


#: the largest residual ``|A v - s u|`` PROPACK's triplets may have, relative to the largest
#: singular value (Gowalla's R̃ at k = 256: 1.2e-12; the wrong ones below: 0.15)
_TRIPLET_TOLERANCE = 1e-6


def _check_triplets(A, U, s, Vt):
    """LinAlgError unless ``(U, s, Vt)`` are singular triplets of ``A``: SciPy's PROPACK can
    return wrong ones without an error where singular values repeat (``svds(eye(50), k=5,
    solver="propack")`` gives 1.18 to 1.40 for singular values of 1, residuals 0.15). One
    product with ``A``: 0.4 s beside the 9.7 s of Gowalla's SVD at k = 256."""
    if s.size == 0:
        return
    scale = max(float(np.max(s)), np.finfo(np.float64).tiny)
    residual = np.linalg.norm(A @ Vt.T - U * s, axis=0).max() / scale
    if not residual <= _TRIPLET_TOLERANCE:
        raise np.linalg.LinAlgError(
            f"PROPACK returned singular triplets with a relative residual of {residual:.2g} "
            f"(above {_TRIPLET_TOLERANCE:g}), as it can where singular values repeat; "
            f"svd_solver='arpack', 'dense' or 'chebyshev' compute them otherwise")


# ----------------------------------------------------------------- estimator
class GFCF(Recommender):
    r"""GF-CF (Shen et al., CIKM 2021): linear plus ideal low-pass graph filter.

    .. math::
        s_u = \underbrace{(r_u \tilde R^\top)\,\tilde R}_{\text{linear filter}}
          \;+\; \alpha\,\underbrace{\big((r_u D_I^{-1/2}) V\big)\big(V^\top D_I^{1/2}\big)}
          _{\text{ideal low-pass}},
        \qquad \tilde R = D_U^{-1/2} R D_I^{-1/2},

    with ``V`` (n_items, k) the top-k right singular vectors of ``R̃``. No
    training: ``fit`` normalises ``R`` and computes ``V``; scores are
    computed per user batch without any (n_items, n_items) matrix.

    Parameters
    ----------
    alpha : float >= 0, default 0.3
        Weight of the ideal low-pass term (0: linear filter only, no SVD).
        Changed after ``fit`` (``set_params``), it takes effect at once:
        the term is only rescaled, nothing is recomputed (unless it was 0
        at ``fit``: no vectors were computed, a refit is needed).
    n_factors : int >= 1, default 256
        ``k``, the number of singular vectors.
    svd_solver : {"auto", "dense", "arpack", "propack", "randomized", "chebyshev"}
        See ``top_right_singular_vectors`` in ``models/gfcf.py``. Fit times measured on
        2 cores with one of them busy (``benchmarks/bench_gfcf_gowalla.py``,
        k = 256): on Gowalla (29,858 × 40,981) PROPACK 7.4 s, ARPACK 30 s,
        Chebyshev 41 s (40.1 s re-run after its degree cap); on a 50,000 × 50,000
        synthetic catalogue with 220,000 interactions (a flatter spectrum) PROPACK 12.8 s,
        Chebyshev 35 s, ARPACK 664 s (``benchmarks/bench_catalogues.py``, busier
        machine). The exact solvers reproduce the paper's Recall@20 /
        NDCG@20 on Gowalla (0.1849 / 0.1518); the randomized subspace,
        approximate in its trailing directions, gave 0.1856 / 0.1531 with
        ``n_oversamples=128, n_power_iter=2`` (the benchmark script's
        default; the model's is 4), as recorded in
        ``benchmarks/results/gfcf_gowalla_randomized.json``.
        The filter differs slightly; it is not a better model in any
        principled sense.
    n_oversamples, n_power_iter : int, default 128 and 4
        ``l = n_factors + n_oversamples`` columns for the randomized and
        Chebyshev solvers; ``n_power_iter`` steps of subspace iteration for
        the randomized one.
    dtype : {"float32", "float64"}, default "float32"
        Precision of the scoring products (the SVD is always float64).
    backend : {"numba", "numpy"}, default "numba"
        The sparse-times-dense products (``R̃ᵀ X`` of the linear term, and
        the Chebyshev solver's): the parallel numba kernel of
        :func:`minigraphrec.ops.spmm`, or SciPy's serial product (the
        reference; both give the same numbers).
    random_state : int or Generator, default 0
        Seeds the SVD's start vector or sketch.
    max_svd_memory_mb : float > 0, default 8192
        The budget for the SVD solver's working arrays, in MiB (``svd_working_memory``
        in ``models/gfcf.py``, an estimate from the shape, ``k`` and ``n_oversamples``).
        With ``svd_solver="auto"``, PROPACK is passed over for ARPACK when its Lanczos
        bases could exceed it (from about 335,000 users plus items at k = 256 under the
        default), and ``fit`` refuses up front (MemoryError) when even ARPACK's would.
        An explicit solver whose estimate exceeds it is refused up front too (DataError
        naming the estimate: ``"dense"`` on Gowalla at k = 256 would need 28,000 MiB),
        rather than filling the machine's memory; raise the budget to run it anyway.
        The choice depends on the shape, ``k``, the budget and whether SciPy enables
        PROPACK, never on the machine's free memory.

    Attributes
    ----------
    R_ : csr_matrix (n_users, n_items), binary training matrix
    R_tilde_ : csr_matrix (n_users, n_items), ``R̃`` in ``dtype``
    d_users_, d_items_ : float64 (n_users,), (n_items,), degrees
    singular_values_ : float64 (k,), descending (empty when alpha == 0)
    V_ : float64 (n_items, k), the right singular vectors, each column's entry of
        largest magnitude positive (``top_right_singular_vectors``)
    svd_solver_ : str or None
        The solver that computed them (``svd_solver="auto"`` resolved, after
        any fallback); None when ``alpha == 0``.
    n_users_, n_items_ : int

    Notes
    -----
    Users with no training item score 0 everywhere; items with no training
    user score 0 for everyone. Scoring a batch of ``b`` users costs a dense
    (n_users, b) and two (b, n_items) arrays.

    The article's open problems (§8):

    * ``explain(u, i)``: exact, over the user's training items ``j`` through
      both filters, ``c_j = [R̃ᵀR̃]_ji + α d_j^{-1/2} (V_j · V_i) d_i^{1/2}``
      (the split between the two terms is in ``method``); the sum equals the
      score to the precision of ``dtype``.
    * ``score_history(items)``: the history as the row ``r_u`` of both
      filters; a user's own history gives ``score([u])`` bit for bit.
    * ``partial_fit`` / ``forget``: a ``fit`` on the union / on what remains,
      exactly, because everything is recomputed: one new or removed pair
      changes two degrees, hence a whole row and column of ``R̃``, and a
      truncated SVD has no exact update. No time is saved over a refit. It
      is a fit with the *current* hyperparameters: one changed since
      ``fit`` (``n_factors``, ``svd_solver``, ``dtype``, ...) takes effect
      there, as in a new ``fit``, since nothing of the old state is reused.
    """

    #: the updates refit from ``R`` alone: any hyperparameter may change after fit
    _params_free_after_fit = None

    def __init__(self, alpha=0.3, n_factors=256, svd_solver="auto", n_oversamples=128,
                 n_power_iter=4, dtype="float32", backend="numba", random_state=0,
                 max_svd_memory_mb=MAX_SVD_MEMORY_MB):
        self.alpha = alpha
        self.n_factors = n_factors
        self.svd_solver = svd_solver
        self.max_svd_memory_mb = max_svd_memory_mb
        self.n_oversamples = n_oversamples
        self.n_power_iter = n_power_iter
        self.dtype = dtype
        self.backend = backend
        self.random_state = random_state

    def _check_alpha(self):
        check_param_number(self.alpha, "alpha", at_least=0.0)
        return self.alpha

    def _fitted_alpha(self):
        """``alpha`` as scoring uses it, checked: set after fit, it rescales the ideal term,
        unless the fit computed no singular vectors (``alpha`` was 0 then)."""
        a = self._check_alpha()
        if a > 0 and self.V_.shape[1] == 0:
            raise ValueError(f"alpha is {a!r}, but the model was fitted with alpha = 0 and "
                             "computed no singular vectors: fit it again")
        return a

    def _check_params(self):
        self._check_alpha()
        for name, low in (("n_factors", 1), ("n_oversamples", 0), ("n_power_iter", 0)):
            check_int(getattr(self, name), name, at_least=low)
        if self.svd_solver not in SVD_SOLVERS:
            raise DataError(f"svd_solver must be one of {SVD_SOLVERS}, got {self.svd_solver!r}")
        check_param_number(self.max_svd_memory_mb, "max_svd_memory_mb", above=0.0)
        float_dtype(self.dtype)                            # float32 or float64
        check_random_state(self.random_state)
        check_backend(self.backend)

    def fit(self, train):
        r"""Normalise ``R`` and compute the top singular vectors. Returns ``self``."""
        self._check_params()
        train = check_interactions(train)
        k = int(self.n_factors)
        if self.alpha > 0:                  # before anything is set: a refusal changes nothing
            self._check_svd((train.n_users, train.n_items), k)
        R = self._fit_interactions(train)                                 # (n_users, n_items)
        dtype = np.dtype(self.dtype)
        R_tilde, self.d_users_, self.d_items_ = normalized_interactions(R)
        self.R_tilde_ = R_tilde.astype(dtype)                             # (n_users, n_items)
        if self.alpha > 0:
            # the estimator's own choice ("auto" included, with its fallback), as the function;
            # said before it starts: on a large catalogue it runs for minutes
            logger.info("GFCF: computing the top %d singular vectors of the %d x %d R~ "
                        "(svd_solver=%r)...", k, R.shape[0], R.shape[1], self.svd_solver)
            start = time.perf_counter()
            try:
                s, V, used = top_right_singular_vectors(
                    R_tilde, k, self.svd_solver, self.random_state,
                    int(self.n_oversamples), int(self.n_power_iter), self.backend,
                    self.max_svd_memory_mb, return_solver=True)
            except np.linalg.LinAlgError as exc:    # explicit "propack" ("auto" falls back)
                found = re.search(r"invariant subspace of dimension (\d+)", str(exc))
                if self.svd_solver != "propack" or found is None:
                    raise
                raise DataError(self._propack_rank_message(k, int(found.group(1)))) from exc
            # which solver ran, and its time: which is fastest depends on the data (PROPACK
            # on Gowalla, gfcf_gowalla*.md)
            logger.info("GFCF: top %d singular vectors of the %d x %d R~ by svd_solver=%r%s "
                        "in %.1f s", k, R.shape[0], R.shape[1], used,
                        " (the 'auto' choice)" if self.svd_solver == "auto" else "",
                        time.perf_counter() - start)
        else:
            s, V, used = np.empty(0), np.empty((R.shape[1], 0)), None
        self.singular_values_, self.V_ = s, V                             # (k,), (n_items, k)
        self.svd_solver_ = used
        self._restore()
        return self

    def _propack_rank_message(self, k, found):
        """Why an explicit ``svd_solver="propack"`` stopped: ``n_factors`` above the rank.

        SciPy's PROPACK raises a bare LinAlgError ("An invariant subspace of dimension d
        was found") when its Lanczos process runs out of directions before ``k``: R̃'s rank
        is below ``k`` (an item or user with no interaction, identical columns), or
        singular values repeat. It does not always (a start vector can carry it past the
        rank), so nothing is refused up front. ``"auto"`` falls back to another solver
        instead; an explicit solver is not swapped behind the caller's back (a timing
        or a comparison of solvers asked for that one), so here it is an error.
        ``"dense"``, ``"chebyshev"`` and ``"randomized"`` complete the basis with
        vectors of singular value 0, which add nothing to the scores (up to rounding): the
        ideal filter meets them only through rows of R̃'s row space.
        """
        R = self.R_
        users = int(np.count_nonzero(np.diff(R.indptr)))
        items = int(np.unique(R.indices).size)
        return (f"n_factors={k} is above what svd_solver='propack' finds in R̃: its Lanczos "
                f"process ended in an invariant subspace of dimension {found}, R̃'s rank "
                f"unless singular values repeat ({users} users and {items} items have "
                f"interactions: the rank is at most {min(users, items)}); use n_factors <= "
                f"{found}, or svd_solver='auto', 'dense' or 'chebyshev', which return "
                "vectors of singular value 0 past the rank")

    def _check_svd(self, shape, k):
        """Raise DataError if ``k`` does not suit the solver or an explicit solver's working
        arrays would exceed ``max_svd_memory_mb``, MemoryError if ``"auto"`` finds no solver
        within it."""
        limit = min(shape)
        if k > limit:
            raise DataError(f"n_factors={k} is too large for a {shape[0]} x {shape[1]} "
                             f"matrix: it needs n_factors <= {limit} (GFCF(n_factors={limit}); "
                             f"on the command line -p n_factors={limit})")
        solver = _resolve_solver(self.svd_solver, shape, k, self.max_svd_memory_mb,
                                 int(self.n_oversamples))
        if k > _largest_k(shape, solver):
            raise DataError(f"n_factors={k} is too large for a {shape[0]} x {shape[1]} "
                             f"matrix: the {solver!r} solver needs n_factors < {limit}")
        if self.svd_solver == "auto":                     # chosen within the budget
            return
        need = svd_working_memory(solver, shape, k, int(self.n_oversamples))
        if need > self.max_svd_memory_mb * 2**20:
            enough = int(np.ceil(need / 2**20))
            raise DataError(
                f"svd_solver={solver!r} needs about {need / 2**20:,.0f} MiB of working arrays "
                f"for the top {k} singular vectors of the {shape[0]} x {shape[1]} R̃ "
                f"(svd_working_memory), above max_svd_memory_mb={self.max_svd_memory_mb}: "
                f"raise it (GFCF(max_svd_memory_mb={enough}); on the command line "
                f"-p max_svd_memory_mb={enough}) or use another svd_solver ('auto' picks one "
                "within the budget)")

    def _restore(self):
        """Derive the scoring arrays from the fitted attributes (after fit or io.load)."""
        super()._restore()
        dtype = np.dtype(self.dtype)
        self._R_tilde_T = self.R_tilde_.T.tocsr()                         # (n_items, n_users)
        self._item_filter = self._sparse_item_filter()                    # (n_items, n_items)
        self._R_scoring = self.R_.astype(dtype)                           # (n_users, n_items)
        d_items, V = self.d_items_, self.V_
        self._V_in = (_inv_sqrt(d_items)[:, None] * V).astype(dtype)      # (n_items, k) D^-1/2 V
        self._V_out = np.ascontiguousarray((V * np.sqrt(d_items)[:, None]).T,
                                           dtype=dtype)                 # (k, n_items) Vᵀ D^1/2
        self.__dict__.pop("_explain_csc", None)               # made by the first explain

    def _sparse_item_filter(self):
        r"""``R̃ᵀR̃`` as a sparse matrix when it is small and cheap to use, else None.

        Forming it costs ``Σ_u d_u²`` multiply-adds (also a bound on its
        nonzeros): allowed up to :data:`_ITEM_FILTER_PRODUCTS`. Scoring
        all users through it costs ``Σ_i d_i · nnz(row i)`` sparse
        multiply-adds, against ``nnz(R) · n_users`` dense ones for the
        transposed product of :meth:`_linear_T`; the cheaper one is used
        (on sparse catalogues, the filter: a few hundred products per user).
        """
        R_t = self.R_tilde_
        d_users = np.diff(R_t.indptr).astype(np.float64)
        if float(d_users @ d_users) > _ITEM_FILTER_PRODUCTS:
            return None
        F = sp.csr_matrix(self._R_tilde_T @ R_t)                          # (n_items, n_items)
        F.sort_indices()
        d_items = np.diff(self._R_tilde_T.indptr).astype(np.float64)
        cost_filter = float(d_items @ np.diff(F.indptr))
        if cost_filter > float(R_t.nnz) * R_t.shape[0]:
            return None
        return F

    def _linear_T(self, R_b):
        r"""The linear term, transposed: ``R̃ᵀ (R̃ R_bᵀ)``, shape (n_items, b).

        ``R̃ R_bᵀ`` (n_users, b) is a sparse product made dense; ``R̃ᵀ`` times
        it is a CSR-times-dense product (SciPy's, or the parallel numba
        kernel of :func:`minigraphrec.ops.spmm`).
        """
        X = self.R_tilde_ @ R_b.T                                         # (n_users, b) sparse
        if (R_b.shape[0] <= FEW_ROWS and self.R_tilde_.has_canonical_format
                and self._R_tilde_T.has_sorted_indices):
            return self._few_linear_T(X)
        X_T = X.toarray()                                                 # (n_users, b)
        if self.backend == "numba":
            from ..ops import spmm
            return spmm(self._R_tilde_T, X_T, backend="numba")           # (n_items, b)
        return np.asarray(self._R_tilde_T @ X_T)                          # (n_items, b)

    def _few_linear_T(self, X):
        r"""``R̃ᵀ X`` for the sparse (n_users, b) ``X`` of a few users, through the rows of
        ``R̃`` that ``X`` touches only: ``(Xᵀ R̃)ᵀ``, (n_items, b) dense.

        The same bits as the CSR-times-dense product over all of ``R̃ᵀ``: that sums row
        ``i``'s stored entries ``R̃ᵀ[i, u] X[u]`` in the order of ``u`` (``_R_tilde_T``'s
        indices are sorted); SciPy's sparse product adds the same products ``X[u] R̃[u, i]``
        in the same order of ``u`` (the rows of ``Xᵀ``, sorted too) and leaves out the
        terms with ``X[u] = 0``, which add exactly 0 to a sum of nonnegative terms. A
        one-user GF-CF call on Gowalla spent 3.2 of its 8.3 ms reading all 810k entries of
        ``R̃ᵀ`` for a vector that is mostly zeros (ad hoc, 1 thread).
        """
        Y = (sp.csr_matrix(X.T) @ self.R_tilde_).tocsr()                 # (b, n_items) sparse
        out = np.zeros((self.n_items_, X.shape[1]), dtype=X.dtype)       # (n_items, b)
        for r in range(X.shape[1]):
            lo, hi = Y.indptr[r], Y.indptr[r + 1]
            out[Y.indices[lo:hi], r] = Y.data[lo:hi]
        return out

    _scores_into = True

    def _score_dtype(self):
        return self._R_scoring.dtype

    def _score_batch(self, users, out=None):
        r"""GF-CF scores of ``users``: (len(users), n_items) in ``dtype``, C-ordered."""
        return self._score_rows(self._R_scoring[users], out=out)          # (b, n_items)

    def _score_rows(self, R_b, out=None):
        r"""GF-CF scores of binary rows ``R_b`` (b, n_items) in ``dtype``: (b, n_items).

        Written into ``out`` (C-contiguous, ``dtype``) when it is given."""
        b = R_b.shape[0]
        alpha = self._fitted_alpha()
        if alpha > 0:
            S = few_rows_matmul(np.asarray(R_b @ self._V_in), self._V_out,  # (b, k) @ (k, n_items)
                                out=out)
            S *= alpha
        elif out is None:
            S = np.zeros((b, self.n_items_), dtype=self._R_scoring.dtype)
        else:
            S = out
            S.fill(0)
        if self._item_filter is not None:
            linear = sp.csr_matrix(R_b @ self._item_filter)               # (b, n_items) sparse
            rows = np.repeat(np.arange(b), np.diff(linear.indptr))
            S[rows, linear.indices] += linear.data                        # pairs are distinct
            return S
        linear_T = self._linear_T(R_b)                                    # (n_items, b)
        # S += linear_T.T, by column blocks: a plain transposed add strides through memory
        # and was measured 2x slower on (512, 41k) float32 batches
        for j in range(0, S.shape[1], _ADD_BLOCK):
            S[:, j:j + _ADD_BLOCK] += linear_T[j:j + _ADD_BLOCK].T
        return S

    # ------------------------------------------------------ open problems
    def _explain(self, user, item, k):
        r"""One contribution per training item ``j`` of the user, through both filters.

        .. math::
            c_j = [\tilde R^\top \tilde R]_{ji}
                  + \alpha\, d_j^{-1/2}\,(V_j \cdot V_i)\, d_i^{1/2},
            \qquad s_{ui} = \sum_{j \in I_u} c_j .

        Computed in float64 from the fitted arrays; the sum equals the score
        to the precision of ``dtype``: 1e-12 relative in float64; in float32,
        where the score itself is float32, about 1e-6 of the user's largest
        score (a small score may be off by more, relative to itself).
        """
        from ..explain import Explanation

        items = self.R_[user].indices.astype(np.int64)                    # (|I_u|,)
        Rt = self._R_tilde_csc()                                          # (n_users, n_items)
        linear = np.asarray((Rt[:, items].T @ Rt[:, [item]]).todense()).ravel()   # (|I_u|,)
        V, d = self.V_, self.d_items_
        alpha = float(self._fitted_alpha())
        ideal = alpha * _inv_sqrt(d[items]) * (V[items] @ V[item]) * np.sqrt(d[item])
        return Explanation.from_contributions(
            user, item, items, linear + ideal, kind="item",
            score=self.score([user])[0, item], exact=True, k=k,
            method=(f"exact: s_ui = Σ_j [R̃ᵀR̃]_ji + α d_j^-1/2 (V_j·V_i) d_i^1/2 over the "
                    f"user's items j; linear filter {linear.sum():.6g}, ideal low-pass "
                    f"{ideal.sum():.6g}"))

    def _R_tilde_csc(self):
        """``R̃`` as a float64 CSC matrix, for :meth:`_explain`'s column slices: made at the
        first call and kept while ``R_tilde_`` is the same object (``base.kept``: never saved
        or pickled; the updates drop it)."""
        R = self.R_tilde_
        return kept(self, "_explain_csc", R, lambda: sp.csc_matrix(R, dtype=np.float64))

    def _score_history(self, items):
        r"""The scores of a user whose row of ``R`` is ``items``: (n_items,) float64.

        The history enters as the left-hand row ``r_u`` of both filters
        (``R̃`` and ``V`` stay those of the training data), so a training
        user's own history gives exactly ``score(u)``.
        """
        dtype = self._R_scoring.dtype
        r = sp.csr_matrix((np.ones(items.size, dtype=dtype), items, [0, items.size]),
                          shape=(1, self.n_items_))                       # (1, n_items)
        return np.asarray(self._score_rows(r)[0], dtype=np.float64)       # (n_items,)

    def _refit_on(self, R, user_ids, item_ids):
        """A fresh GFCF with these hyperparameters fitted on ``R``; ``self`` unchanged."""
        return type(self)(**self.get_params()).fit(
            self._training_interactions(R, user_ids, item_ids))

    def _take_state(self, other):
        for name in ("R_", "n_users_", "n_items_", "user_ids_", "item_ids_", "R_tilde_",
                     "d_users_", "d_items_", "singular_values_", "V_", "svd_solver_",
                     "_R_tilde_T",
                     "_item_filter", "_R_scoring", "_V_in", "_V_out"):
            setattr(self, name, getattr(other, name))
        self.__dict__.pop("_explain_csc", None)

    def partial_fit(self, new_interactions, epochs=None):
        r"""Add interactions; the filter is rebuilt on the union (equals ``fit`` on it exactly).

        Nothing is reused: a new pair changes a user's and an item's degree,
        which rescales every entry of ``R̃`` in that row and column, and the
        top singular vectors of ``R̃`` have no exact low-rank update. So the
        normalisation, the sparse item filter and the truncated SVD are all
        recomputed (the SVD is the cost), with the current hyperparameters.
        ``epochs`` is ignored.
        """
        merge = self._merge_new(new_interactions)
        self._take_state(self._refit_on(merge.R, merge.user_ids, merge.item_ids))
        self._set_item_labels(merge.item_labels)
        return self

    def forget(self, users=None, interactions=None):
        r"""Remove users or pairs; the filter is rebuilt from what remains (equals ``fit`` on it).

        Every array (``R_``, ``R_tilde_``, degrees, ``V_``, the derived
        scoring arrays) is recomputed from the remaining data, so a saved
        file holds nothing of the forgotten pairs.
        """
        removal = self._removal(users, interactions)
        self._take_state(self._refit_on(removal.R, removal.user_ids, self.item_ids_))
        return self
