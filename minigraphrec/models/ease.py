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
error instead of a swap storm. ``fit`` peaks at about one n × n array: the
Gram matrix is written straight into a C-ordered dense array, a few rows at a
time (no sparse ``RᵀR``, which on dense data would take 12 bytes an entry),
and inverted in place, in tiles (:func:`minigraphrec.linalg.spd_inverse`),
which adds a few ``block_size²`` tiles. ``partial_fit`` and ``forget`` peak
at about two: the old ``B_`` is kept until the new one is complete, so that
a failed update leaves the model as it was.

Time: only the ``m`` items with a training user are inverted (an item nobody
has has a zero Gram row and column, so ``RᵀR + λI`` is block diagonal and its
``B`` row and column are exactly 0): ``fit`` does ``m³`` flops, not
``n_items³``, in the leading ``m²`` entries of ``B`` itself, and ``B`` stays a
dense (n_items, n_items) array, as saved, scored, explained and quantized
(its rows of items without users are zeros that are never written, but with
transparent huge pages, which NumPy requests for large arrays on Linux, each
written row maps the 2 MB around it: the memory still grows with ``n_items²``,
and so does the time the OS takes to provide it; a saved file holds it all).
``partial_fit`` and ``forget`` likewise work on the items with a user before
or after the update.

Departure from the usual code (``np.linalg.inv`` or
``cho_solve(cho_factor(G), I)``): the Gram matrix is factorised and
inverted in tiles of at most 2048 × 2048, because the OpenBLAS shipped with
NumPy and SciPy crashes the process (segmentation fault) in its threaded
Cholesky of matrices of about 16,000 rows and more on AVX-512 CPUs. The
result is the same to rounding (``tests/test_ease.py``), and the tile
inverse does ``n³`` flops where Cholesky plus two full triangular solves
do ``7n³/3``.

Threads: the tiles go to a BLAS that runs with the thread count in force,
and OpenBLAS's threaded ``dpotrf``, ``dtrtri`` and ``dgemm`` round
otherwise than its serial ones (:mod:`minigraphrec.linalg`), so ``B_``
depends in its last bits on the BLAS thread count: on the built-in
``synthetic()`` data (1,500 items, ``l2`` = 50), 1 against 2 threads,
2,022,790 of its 2,250,000 entries differed, by at most 1.9e-15 of
``max |B|`` (AMD EPYC, OpenBLAS 0.3.31). Fit under
``minigraphrec.threads(1)`` for bits that do not depend on the cores; the
same thread count gives the same bits run after run. Scoring is a SciPy
sparse-times-dense product, without BLAS: the same bits under any count.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..data import check_interactions
from ..errors import check_int, check_param_number
from ..linalg import DEFAULT_BLOCK, spd_inverse
from .base import Recommender

__all__ = ["EASE"]



class EASE(Recommender):
    r"""EASE (Steck, WWW 2019): ``B = I − P diagMat(1/diag P)``, ``P = (RᵀR + λI)⁻¹``.

    Parameters
    ----------
    l2 : float > 0, default 500.0
        ``λ``, the L2 penalty on ``B``.
    max_items : int or None, default 20000
        Refuse catalogues larger than this (``B`` alone needs
        ``8 n_items²`` bytes: 3.2 GB at 20,000 items, items without users
        included, as ``B`` keeps its full shape; ``fit`` peaks at about
        that plus a few ``block_size²`` tiles, ``partial_fit`` and
        ``forget`` at about twice that, as the old ``B_`` stays until the new
        one is complete). The time does not depend on it: the inverse covers
        only the items with a training user. None lifts the guard.
    block_size : int, default 2048
        Tile size of the factorisation (:func:`minigraphrec.linalg.spd_inverse`);
        no BLAS call sees a larger matrix (tiles above
        :data:`minigraphrec.linalg.SERIAL_LAPACK_ABOVE` rows are factorised on
        one BLAS thread). ``B_`` depends on it, as on the BLAS thread count
        (module docstring: Threads), in its last bits only.

    Attributes
    ----------
    B_ : ndarray float64 (n_items, n_items), zero diagonal
    P_diag_ : ndarray float64 (n_items,)
        ``diag(P)``, kept for the low-rank updates of ``partial_fit`` and
        ``forget`` (``P = (I − B) diag(P_diag_)``).
    R_ : csr_matrix (n_users, n_items), binary training matrix
    n_users_, n_items_ : int

    Notes
    -----
    ``RᵀR + λI`` is symmetric positive definite for any ``λ > 0``, so it is
    inverted through its Cholesky factor, in tiles. An item with no training user has
    ``B`` row and column 0 (exactly: it is left out of the inverse, ``P_jj = 1/λ``):
    it neither receives nor gives score.

    The article's open problems (§8):

    * ``explain(u, i)``: exact, ``s_ui = Σ_{j ∈ I_u} B_ji`` over the user's
      training items.
    * ``score_history(items)``: ``r B``; a user's own history gives
      ``score(u)`` bit for bit.
    * ``partial_fit`` / ``forget``: ``B`` of a fit on the union / on what
      remains, with the ``l2`` of the fit (a changed ``l2`` is refused;
      ``max_items`` and ``block_size`` may change), to rounding (tested at
      1e-12 relative to ``max |B|``); the rounding grows as ``l2``
      falls: forgetting 150 users of the built-in data in an ad-hoc run
      (2026-12-06, not in ``benchmarks/results``), ``max|B - B_refit| /
      max|B|`` was 4.5e-15 at ``l2`` = 100, 4.5e-14 at 1 and 6.6e-11 at 0.01. The
      Gram matrix changes by a low-rank ``U C Uᵀ`` (the changed users' rows),
      and ``P`` follows by Woodbury's identity in ``n² t`` flops instead of
      a new ``m³`` inverse (a new inverse when ``t > m / 8``, ``m`` the items with a
      user before or after); see
      :meth:`_updated_B`. Items left with no user get exact zeros.
    """

    #: ``B`` depends on ``l2`` alone: the size guard and the tile size may change after fit
    _params_free_after_fit = ("max_items", "block_size")

    def __init__(self, l2=500.0, max_items=20000, block_size=DEFAULT_BLOCK):
        self.l2 = l2
        self.max_items = max_items
        self.block_size = block_size

    def _check_params(self):
        check_param_number(self.l2, "l2", above=0.0)
        check_int(self.max_items, "max_items", or_none=True)
        check_int(self.block_size, "block_size")

    def fit(self, train):
        r"""Solve for ``B`` in closed form. Returns ``self``."""
        self._check_params()
        self._check_size(check_interactions(train).n_items)
        R = self._fit_interactions(train)                                 # (n_users, n_items)
        self.B_, self.P_diag_ = self._solve(R)
        return self

    def _gram(self, R, out=None):
        r"""``G = RᵀR`` as a dense C-ordered (n_items, n_items) float64 array, built in rows.

        C order is what :func:`~minigraphrec.linalg.spd_inverse` inverts in place (a
        Fortran-ordered array, which ``(R.T @ R).toarray()`` gives, it would copy first).
        Each block of rows ``G[s:e] = R[:, s:e]ᵀ R`` is a sparse product written into
        ``G``'s own rows, ``s:e`` sized so that it holds at most ``block_size²`` entries:
        no (n, n) sparse Gram matrix exists at any time. ``R`` is binary, so every entry is
        an exact integer count, the same whatever the order of the sums. ``out``, if given,
        is a zeroed C-ordered (n_items, n_items) float64 array to write into (the sums
        add to it).
        """
        R = sp.csr_matrix(R, dtype=np.float64)                            # (n_users, n_items)
        n = R.shape[1]
        RT = R.T.tocsr()                                                  # (n_items, n_users)
        G = np.zeros((n, n)) if out is None else out                      # (n_items, n_items)
        rows = max(1, int(self.block_size) ** 2 // max(n, 1))
        for s in range(0, n, rows):
            (RT[s:s + rows] @ R).toarray(out=G[s:s + rows])               # (rows, n_items)
        return G

    def _solve(self, R):
        r"""``B`` (n_items, n_items) and ``diag(P)`` (n_items,) from ``R`` in closed form.

        Only the ``m`` items with a training user are inverted: an item ``j`` nobody has
        has a zero Gram row and column, so ``G + λI`` is block diagonal, ``P_jj = 1/λ``
        and ``B``'s row and column ``j`` are exactly 0. The (m, m) Gram matrix of the
        active items is built and inverted in the leading ``m²`` entries of the zeroed
        (n, n) ``B`` itself, then spread to its rows and columns in place
        (:func:`_spread`): ``n_items³`` flops become ``m³``, and the peak stays one
        (n, n) array (module docstring: Time). With every item
        active (``m = n``) this is the full solve, unchanged to the bit.
        """
        R = sp.csr_matrix(R, dtype=np.float64)                            # (n_users, n_items)
        n = R.shape[1]
        lam = float(self.l2)
        active = np.flatnonzero(np.bincount(R.indices, minlength=n) > 0)  # (m,) items with users
        m = active.size
        B = np.zeros((n, n))                                              # (n_items, n_items)
        p = np.full(n, 1.0 / lam)                                         # inactive: P_jj = 1/λ
        if m == 0:
            return B, p
        G = _leading_square(B, m)                                         # (m, m) C view of B
        self._gram(R if m == n else R[:, active], out=G)
        G[np.diag_indices_from(G)] += lam
        P = spd_inverse(G, int(self.block_size), overwrite_a=True)        # (m, m), in place
        p_a = np.diag(P).copy()                                           # (m,)
        P /= -p_a[None, :]                                                # B_ij = -P_ij / P_jj
        P[np.diag_indices_from(P)] = 0.0
        if m < n:
            _spread(B, active)
        p[active] = p_a
        return B, p

    def _score_batch(self, users):
        r"""``S = R[users] B``: (len(users), n_items) float64."""
        return np.asarray(self.R_[users] @ self.B_)                       # (b, n_items)

    # ------------------------------------------------------ open problems
    def _explain(self, user, item, k):
        r"""``s_ui = Σ_{j ∈ I_u} B_ji``: one contribution per training item ``j`` of the user."""
        from ..explain import Explanation

        items = self.R_[user].indices.astype(np.int64)                    # (|I_u|,)
        return Explanation.from_contributions(
            user, item, items, self.B_[items, item], kind="item",
            score=self.score([user])[0, item], exact=True, k=k,
            method="exact: s_ui = Σ_j R_uj B_ji over the user's items j")

    def _score_history(self, items):
        r"""``s = r B`` with ``r`` the 0/1 row of ``items``: (n_items,) float64."""
        return np.asarray(self._history_row(items) @ self.B_)[0]          # (n_items,)

    def _check_size(self, n_items, method="fit"):
        """Refuse more than ``max_items`` items, with the memory ``method`` would need:
        one dense n × n float64 array for ``fit``, two for ``partial_fit`` and ``forget``
        (the old ``B_`` stays until the new one is complete). ``B`` is n × n whatever the number ``m`` of
        items with users (the (m, m) inverse is done inside it), so the guard counts n."""
        if self.max_items is not None and n_items > self.max_items:
            gb = 8 * n_items ** 2 / 1e9
            arrays = 1 if method == "fit" else 2
            need = (f"a dense {n_items} x {n_items} float64 matrix, B ({gb:.1f} GB, items "
                    "without users included)" if arrays == 1
                    else f"two dense {n_items} x {n_items} float64 matrices, the old B and "
                         f"the new ({2 * gb:.1f} GB)")
            raise ValueError(f"EASE.{method} needs {need}, plus a few block_size x "
                             f"block_size tiles, above max_items={self.max_items}; use a "
                             "smaller catalogue or set max_items=None if the memory is there")

    def _updated_B(self, R_old, R_new, old_rows, new_rows):
        r"""``B`` of a fit on ``R_new``, by a low-rank (Woodbury) update of ``P`` when it is cheaper.

        ``R_old`` is the training matrix padded to ``R_new``'s item count
        (new items are columns past the old ones); ``old_rows`` / ``new_rows``
        are the rows of the users whose items changed, before and after
        (a forgotten user has only an old row, a new one only a new row). The
        Gram matrix changes by ``ΔG = Σ r_newᵀ r_new − Σ r_oldᵀ r_old = U C Uᵀ``
        with ``U = [R_new[new_rows]ᵀ, R_old[old_rows]ᵀ]`` (n × t) and
        ``C = diag(+1, ..., −1, ...)``. The old ``P = (G + λI)⁻¹`` is
        recovered from ``B`` (``P = (I − B) diag(p)``, ``1/p_j = G_jj + λ −
        Σ_k G_jk B_kj`` since ``(G + λI)(I − B) = diag(1/p)``; see
        :meth:`_inverse_diag_of_P`), new items
        enter as ``I/λ`` blocks (their Gram rows are 0 before), and

        .. math::
            P' = P - P U\,(C^{-1} + U^\top P U)^{-1} U^\top P,

        ``n² t`` flops against ``n³`` for a new inverse. Only the ``m`` items
        with a user in ``R_old`` or ``R_new`` take part (``S``): for the others
        ``P`` is ``I/λ`` and ``U`` is 0, so ``P'`` is ``I/λ`` there too and ``n``
        is ``m`` in these counts; ``P_S`` is updated in the leading ``m²``
        entries of the new (n, n) ``B`` and spread in place (:func:`_spread`).
        When ``t > m / 8`` the inverse is recomputed from ``R_new`` instead
        (:meth:`_solve`). An item left with no training user gets ``B`` row
        and column exactly 0 and ``P_jj = 1/λ``, as ``fit`` gives it. Equal to
        a fit on ``R_new`` to rounding (tested against it at 1e-12 relative to
        ``max |B|``).

        Memory: the new ``P`` (n, n) beside the old ``B_``, which is only replaced once the
        update succeeded, plus ``U`` and ``P U`` (n, t) and one block of rows of
        ``P U (C⁻¹ + UᵀPU)⁻¹ UᵀP`` at a time (at most ``block_size²`` entries): about
        two n × n arrays in all.

        Returns ``(B, diag(P'), "woodbury" | "refit", t)``.
        """
        lam = float(self.l2)
        n, n_old = R_new.shape[1], self.n_items_
        U = sp.vstack([R_new[new_rows], R_old[old_rows]], format="csr")   # (t, n)
        sign = np.concatenate([np.ones(len(new_rows)), -np.ones(len(old_rows))])
        nonzero = np.diff(U.indptr) > 0
        U, sign = U[nonzero], sign[nonzero]
        t = U.shape[0]
        active_new = _column_counts(R_new) > 0                            # (n,)
        # items nobody has before or after keep P = I/λ there and B = 0: left out (S)
        S = np.flatnonzero(active_new | (_column_counts(R_old) > 0))      # (m,) sorted
        m = S.size
        if 8 * t > m or m == 0:
            return (*self._solve(R_new), "refit", t)
        p = getattr(self, "P_diag_", None)                                # (n_old,) diag of P
        if p is None:                                                     # a file saved before it
            p = 1.0 / self._inverse_diag_of_P(sp.csr_matrix(R_old[:, :n_old]))
        k = int(np.searchsorted(S, n_old))                                # S[:k] old items
        S_old = S[:k]
        buf = np.zeros((n, n))                                            # the new B, (n, n)
        P = _leading_square(buf, m)                                       # (m, m) C view
        rows = max(1, int(self.block_size) ** 2 // max(m, 1))             # no (n, n) temporary
        if k == n_old:                                                    # every old item in S
            np.multiply(self.B_, -p[None, :], out=P[:k, :k])              # (I - B) diag(p)
        else:
            for s in range(0, k, rows):
                e = min(s + rows, k)
                np.multiply(self.B_[np.ix_(S_old[s:e], S_old)], -p[S_old][None, :],
                            out=P[s:e, :k])
        P[np.arange(k), np.arange(k)] = p[S_old]
        P[np.arange(k, m), np.arange(k, m)] = 1.0 / lam                   # new items: I / λ
        U = (U if m == n else U[:, S]).toarray().T                        # (m, t)
        PU = P @ U                                                        # (m, t)
        M = np.diag(1.0 / sign) + U.T @ PU                                # (t, t)
        X = np.linalg.solve(M, PU.T)                                      # (t, m)
        for s in range(0, m, rows):
            P[s:s + rows] -= PU[s:s + rows] @ X                           # (rows, m) of P'
        empty = ~active_new[S]                                            # (m,) items nobody has
        p_S = np.diag(P).copy()                                           # (m,) diag of P'
        p_S[empty] = 1.0 / lam                                            # as fit: P_jj = 1/λ
        B = P                                                             # in place
        B /= -p_S[None, :]                                                # B_ij = -P'_ij / P'_jj
        B[np.diag_indices_from(B)] = 0.0
        B[empty, :] = 0.0
        B[:, empty] = 0.0
        if m < n:
            _spread(buf, S)
        p = np.full(n, 1.0 / lam)                                         # (n,) diag of P'
        p[S] = p_S
        return buf, p, "woodbury", t

    def _inverse_diag_of_P(self, R, block=1024):
        r"""``1 / diag(P)`` of the fitted ``B``: ``G_jj + λ − Σ_k G_jk B_kj``, ``G = RᵀR``.

        From ``(G + λI)(I − B) = diag(1 / P_jj)``. With binary ``R``,
        ``G_jj`` is item ``j``'s degree and ``Σ_k G_jk B_kj = Σ_u R_uj (R B)_uj``,
        accumulated over blocks of users (no (n, n) Gram matrix is formed).
        """
        R = sp.csr_matrix(R, dtype=np.float64)
        n = R.shape[1]
        GB = np.zeros(n)                                                  # (n,) diag of G B
        for start in range(0, R.shape[0], block):
            R_b = R[start:start + block].tocoo()                          # (b, n)
            RB = np.asarray(R[start:start + block] @ self.B_)             # (b, n)
            GB += np.bincount(R_b.col, weights=R_b.data * RB[R_b.row, R_b.col], minlength=n)
        degree = np.bincount(R.indices, weights=R.data ** 2, minlength=n)   # (n,) G_jj
        return degree + float(self.l2) - GB

    def partial_fit(self, new_interactions, epochs=None):
        r"""Add interactions (new users and items too); equals ``fit`` on the union to rounding.

        The Gram matrix changes only through the rows of the users who got
        new items: ``P`` is updated by Woodbury's identity in ``n² t`` flops
        (``t`` = changed rows, at most two per user), see :meth:`_updated_B`.
        ``epochs`` is ignored (nothing is trained). How ``B`` was obtained is
        left in ``self._last_update`` (not saved). ``l2`` must be that of the
        ``fit`` (``B`` was computed with it): a ValueError otherwise, and the
        model is left as it was.
        """
        self._check_params()
        merge = self._merge_new(new_interactions)
        self._check_size(merge.R.shape[1], "partial_fit")
        old = sp.csr_matrix(self.R_, copy=True)
        old.resize(merge.R.shape)                                         # new users/items: 0
        rows = np.unique(merge.users)
        B, p, how, t = self._updated_B(old, merge.R, rows, rows)
        self._last_update = {"method": how, "rank": t}
        self.R_, self.B_, self.P_diag_ = merge.R, B, p
        self.n_users_, self.n_items_ = merge.R.shape
        self.user_ids_, self.item_ids_ = merge.user_ids, merge.item_ids
        self._set_item_labels(merge.item_labels)
        return self

    def forget(self, users=None, interactions=None):
        r"""Remove users or pairs; equals ``fit`` on what remains, to rounding.

        A Woodbury downdate of ``P`` by the removed rows (see
        :meth:`_updated_B`); items every remaining user left get exact zero
        rows and columns. ``R_`` and ``B_`` are both rewritten, so a saved
        file holds nothing of the forgotten pairs beyond rounding. ``l2`` must
        be that of the ``fit``, as in :meth:`partial_fit`.
        """
        self._check_params()
        removal = self._removal(users, interactions)
        self._check_size(removal.R.shape[1], "forget")      # the old B_ and the new, as above
        old_rows = np.union1d(removal.removed_users, removal.removed_pairs[:, 0])
        new_of_old = np.full(self.n_users_, -1, dtype=np.int64)
        new_of_old[removal.keep_users] = np.arange(removal.keep_users.size)
        new_rows = new_of_old[old_rows]
        new_rows = new_rows[new_rows >= 0]
        B, p, how, t = self._updated_B(sp.csr_matrix(self.R_), removal.R, old_rows, new_rows)
        self._last_update = {"method": how, "rank": t}
        self.R_, self.B_, self.P_diag_ = removal.R, B, p
        self.n_users_ = removal.R.shape[0]
        self.user_ids_ = removal.user_ids
        return self


def _column_counts(R):
    """Number of stored entries in each column of a sparse ``R``: (n_cols,) int."""
    R = sp.csr_matrix(R)
    return np.bincount(R.indices, minlength=R.shape[1])


def _leading_square(A, m):
    """The first ``m²`` entries of the C-ordered ``A``, as a C-ordered (m, m) view."""
    return A.reshape(-1)[:m * m].reshape(m, m)


def _spread(A, idx):
    r"""In place: ``A``'s leading (m, m) block (:func:`_leading_square`) moves to
    ``A[np.ix_(idx, idx)]``, everything else becomes 0. ``idx`` is sorted, increasing, and
    ``A`` must be 0 outside the block on entry.

    Row ``k`` of the block sits at flat offsets ``[k m, (k + 1) m)`` and goes to row
    ``idx[k] ≥ k`` of ``A``, at ``[idx[k] n, idx[k] n + n)`` with ``idx[k] n ≥ k m``: moving
    the rows from the last to the first, no row is overwritten before it has moved (each
    row is copied out first, as its target may overlap itself). The rows outside ``idx``
    that overlap the block's old place are zeroed at the end; rows beyond it are still 0.
    """
    n, m = A.shape[0], idx.size
    flat = A.reshape(-1)
    end = m * m                                                           # block: flat[:end]
    for k in range(m - 1, -1, -1):
        row = flat[k * m:(k + 1) * m].copy()                              # (m,)
        target = A[idx[k]]                                                # (n,) view
        if idx[k] * n < end:                                              # may hold block data
            target[:] = 0.0
        target[idx] = row
    stale = np.ones(-(-end // n), dtype=bool)                             # rows meeting flat[:end]
    stale[idx[idx < stale.size]] = False
    A[np.flatnonzero(stale)] = 0.0

