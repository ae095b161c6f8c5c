r"""EASE: a shallow autoencoder with a closed-form solution.

Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019.
An item–item weight matrix ``B`` reconstructs each user's row from the
*other* items,

.. math::
    \hat B = \arg\min_B \lVert R - R B\rVert_F^2 + \lambda \lVert B\rVert_F^2
    \quad\text{s.t.}\quad \mathrm{diag}(B) = 0,

and the Lagrangian gives it in closed form: with ``P = (RᵀR + λI)^{-1}``,

.. math::
    \hat B = I - P\,\mathrm{diagMat}\big(1 / \mathrm{diag}(P)\big),
    \qquad\text{i.e.}\quad \hat B_{ij} = -P_{ij} / P_{jj}\ (i \ne j),\ \hat B_{jj} = 0 .

Scores are ``s_u = r_u B̂``. ``λ`` = ``l2`` (the paper's default 500 suits
MovieLens-20M-sized data; small data sets usually want less).

Memory: ``B`` is a dense (n_items, n_items) float64 matrix, ``8 n_items²``
bytes (1 GB at 11,180 items, 13.4 GB at 40,981). That is inherent to the
model; ``max_items`` turns a size that would exhaust a laptop into a clear
error instead of a swap storm. The inverse is computed in place, in tiles
(:func:`minigraphrec.linalg.spd_inverse`): one n × n array, no second one.

Departure from the usual code (``np.linalg.inv`` or
``cho_solve(cho_factor(G), I)``): the Gram matrix is factorised and
inverted in tiles of at most 2048 × 2048, because the OpenBLAS shipped with
NumPy and SciPy crashes the process (segmentation fault) in its threaded
Cholesky of matrices of about 16,000 rows and more on AVX-512 CPUs. The
result is the same to rounding (``tests/test_ease.py``), and the tile
inverse does ``n³`` flops where Cholesky plus two full triangular solves
do ``7n³/3``.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..linalg import DEFAULT_BLOCK, spd_inverse
from .base import Recommender, check_interactions

__all__ = ["EASE"]


class EASE(Recommender):
    r"""EASE (Steck, WWW 2019): ``B = I − P diagMat(1/diag P)``, ``P = (RᵀR + λI)⁻¹``.

    Parameters
    ----------
    l2 : float > 0, default 500.0
        ``λ``, the L2 penalty on ``B``.
    max_items : int or None, default 20000
        Refuse catalogues larger than this (``B`` alone needs
        ``8 n_items²`` bytes: 3.2 GB at 20,000 items). None lifts the guard.
    block_size : int, default 2048
        Tile size of the factorisation (:func:`minigraphrec.linalg.spd_inverse`);
        no BLAS call sees a larger matrix. The model does not depend on it
        beyond rounding.

    Attributes
    ----------
    B_ : ndarray float64 (n_items, n_items), zero diagonal
    R_ : csr_matrix (n_users, n_items), binary training matrix
    n_users_, n_items_ : int

    Notes
    -----
    ``RᵀR + λI`` is symmetric positive definite for any ``λ > 0``, so it is
    inverted through its Cholesky factor, in tiles. An item with no training user has
    ``B`` row and column 0: it neither receives nor gives score.
    """

    def __init__(self, l2=500.0, max_items=20000, block_size=DEFAULT_BLOCK):
        self.l2 = l2
        self.max_items = max_items
        self.block_size = block_size

    def _check_params(self):
        l2 = self.l2
        if isinstance(l2, bool) or not isinstance(l2, numbers.Real) or not np.isfinite(l2) \
                or l2 <= 0:
            raise ValueError(f"l2 must be a finite number > 0, got {l2!r}")
        m = self.max_items
        if m is not None and (isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 1):
            raise ValueError(f"max_items must be a positive integer or None, got {m!r}")
        b = self.block_size
        if isinstance(b, bool) or not isinstance(b, numbers.Integral) or b < 1:
            raise ValueError(f"block_size must be a positive integer, got {b!r}")

    def fit(self, train):
        r"""Solve for ``B`` in closed form. Returns ``self``."""
        self._check_params()
        n_items = check_interactions(train).n_items
        if self.max_items is not None and n_items > self.max_items:
            gb = 8 * n_items ** 2 / 1e9
            raise ValueError(f"EASE needs a dense {n_items} x {n_items} float64 matrix "
                             f"({gb:.1f} GB), above "
                             f"max_items={self.max_items}; use a smaller catalogue or set "
                             "max_items=None if the memory is there")
        R = self._fit_interactions(train)                                 # (n_users, n_items)
        G = (R.T @ R).toarray()                                           # (n_items, n_items) Gram
        G[np.diag_indices_from(G)] += float(self.l2)
        P = spd_inverse(G, int(self.block_size), overwrite_a=True)        # (n_items, n_items)
        B = P                                                             # in place: no copy
        B /= -np.diag(P).copy()[None, :]                                  # B_ij = -P_ij / P_jj
        B[np.diag_indices_from(B)] = 0.0
        self.B_ = B
        return self

    def _score_batch(self, users):
        r"""``S = R[users] B``: (len(users), n_items) float64."""
        return np.asarray(self.R_[users] @ self.B_)                       # (b, n_items)
