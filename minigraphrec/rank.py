r"""Ranking: similarity scores between embeddings and top-k selection.

(The eval helper extends this module: scoring functions and a numba top-k.)
"""
from __future__ import annotations

import numpy as np

__all__ = ["top_k"]


def top_k(scores, k, exclude=None):
    r"""The k largest entries of each row, best first, skipping excluded items.

    Parameters
    ----------
    scores : ndarray, shape (n_rows, n_items)
    k : int
    exclude : scipy.sparse CSR matrix, shape (n_rows, n_items), optional
        Nonzero entries are removed from the ranking (a user's seen items).

    Returns
    -------
    items : int64 (n_rows, k); scores : float64 (n_rows, k). Rows with fewer
    than k candidates are padded with item -1 and score -inf. Ties break
    toward the smaller item id.
    """
    S = np.array(scores, dtype=np.float64, copy=True)          # (n_rows, n_items)
    if exclude is not None:
        rows = np.repeat(np.arange(S.shape[0]), np.diff(exclude.indptr))
        S[rows, exclude.indices] = -np.inf
    k_eff = min(k, S.shape[1])
    order = np.argsort(-S, axis=1, kind="stable")[:, :k_eff]   # (n_rows, k_eff)
    vals = np.take_along_axis(S, order, axis=1)
    items = np.full((S.shape[0], k), -1, dtype=np.int64)
    out = np.full((S.shape[0], k), -np.inf)
    items[:, :k_eff] = np.where(np.isneginf(vals), -1, order)
    out[:, :k_eff] = vals
    return items, out
