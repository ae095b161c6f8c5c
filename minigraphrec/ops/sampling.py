r"""Training-pair samplers that never return a user's own positives.

* :func:`sample_bpr` draws BPR triples ``(u, i, j)`` the way LightGCN's
  reference code does (``UniformSample_original``): ``u`` uniform over the
  users with at least one positive, ``i`` uniform over ``u``'s positives,
  ``j`` uniform over the items ``u`` has not touched.
* :func:`sample_negatives` draws ``k`` negatives per given user, for BCE.

The positives are the stored entries of the training matrix ``R``
(n_users, n_items), whatever their value.

Randomness. Every random number is drawn here, from one NumPy Generator, in
a fixed order; the backend (``"numpy"`` reference or ``"numba"`` kernel)
only maps the draws to item ids, deterministically. So the same seed gives
the same arrays on every backend.

Departure from LightGCN's code, same distribution. LightGCN finds a negative
by rejection: draw an item, redraw while the user has it. We draw the
negative's *rank* ``r`` uniformly among the user's ``n_items - n_u``
non-positives and map it to the ``r``-th non-positive item (see
:mod:`minigraphrec.kernels.sampling`). That is the same uniform
distribution, with exactly one draw per negative: no loop whose length
depends on luck, and no endless loop for a user who has every item (that
user is an error, named in the message with the count of such users; the
models' training, :mod:`minigraphrec.train`, samples from ``R`` with those
users' rows emptied instead). LightGCN also draws users over all
users and drops the draws that hit a user without positives, returning fewer
than ``nnz(R)`` triples; we draw over the users with positives only and
return exactly ``n_samples``; the kept draws have the same distribution.
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError, check_backend, check_ids, check_int, check_random_state
from .sparse import as_csr

__all__ = ["sample_bpr", "sample_negatives", "nth_absent_reference"]


def _positives(R):
    """``R`` as canonical CSR (sorted, duplicate-free indices) with at least one item column."""
    R = as_csr(R, name="R")
    if not R.has_canonical_format:
        R = R.copy()
        R.sum_duplicates()                               # also sorts the indices
    if R.shape[1] == 0:
        raise DataError(f"R has shape {R.shape}: there are no items to sample")
    return R


def _check_has_negatives(R, users, deg):
    """Raise naming the first of ``users`` whose positives are all the items, and their count."""
    full = deg == R.shape[1]
    if np.any(full):
        u = int(users[np.flatnonzero(full)[0]])
        n_full = np.unique(users[full]).size
        others = (f", and so do {n_full - 1} other user(s) asked for" if n_full > 1
                  else ", the only such user asked for")
        raise DataError(f"user {u} has all {R.shape[1]} items as positives in R{others}: no "
                        f"negative item exists for them. Empty their rows of R before sampling "
                        f"(the models' training leaves such users out by itself, with a "
                        f"warning)")


def nth_absent_reference(indptr, indices, n_cols, rows, ranks):
    r"""NumPy reference of :func:`minigraphrec.kernels.sampling.nth_absent`.

    ``out[q]`` is the ``ranks[q]``-th (0-based) column absent from row
    ``rows[q]`` of the canonical CSR ``(indptr, indices)`` with ``n_cols``
    columns: ``out = r + #{k : p_k - k <= r}`` over the row's sorted
    positives ``p_k``, counted for all queries at once with one
    ``searchsorted`` on the keys ``row * n_cols + (p_k - k)``, which are
    sorted because ``p_k - k`` never decreases along a row and stays in
    ``0 .. n_cols - nnz_row``.

    Shapes: ``indptr`` (n_rows + 1,), ``indices`` (nnz,), ``rows`` and
    ``ranks`` (n,) -> (n,) int64.
    """
    n_rows = indptr.shape[0] - 1
    if (n_rows + 1) * n_cols >= 2 ** 63:
        raise OverflowError(f"keys row * n_cols overflow int64 for shape ({n_rows}, {n_cols})")
    deg = np.diff(indptr).astype(np.int64)                               # (n_rows,)
    row_of = np.repeat(np.arange(n_rows, dtype=np.int64), deg)           # (nnz,)
    k = np.arange(indices.shape[0], dtype=np.int64) - indptr[row_of]     # (nnz,) place in row
    keys = row_of * n_cols + (indices - k)                               # (nnz,) sorted
    rows = np.asarray(rows, dtype=np.int64)
    ranks = np.asarray(ranks, dtype=np.int64)
    below = np.searchsorted(keys, rows * n_cols + ranks, side="right") - indptr[rows]  # (n,)
    return ranks + below


def _nth_absent(R, rows, ranks, backend):
    """Dispatch the rank -> item map; ``rows``, ``ranks`` (n,) int64 -> (n,) int64."""
    if backend == "numpy":
        return nth_absent_reference(R.indptr, R.indices, R.shape[1], rows, ranks)
    from ..kernels.sampling import nth_absent
    out = np.empty(rows.shape[0], dtype=np.int64)
    return nth_absent(R.indptr, R.indices, rows, ranks, out)


def sample_bpr(R, n_samples=None, random_state=None, backend="numba"):
    r"""Draw BPR triples ``(u, i, j)``: ``R[u, i]`` stored, ``R[u, j]`` not.

    Each triple is drawn independently (with replacement):

    * ``u`` uniform over the users with at least one positive (users with
      none cannot be sampled and are skipped by design);
    * ``i`` uniform over ``u``'s positives (distinct stored columns);
    * ``j`` uniform over the ``n_items - n_u`` items that are not positives
      of ``u``.

    Parameters
    ----------
    R : scipy sparse matrix or array, shape (n_users, n_items)
        Training interactions; every stored entry is a positive, whatever
        its value (call ``R.eliminate_zeros()`` first if explicit zeros
        should not count). Non-canonical CSR (unsorted or duplicate indices)
        is canonicalised on a copy.
    n_samples : int >= 0, optional
        Number of triples. Default ``R.nnz`` (after merging duplicates): one
        epoch in LightGCN's sense.
    random_state : None, int or numpy.random.Generator
        Seed for ``np.random.default_rng``; a Generator is used (and
        advanced) in place.
    backend : {"numba", "numpy"}
        Who maps the drawn negative ranks to item ids; same output either way.

    Returns
    -------
    users, pos, neg : ndarray, each (n_samples,) int64

    Raises
    ------
    DataError
        If ``R`` has no stored entry or no item column, or if some user has
        every item as a positive (no negative exists; the message names the
        first such user and counts them); if ``n_samples`` is no integer >= 0
        (a bool or a float is refused, as ``minigraphrec.errors.check_int``
        refuses every count).

    Notes
    -----
    Draw order (fixed, it defines the stream for a seed): all user indices,
    then all positive offsets, then all negative ranks.
    """
    check_backend(backend)
    R = _positives(R)
    indptr, indices = R.indptr, R.indices
    deg = np.diff(indptr).astype(np.int64)               # (n_users,) positives per user
    active = np.flatnonzero(deg)                         # (n_active,) users that can be drawn
    if active.size == 0:
        raise DataError(f"R (shape {R.shape}) has no stored entries: there is no "
                        "positive to sample")
    _check_has_negatives(R, active, deg[active])
    n = R.nnz if n_samples is None else check_int(n_samples, "n_samples", at_least=0)

    rng = np.random.default_rng(check_random_state(random_state))
    users = active[rng.integers(0, active.size, size=n)]                # (n,)
    n_pos = deg[users]                                                  # (n,)
    pos = indices[indptr[users] + rng.integers(0, n_pos)].astype(np.int64)   # (n,)
    neg_rank = rng.integers(0, R.shape[1] - n_pos)                      # (n,)
    neg = _nth_absent(R, users, neg_rank, backend)                      # (n,)
    return users, pos, neg


def sample_negatives(R, users, n_negatives=1, random_state=None, backend="numba"):
    r"""Draw ``n_negatives`` items per user, each uniform over that user's non-positives.

    For BCE training with ``k`` negatives per positive: pass the users of the
    positive pairs, get ``k`` negatives for each. Draws are independent, so
    a row may repeat an item.

    Parameters
    ----------
    R : scipy sparse matrix or array, shape (n_users, n_items)
        Training interactions; every stored entry is a positive (see
        :func:`sample_bpr`).
    users : array-like of int, shape (n,)
        Internal user ids in ``0 .. n_users-1``, repeats allowed. A user with
        no positive gets negatives uniform over all items.
    n_negatives : int >= 1
    random_state : None, int or numpy.random.Generator
    backend : {"numba", "numpy"}

    Returns
    -------
    neg : ndarray, shape (n, n_negatives), int64
        ``R[users[b], neg[b, t]]`` is never stored.

    Raises
    ------
    DataError
        If a user id is out of range, ``R`` has no item column, a given
        user has every item as a positive (the first named, all counted), or
        ``n_negatives`` is no integer >= 1 (a bool or a float included).
    """
    check_backend(backend)
    R = _positives(R)
    n_negatives = check_int(n_negatives, "n_negatives")
    users = check_ids(users, "users", R.shape[0])
    n_pos = np.diff(R.indptr).astype(np.int64)[users]                   # (n,)
    _check_has_negatives(R, users, n_pos)

    rng = np.random.default_rng(check_random_state(random_state))
    ranks = rng.integers(0, (R.shape[1] - n_pos)[:, None],
                         size=(users.shape[0], n_negatives))            # (n, n_negatives)
    rows = np.repeat(users, n_negatives)                                # (n * n_negatives,)
    neg = _nth_absent(R, rows, ranks.ravel(), backend)                  # (n * n_negatives,)
    return neg.reshape(users.shape[0], n_negatives)
