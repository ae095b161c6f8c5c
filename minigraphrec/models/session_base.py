r"""What every next-item model shares: fitting on sequences, scoring sessions, ad-hoc sessions.

A next-item model reads ordered sessions (:class:`~minigraphrec.sequences.Sequences`), or an
:class:`~minigraphrec.data.Interactions` with timestamps read as one time-ordered sequence per
user, and scores every item after each session: ``score_sessions(sessions) -> (n, n_items)``,
the call :func:`~minigraphrec.sequences.evaluate_next_item` makes. This base class gives them
the estimator API on top of it: ``score(users)`` (each user's last training sequence as the
session), ``score_history(items)`` and ``recommend_history(items, k)`` for an ordered ad-hoc
session.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..data import Interactions
from ..errors import DataError, check_bool
from ..sequences import Sequences, user_sequences
from .base import Recommender, _check_k, plain_ids

__all__ = ["SessionRecommender"]


class SessionRecommender(Recommender):
    """Fitting on sessions, ``score_sessions``, ``score(users)`` and ad-hoc sessions.

    Subclasses implement ``_fit_model(sequences)`` and ``_score_sessions(sessions)``; the
    latter returns a new (b, n_items) array, never a view of the model's state, because
    ``score_sessions`` hands a single block to its caller as it is. A subclass whose
    ``_score_sessions(sessions, out=None)`` can write the float64 scores into ``out``
    (C-contiguous, (b, n_items)) and return it says so with ``_sessions_into = True``;
    ``score_sessions(sessions, out=)`` and :func:`~minigraphrec.sequences.evaluate_next_item`
    then score every block into one array instead of a fresh one per block.
    ``score(users)`` scores each user's last training sequence (in the order of ``train``;
    the latest one for sequences from :func:`~minigraphrec.sequences.user_sequences` or
    :func:`~minigraphrec.sequences.sessions_by_gap`) as the session; sessions without
    ``users`` leave it no user to score.
    """

    def fit(self, train):
        r"""Learn from ``train``: Sequences (sessions) or Interactions with timestamps (one
        time-ordered sequence per user). Returns ``self``."""
        self._check_params()
        self._fit_model(self._fit_sequences(train))
        return self

    def _fit_sequences(self, train):
        r"""Keep what scoring needs from ``train`` (sizes, ``R_``, raw ids, each user's last
        sequence) and return it as Sequences.

        ``train`` is checked whole, including the subclass's :meth:`_check_sequences`, before
        any attribute is set, so a refused ``train`` leaves the model as it was.
        Where ``sequences_`` has raw ids, they are the model's (``item_ids_``, ``user_ids_``:
        ints or strings, as :func:`~minigraphrec.models.base.plain_ids` makes them), so that
        it saves whatever array ``train`` held them in. A model
        with ``_params_free_after_fit`` also records the others (``fit_hyperparameters_``,
        :meth:`Recommender._record_fit_params`).
        """
        if isinstance(train, Interactions):
            name = type(self).__name__
            if train.timestamps is None:           # named here: the caller called fit
                raise DataError(f"{name}.fit reads an Interactions as one time-ordered "
                                f"sequence per user and needs its timestamps; this one has "
                                f"none (load a file with a timestamp column, or pass "
                                f"Sequences)")
            if len(train) == 0:
                raise DataError(f"{name}.fit: train holds no interaction")
            seqs = user_sequences(train)
        elif isinstance(train, Sequences):
            seqs = train
            if seqs.items.shape[0] == 0:
                raise DataError("train holds no event")
        else:
            raise TypeError(f"train must be an Interactions or a Sequences, "
                            f"got {type(train).__name__}")
        self._check_sequences(seqs)
        if isinstance(train, Interactions):
            self._fit_interactions(train)
        else:
            owned = seqs.users >= 0
            n_users = int(seqs.users[owned].max()) + 1 if owned.any() else 0
            user_ids = (np.arange(n_users) if seqs.user_ids is None     # checked before any
                        else plain_ids(seqs.user_ids[:n_users], "train.user_ids"))  # is set
            item_ids = (np.arange(seqs.n_items) if seqs.item_ids is None
                        else plain_ids(seqs.item_ids, "train.item_ids"))
            self.n_items_ = seqs.n_items
            self.n_users_ = n_users
            rows = np.repeat(seqs.users, seqs.lengths)                # (n_events,)
            keep = rows >= 0
            self.R_ = sp.csr_matrix((np.ones(int(keep.sum())), (rows[keep], seqs.items[keep])),
                                    shape=(self.n_users_, self.n_items_))
            self.R_.data[:] = 1.0
            self.R_.sort_indices()
            self.user_ids_, self.item_ids_ = user_ids, item_ids
            self.__dict__.pop("item_labels_", None)       # sessions carry no titles
        own = seqs.subset(np.flatnonzero(seqs.users >= 0))              # the users' own
        # the raw ids it has, as the model's (plain_ids: never an object array, which save
        # refuses)
        self.sequences_ = Sequences(
            own.indptr, own.items, own.n_items, users=own.users,
            item_ids=None if own.item_ids is None else self.item_ids_, end_time=own.end_time,
            session_ids=own.session_ids, user_ids=None if own.user_ids is None
            else self.user_ids_)
        self._index_last_sequences()
        self._record_fit_params()       # fit_hyperparameters_, for a model that keeps them
        return seqs

    def _index_last_sequences(self):
        """``_user_row[u]``: the position in ``sequences_`` of user ``u``'s last sequence (-1:
        none), for ``score(users)``."""
        self._user_row = np.full(self.n_users_, -1, dtype=np.int64)   # (n_users,)
        np.maximum.at(self._user_row, self.sequences_.users, np.arange(len(self.sequences_)))

    def _restore(self):
        """Rebuild derived state after :func:`minigraphrec.io.load` set the saved attributes
        (subclasses add their own): the checks of :meth:`Recommender._restore` first."""
        super()._restore()
        self._index_last_sequences()

    def _check_params(self):
        """Check the hyperparameters (subclasses); called first by ``fit``."""

    def _check_sequences(self, sequences):
        """Refuse training sequences the model cannot learn from (subclasses)."""

    def _fit_model(self, sequences):
        raise NotImplementedError(
            f"{type(self).__name__} must implement _fit_model(sequences): learn from the "
            "training Sequences and set the fitted attributes (ending in '_'; see 'Writing "
            "your own model' in the documentation)")

    def _score_sessions(self, sessions, out=None):
        raise NotImplementedError(
            f"{type(self).__name__} must implement _score_sessions(sessions): the scores of "
            "every item after each session, a new (len(sessions), n_items) float64 array")

    def _check_users(self, users):
        """As :meth:`Recommender._check_users`; a model fitted on anonymous sessions (no
        ``users``) says it has no user rather than that every user id is unknown."""
        try:
            return super()._check_users(users)
        except DataError:
            if self.n_users_:
                raise
            raise DataError("these training sessions carry no users; use score_sessions / "
                            "score_history") from None

    def _check_sessions(self, sessions):
        self._check_fitted()
        if not isinstance(sessions, Sequences):
            raise TypeError(f"sessions must be a minigraphrec.sequences.Sequences, "
                            f"got {type(sessions).__name__}")
        if sessions.n_items != self.n_items_:
            raise DataError(f"sessions are over {sessions.n_items} items; the model was "
                            f"fitted on {self.n_items_}")
        empty = np.flatnonzero(sessions.lengths == 0)
        if empty.size:
            raise DataError(f"sessions[{int(empty[0])}] is empty; a session needs an item")
        return sessions

    #: True when ``_score_sessions(sessions, out=)`` writes into the caller's array.
    _sessions_into = False
    #: ``score(users, out=)`` writes into ``out`` through :meth:`score_sessions`.
    _scores_into = True

    def score_sessions(self, sessions, out=None):
        r"""Scores of every item after each session: (len(sessions), n_items), float64.

        ``out``, optional: where to write them, a C-contiguous writable float64 array of
        shape (len(sessions), n_items); the same values as without it, bit for bit, and
        ``out`` is returned. Scoring many blocks into one array saves allocating (and
        page-faulting in) a fresh block each time. No session: a (0, n_items) array.
        """
        sessions = self._check_sessions(sessions)
        shape = (len(sessions), self.n_items_)
        if out is not None:
            self._check_out(out, shape[0], "sessions")
        elif shape[0] == 0:                                # no block to score
            return np.empty(shape)
        elif len(sessions) <= self.score_batch_size:   # one block: the model's own (new) array
            return np.ascontiguousarray(self._score_sessions(sessions), dtype=np.float64)
        else:
            out = np.empty(shape, dtype=np.float64)
        for start in range(0, len(sessions), self.score_batch_size):
            stop = min(start + self.score_batch_size, len(sessions))
            part = sessions if stop - start == len(sessions) else \
                sessions.subset(np.arange(start, stop))
            if self._sessions_into:
                self._score_sessions(part, out=out[start:stop])
            else:
                out[start:stop] = self._score_sessions(part)
        return out

    def _score_batch(self, users, out=None):
        if users.shape[0] == 0:                             # no session to score
            return np.empty((0, self.n_items_)) if out is None else out
        rows = self._user_row[users]
        if np.any(rows < 0):
            u = int(users[rows < 0][0])
            raise DataError(f"user {u} has no training sequence to score from: a session "
                            "model scores a user's latest training sequence, and a user "
                            "without training interactions has none; leave such users out "
                            "(of the test set, say), or score sessions with score_sessions")
        return self.score_sessions(self.sequences_.subset(rows), out=out)

    def _history(self, items):
        self._check_fitted()
        arr = np.asarray(items)
        if arr.ndim != 1 or arr.size == 0:
            raise DataError(f"a session must be a non-empty 1-d list of item ids, got shape "
                            f"{arr.shape}")
        if not np.issubdtype(arr.dtype, np.integer):
            # the ids of a Sequences (Sequences.from_lists) and of next-item targets: whole
            # floats are taken, never truncated; anything else is refused
            if arr.dtype.kind != "f":
                raise DataError(f"session item ids must be integers, got dtype {arr.dtype}")
            whole = np.isfinite(arr) & (arr == np.round(arr))
            if not whole.all():
                pos = int(np.flatnonzero(~whole)[0])
                raise DataError(f"session item ids must be integers: {arr[pos]} at position "
                                f"{pos} of the session is not")
        bad = (arr < 0) | (arr >= self.n_items_)         # before the cast, which could wrap
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise DataError(f"item {int(arr[pos])} at position {pos} of the session is not in "
                            f"the catalogue 0..{self.n_items_ - 1}")
        arr = arr.astype(np.int64, copy=False)
        return Sequences([0, arr.shape[0]], arr, self.n_items_)

    def score_history(self, items):
        r"""Scores of every item after the ordered ad-hoc session ``items`` (oldest first):
        internal item ids, integers (whole floats taken, as :meth:`Sequences.from_lists
        <minigraphrec.sequences.Sequences.from_lists>` takes them)."""
        return self.score_sessions(self._history(items))[0]

    def recommend_history(self, items, k=10, exclude_seen=False):
        r"""The ``k`` best next items after the ordered session ``items``: ``(items, scores)``,
        each (k,), best first; ``exclude_seen`` leaves out the session's own items.

        The default differs on purpose from :meth:`Recommender.recommend_history
        <minigraphrec.Recommender.recommend_history>` (``True``) and from
        ``recommend(users)`` (which leaves out the user's training items): a session comes
        back to its items (a revisit, a song played again), so its own items are candidates
        for the next one, as in :func:`~minigraphrec.sequences.evaluate_next_item`
        (``exclude_seen=False`` by default) and in the session papers' protocol, where a
        target already in its prefix counts. Pass ``exclude_seen=True`` for items not yet
        in the session.
        """
        from ..rank import top_k
        session = self._history(items)
        exclude_seen = check_bool(exclude_seen, "exclude_seen")
        S = self.score_sessions(session)                              # (1, n_items)
        seen = None
        if exclude_seen:
            cols = np.unique(session.items)
            seen = sp.csr_matrix((np.ones(cols.shape[0]), (np.zeros_like(cols), cols)),
                                 shape=(1, self.n_items_))
        top, scores = top_k(S, _check_k(k), exclude=seen)
        return top[0], scores[0]
