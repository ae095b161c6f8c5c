r"""Baselines for next-item prediction in sessions: popularity, a Markov chain, item kNN.

What a sequence model such as :class:`~minigraphrec.models.srgnn.SRGNN` has to beat, each
fitted on the same data (:class:`~minigraphrec.sequences.Sequences`, or an
:class:`~minigraphrec.data.Interactions` with timestamps, read as one time-ordered
sequence per user) and scored the same way, ``score_sessions(sessions) -> (n, n_items)``,
so that :func:`~minigraphrec.sequences.evaluate_next_item` compares them all:

* :class:`SessionPopularity` ignores the session: what is clicked most;
* :class:`MarkovChain` reads only the last item: what followed it in training;
* :class:`SessionItemKNN` reads every item of the session but not their order (except
  through a recency weight): what occurred in the same sessions as they did.

Notation: a training set of sessions ``s = [s_1, ..., s_n]`` over ``n_items`` items;
``N`` events in all; ``n_j`` the number of events of item ``j``.
"""
from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from ..errors import DataError, check_backend, check_bool, check_int, check_param_number
from .session_base import SessionRecommender
from ..rank import _row_chunks
from ..ops.sparse import spgemm_dense
from .knn import topk_similarity

__all__ = ["SessionPopularity", "MarkovChain", "SessionItemKNN"]

logger = logging.getLogger(__name__)


def _event_counts(seqs):
    """``n_j``: the number of training events of each item, (n_items,) float64."""
    return np.bincount(seqs.items, minlength=seqs.n_items).astype(np.float64)



#: SessionItemKNN's default ``max_memory_mb``: the co-occurrence matrix ``BᵀB`` and its
#: copies while ``fit`` builds the similarities (``k_neighbors=None``)
MAX_MEMORY_MB = 2048
#: bytes per stored entry of ``G = BᵀB`` at the peak of ``SessionItemKNN``'s
#: ``k_neighbors=None`` fit: ``G`` in CSR (8 + 4), its COO triplets, the off-diagonal mask,
#: values and indices, and the similarity CSR built from them. Measured with
#: ``tracemalloc`` on ``synthetic_sessions`` (20,000 sessions of 2,000 items, mean length 8,
#: and 50,000 of 5,000, mean length 12; nnz(G) 0.39 and 2.2 million): a peak of 53.5 and
#: 50.6 bytes per entry of ``G``
G_BYTES_PER_ENTRY = 56
#: entries (bounded) of ``G``'s rows counted at once by the exact count
_COUNT_BLOCK = 1 << 22


class SessionPopularity(SessionRecommender):
    r"""Every session gets the same scores: the items' training event counts.

    .. math:: \mathrm{score}(j \mid s) = n_j ,

    the number of events of item ``j`` in the training sessions (an item clicked twice in
    one session counts twice; ``Popularity``, by contrast, counts distinct users). Ties rank
    the smaller item id first, as everywhere in the project. The floor: a sequence model
    that does not beat it has learnt nothing about sessions.

    Attributes
    ----------
    popularity_ : (n_items,) float64, ``n_j``
    """

    def __init__(self):
        pass

    _sessions_into = True

    def _fit_model(self, seqs):
        self.popularity_ = _event_counts(seqs)                        # (n_items,)

    def _score_sessions(self, sessions, out=None):
        if out is None:
            return np.repeat(self.popularity_[None, :], len(sessions), axis=0)   # (b, n_items)
        out[...] = self.popularity_[None, :]
        return out


class MarkovChain(SessionRecommender):
    r"""First-order Markov chain over items: what followed the session's last item.

    Fit: the transition counts ``C_ij``, the number of times item ``j`` comes right after
    item ``i`` inside a training session (the pairs ``(s_t, s_{t+1})``; never across two
    sessions), their row sums ``c_i = Σ_j C_ij`` and the event counts ``n_j``.

    Score, for a session whose last item is ``i``, with additive smoothing ``α``
    (``smoothing``) and ``D_i = c_i + α · n_items``:

    .. math::
        P(j \mid i) = \frac{C_{ij} + α}{D_i}, \qquad
        \mathrm{score}(j \mid s) = P(j \mid i) + \frac{n_j / N}{2 D_i}
        \quad\text{if } c_i > 0 .

    The second term only breaks ties (with ``popularity_tiebreak=True``, the default): the
    ``P`` values of one row differ by multiples of ``1/D_i`` and the term is below
    ``1/(2 D_i)``, so the ranking is by ``P(j | i)`` first and, among equal ``P`` (the many
    transitions never seen), by popularity. **Back-off**: when ``c_i = 0`` (the item never
    had a successor in training: unseen, or only ever last), the score is the popularity
    distribution ``n_j / N``. Training sessions that hold no transition at all (each of one
    item) leave only the back-off; ``fit`` then logs a warning.

    Smoothing never changes the ranking inside one row (``(C_ij + α) / D_i`` grows with
    ``C_ij``); it matters where the scores are read as probabilities, in a blend say.

    Parameters
    ----------
    smoothing : float >= 0, ``α`` (0: maximum likelihood)
    popularity_tiebreak : bool
    backend : {"numba", "numpy"}
        ``"numba"`` writes every score once (:mod:`minigraphrec.kernels.markov`);
        ``"numpy"`` is the reference below (the counts densified, then smoothed, divided
        and tie-broken in place). The same bits.

    Attributes
    ----------
    transitions_ : csr_matrix (n_items, n_items), ``C``
    popularity_ : (n_items,) float64, ``n_j``
    """

    _sessions_into = True

    def __init__(self, smoothing=0.0, popularity_tiebreak=True, backend="numba"):
        self.smoothing = smoothing
        self.popularity_tiebreak = popularity_tiebreak
        self.backend = backend

    def _check_params(self):
        check_param_number(self.smoothing, "smoothing", at_least=0.0)
        check_bool(self.popularity_tiebreak, "popularity_tiebreak")
        check_backend(self.backend)

    def _fit_model(self, seqs):
        follows = np.ones(seqs.items.shape[0], dtype=bool)            # (n_events,)
        follows[seqs.indptr[:-1][seqs.lengths > 0]] = False           # first events follow none
        cur = np.flatnonzero(follows)                                 # positions of s_{t+1}
        n = seqs.n_items
        C = sp.csr_matrix((np.ones(cur.shape[0]), (seqs.items[cur - 1], seqs.items[cur])),
                          shape=(n, n))                               # duplicates are summed
        C.sum_duplicates()
        C.sort_indices()
        self.transitions_ = C                                         # (n_items, n_items)
        self.popularity_ = _event_counts(seqs)                        # (n_items,) n_j
        self._restore_counts()
        if C.nnz == 0:
            logger.warning("MarkovChain.fit: no transition in the %d training sessions (each "
                           "has fewer than two items), so every session is scored by the "
                           "back-off, popularity", len(seqs))

    def _restore_counts(self):
        self._out = np.asarray(self.transitions_.sum(axis=1)).ravel()  # (n_items,) c_i

    def _restore(self):
        super()._restore()
        self._restore_counts()

    def _score_sessions(self, sessions, out=None):
        self._check_params()          # as fit: set_params may change any of the three since
        last = sessions.items[sessions.indptr[1:] - 1]                # (b,)
        p_pop = self.popularity_ / self.popularity_.sum()             # (n_items,)
        D = self._out[last] + float(self.smoothing) * self.n_items_   # (b,)
        seen = self._out[last] > 0                                    # (b,)
        D = np.where(seen, D, 1.0)                                    # (b,); unseen: overwritten
        if self.backend == "numba":
            from ..kernels.markov import markov_scores
            C = self.transitions_
            S = np.empty((len(sessions), self.n_items_)) if out is None else out
            markov_scores(C.indptr, C.indices, C.data, last, seen, D, p_pop,
                          float(self.smoothing), bool(self.popularity_tiebreak), S)
            return S
        S = self.transitions_[last].toarray(out=out)                  # (b, n_items) C_ij
        # In place, over chunks of rows: the tie-break's p_j / (2 D_s) is a temporary of one
        # chunk, not of the whole block (which doubled the memory of evaluate_next_item).
        for rows in _row_chunks(*S.shape):
            S_r, D_r = S[rows], D[rows, None]                         # (chunk, n), (chunk, 1)
            if self.smoothing:
                S_r += float(self.smoothing)
            S_r /= D_r
            if self.popularity_tiebreak:
                S_r += p_pop[None, :] / (2.0 * D_r)
        S[~seen] = p_pop[None, :]                                     # back-off
        return S


class SessionItemKNN(SessionRecommender):
    r"""Item neighbourhoods from co-occurrence in sessions, summed over the session's items.

    Fit: ``B`` (n_sessions, n_items), ``B_si = 1`` when training session ``s`` contains
    item ``i`` (repeats collapse), and the cosine similarity of the items' session sets,

    .. math::
        \mathrm{sim}(i, j) = \frac{(B^\top B)_{ij}}{\sqrt{(B^\top B)_{ii}\,(B^\top B)_{jj}}
        + λ} \quad (i \ne j), \qquad \mathrm{sim}(i, i) = 0,

    ``(BᵀB)_ij`` being the number of sessions holding both ``i`` and ``j`` and ``λ`` the
    shrinkage (``shrink``); with ``k_neighbors``, each row keeps its ``k`` largest entries
    (``topk_similarity`` of ``models/knn.py``, ties to the smaller id).

    Score of item ``j`` after the session ``s = [s_1, ..., s_n]``:

    .. math:: \mathrm{score}(j \mid s) = \sum_{t=1}^{n} w_t\, \mathrm{sim}(s_t, j),

    with ``w_t = 1`` (``recency=None``), ``w_t = t / n`` (``"linear"``: the latest item
    weighs most), or ``w_t = [t = n]`` (``"last"``: the last item alone, the item-KNN
    baseline of the GRU4Rec paper, Hidasi et al., ICLR 2016). A repeated item counts once
    per occurrence. Neighbourhood methods over sessions as strong baselines for recurrent
    networks: Jannach & Ludewig, "When Recurrent Neural Networks meet the Neighborhood for
    Session-Based Recommendation", RecSys 2017.

    Parameters
    ----------
    k_neighbors : int >= 1 or None (keep every co-occurring item)
        None builds the whole co-occurrence matrix ``G = BᵀB`` (one entry per pair of
        items that share a session, up to ``n_items²``) and keeps every off-diagonal
        entry; an integer keeps each item's ``k`` best, built in blocks of bounded memory
        (``topk_similarity``).
    shrink : float >= 0, ``λ``
    recency : None, "linear" or "last"
    backend : {"numba", "numpy"}
        How the session weights meet the similarities, ``W @ sim``:
        :func:`~minigraphrec.ops.spgemm_dense` writes each score row straight into
        the block (``"numba"``), or SciPy's sparse product then ``toarray`` (``"numpy"``,
        the reference); with ``k_neighbors``, also how ``topk_similarity`` builds the
        neighbourhoods. The same bits.
    max_memory_mb : float > 0 or None, default 2048
        With ``k_neighbors=None``, ``fit`` refuses (a DataError, before building ``G``)
        when ``G`` and its copies would take more than this many MiB,
        ``G_BYTES_PER_ENTRY`` (56) bytes per stored entry of ``G``; None: no limit. The
        count is first bounded cheaply (``Σ_i min(Σ_{s ∋ i} d_s, n_items)``, ``d_s`` the
        distinct items of session ``s``), and counted exactly, one block of items at a
        time, only when that bound is above the budget. The way out: ``k_neighbors=100``,
        say, or a larger budget.

    Attributes
    ----------
    similarity_ : csr_matrix (n_items, n_items), ``sim`` (row ``i``: the neighbours of ``i``)
    """

    RECENCY = (None, "linear", "last")
    _sessions_into = True

    def __init__(self, k_neighbors=None, shrink=0.0, recency=None, backend="numba",
                 max_memory_mb=MAX_MEMORY_MB):
        self.k_neighbors = k_neighbors
        self.shrink = shrink
        self.recency = recency
        self.backend = backend
        self.max_memory_mb = max_memory_mb

    def _check_params(self):
        check_int(self.k_neighbors, "k_neighbors", or_none=True)
        check_param_number(self.shrink, "shrink", at_least=0.0)
        self._check_recency()
        check_backend(self.backend)
        mb = getattr(self, "max_memory_mb", MAX_MEMORY_MB)    # a model saved before it: default
        if mb is not None:
            check_param_number(mb, "max_memory_mb (None: no limit)", above=0.0)

    def _check_recency(self):
        if self.recency not in self.RECENCY:
            raise DataError(f"recency must be one of {self.RECENCY}, got {self.recency!r}")

    def _fit_model(self, seqs):
        rows = np.repeat(np.arange(len(seqs)), seqs.lengths)          # (n_events,)
        B = sp.csr_matrix((np.ones(rows.shape[0]), (rows, seqs.items)),
                          shape=(len(seqs), seqs.n_items))
        B.data[:] = 1.0                                               # repeats collapse
        if self.k_neighbors is not None:
            self.similarity_ = topk_similarity(B.T.tocsr(), int(self.k_neighbors), "cosine",
                                               float(self.shrink), backend=self.backend)
            return
        self._check_memory(B)
        G = (B.T @ B).tocoo()                                         # (n_items, n_items)
        norms = np.sqrt(G.diagonal())                                 # (n_items,)
        off = G.row != G.col
        vals = G.data[off] / (norms[G.row[off]] * norms[G.col[off]] + float(self.shrink))
        S = sp.csr_matrix((vals, (G.row[off], G.col[off])), shape=G.shape)
        S.sort_indices()
        self.similarity_ = S

    def _check_memory(self, B):
        """DataError when ``G = BᵀB`` and its copies would take more than ``max_memory_mb``:
        a cheap bound on ``nnz(G)`` first, the exact count (blocks of rows of ``G``, each
        counted and dropped) only when the bound is above the budget."""
        mb = getattr(self, "max_memory_mb", MAX_MEMORY_MB)
        if mb is None:
            return
        n_items = B.shape[1]
        d = np.diff(B.indptr).astype(np.float64)                      # (n_sessions,) d_s
        row_bound = np.minimum(B.T @ d, n_items)                      # (n_items,) >= nnz(G_i)
        if row_bound.sum() * G_BYTES_PER_ENTRY <= mb * 2**20:
            return
        Bt, n_entries, start = B.T.tocsr(), 0, 0                      # (n_items, n_sessions)
        ends = np.cumsum(row_bound)                                   # (n_items,)
        while start < n_items:                       # rows of G whose bounds sum to a block
            stop = max(int(np.searchsorted(ends, ends[start] - row_bound[start] + _COUNT_BLOCK,
                                           side="right")), start + 1)
            n_entries += (Bt[start:stop] @ B).nnz                     # (stop - start, n_items)
            start = stop
        need = n_entries * G_BYTES_PER_ENTRY / 2**20
        if need > mb:
            raise DataError(
                f"SessionItemKNN with k_neighbors=None builds the item co-occurrence matrix "
                f"G = BᵀB, {n_entries} stored entries over {n_items} items, and its copies "
                f"while fit builds the similarities: about {need:.3g} MiB, above "
                f"max_memory_mb={mb}. Keep each item's best neighbours instead "
                f"(k_neighbors=100, say, built in blocks of bounded memory), or raise "
                f"max_memory_mb")

    def _weights(self, sessions):
        """``w_t`` for every event of ``sessions``, (n_events,)."""
        self._check_recency()                            # as fit: set_params may change it
        lengths = sessions.lengths
        n_of = np.repeat(lengths, lengths)                            # (n_events,) n
        t = np.arange(sessions.items.shape[0]) - np.repeat(sessions.indptr[:-1], lengths) + 1
        if self.recency is None:
            return np.ones(t.shape[0])
        if self.recency == "linear":
            return t / n_of
        return (t == n_of).astype(np.float64)

    def _score_sessions(self, sessions, out=None):
        rows = np.repeat(np.arange(len(sessions)), sessions.lengths)  # (n_events,)
        W = sp.csr_matrix((self._weights(sessions), (rows, sessions.items)),
                          shape=(len(sessions), self.n_items_))       # duplicates are summed
        return spgemm_dense(W, self.similarity_, backend=getattr(self, "backend", "numba"),
                            out=out)                                  # (b, n_items)
