r"""Time-ordered item sequences: the data of session-based and sequential recommendation.

A :class:`Sequences` holds many ordered lists of item ids in one flat array, CSR style:
sequence ``s`` is ``items[indptr[s]:indptr[s + 1]]``, oldest first. A sequence is either a
user's whole history ordered by time (:func:`user_sequences`) or one session of it; each may
carry the internal id of its user (``users``, ``-1`` where unknown).

Next-item prediction trains on every prefix of a sequence (Tan et al., "Improved Recurrent
Neural Networks for Session-based Recommendations", DLRS 2016, the augmentation SR-GNN uses):
the sequence ``[a, b, c, d]`` gives the examples ``[a] -> b``, ``[a, b] -> c``,
``[a, b, c] -> d`` (:func:`prefix_examples`).
"""
from __future__ import annotations

import numpy as np

from .errors import DataError

__all__ = ["Sequences", "user_sequences", "prefix_examples", "leave_last_out",
           "next_item_ranks", "evaluate_next_item"]


class Sequences:
    r"""Ordered item-id lists in CSR layout.

    Parameters
    ----------
    indptr : int array (n_sequences + 1,), non-decreasing, ``indptr[0] == 0``
    items : int array (indptr[-1],), internal item ids in ``0..n_items-1``, oldest first
    n_items : int, the catalogue size
    users : int array (n_sequences,) or None
        The internal user id of each sequence, ``-1`` where there is none (an anonymous
        session); None for all ``-1``.
    item_ids : array (n_items,) or None, raw item ids (``item_ids[i]`` is item ``i``'s)

    Raises
    ------
    DataError
        On any inconsistency, naming the sequence or position.
    """

    def __init__(self, indptr, items, n_items, users=None, item_ids=None):
        indptr = np.asarray(indptr)
        items = np.asarray(items)
        if indptr.ndim != 1 or indptr.shape[0] < 1 or not np.issubdtype(indptr.dtype, np.integer):
            raise DataError(f"indptr must be a 1-d integer array with at least one entry, "
                            f"got shape {indptr.shape}, dtype {indptr.dtype}")
        if items.ndim != 1 or (items.size and not np.issubdtype(items.dtype, np.integer)):
            raise DataError(f"items must be a 1-d integer array, got shape {items.shape}, "
                            f"dtype {items.dtype}")
        if indptr[0] != 0 or np.any(np.diff(indptr) < 0) or indptr[-1] != items.shape[0]:
            raise DataError(f"indptr must start at 0, never decrease and end at len(items) = "
                            f"{items.shape[0]}; it ends at {int(indptr[-1])}")
        n_items = int(n_items)
        if n_items < 1:
            raise DataError(f"n_items must be >= 1, got {n_items}")
        bad = (items < 0) | (items >= n_items)
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            seq = int(np.searchsorted(indptr, pos, side="right") - 1)
            raise DataError(f"item id {int(items[pos])} at position {pos - int(indptr[seq])} of "
                            f"sequence {seq} is out of range 0..{n_items - 1}")
        n_seq = indptr.shape[0] - 1
        if users is None:
            users = np.full(n_seq, -1, dtype=np.int64)
        users = np.asarray(users)
        if users.shape != (n_seq,) or (users.size and not np.issubdtype(users.dtype, np.integer)):
            raise DataError(f"users must be {n_seq} integer ids (one per sequence), "
                            f"got shape {users.shape}")
        if item_ids is not None and len(item_ids) != n_items:
            raise DataError(f"item_ids has {len(item_ids)} entries for {n_items} items")
        self.indptr = indptr.astype(np.int64)
        self.items = items.astype(np.int64)
        self.n_items = n_items
        self.users = users.astype(np.int64)
        self.item_ids = None if item_ids is None else np.asarray(item_ids)

    @classmethod
    def from_lists(cls, lists, n_items=None, users=None, item_ids=None):
        """From a list of item-id lists (``n_items`` defaults to the largest id + 1)."""
        lists = [np.asarray(s, dtype=np.int64).reshape(-1) for s in lists]
        lengths = np.array([len(s) for s in lists], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        items = np.concatenate(lists) if lists else np.zeros(0, dtype=np.int64)
        if n_items is None:
            if not items.size:
                raise DataError("cannot infer n_items from empty sequences; pass n_items")
            n_items = int(items.max()) + 1
        return cls(indptr, items, n_items, users=users, item_ids=item_ids)

    def __len__(self):
        return self.indptr.shape[0] - 1

    def __getitem__(self, s):
        """Sequence ``s`` as an int64 array, oldest first."""
        if not -len(self) <= s < len(self):
            raise IndexError(f"sequence {s} out of range for {len(self)} sequences")
        s %= len(self)
        return self.items[self.indptr[s]:self.indptr[s + 1]]

    def __iter__(self):
        for s in range(len(self)):
            yield self.items[self.indptr[s]:self.indptr[s + 1]]

    @property
    def lengths(self):
        """(n_sequences,) int64."""
        return np.diff(self.indptr)

    def subset(self, index):
        """The sequences at ``index`` (int array or boolean mask), in that order."""
        index = np.arange(len(self))[np.asarray(index)]
        lengths = self.lengths[index]
        starts = self.indptr[index]
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        flat = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
        return Sequences(indptr, self.items[flat], self.n_items, users=self.users[index],
                         item_ids=self.item_ids)

    def __repr__(self):
        n = len(self)
        mean = float(self.lengths.mean()) if n else 0.0
        return (f"Sequences({n} sequences, {self.items.shape[0]} events, {self.n_items} items, "
                f"mean length {mean:.1f})")


def user_sequences(data, max_len=None):
    r"""Each user's items ordered by time, oldest first: one sequence per user with events.

    Events with equal timestamps keep their order in ``data``. ``max_len`` keeps only the
    ``max_len`` most recent events of each user.

    Parameters
    ----------
    data : Interactions with timestamps
    max_len : int >= 1 or None

    Returns
    -------
    Sequences, with ``users`` set and ``item_ids`` from ``data``.

    Raises
    ------
    DataError
        If ``data`` has no timestamps (order would be a guess) or ``max_len`` is not >= 1.
    """
    if data.timestamps is None:
        raise DataError("user_sequences needs timestamps to order each user's events; this "
                        "Interactions has none (load a file with a timestamp column)")
    if max_len is not None and (int(max_len) != max_len or max_len < 1):
        raise DataError(f"max_len must be an integer >= 1 or None, got {max_len!r}")
    order = np.lexsort((np.arange(len(data)), data.timestamps, data.users))   # user, time, input
    users = data.users[order]
    items = data.items[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    ends = np.r_[starts[1:], users.shape[0]]
    if max_len is not None:
        starts = np.maximum(starts, ends - int(max_len))
    lengths = ends - starts
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    flat = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
    return Sequences(indptr, items[flat], data.n_items, users=users[starts],
                     item_ids=data.item_ids)


def prefix_examples(sequences, max_len=None):
    r"""Every prefix of every sequence, each labelled with the item that follows it.

    A sequence of length ``n`` gives ``n - 1`` examples: prefix ``s[:t]`` with target ``s[t]``
    for ``t = 1..n-1``; sequences of one item give none. ``max_len`` keeps only the last
    ``max_len`` items of each prefix.

    Returns
    -------
    prefixes : Sequences (n_examples sequences; ``users`` copied from their sequence)
    targets : int64 array (n_examples,)
    """
    if max_len is not None and (int(max_len) != max_len or max_len < 1):
        raise DataError(f"max_len must be an integer >= 1 or None, got {max_len!r}")
    lengths = sequences.lengths
    n_ex = np.maximum(lengths - 1, 0)                             # examples per sequence
    seq_of = np.repeat(np.arange(len(sequences)), n_ex)           # (n_examples,)
    t = np.arange(n_ex.sum()) - np.repeat(np.cumsum(n_ex) - n_ex, n_ex) + 1   # prefix length
    start = sequences.indptr[seq_of]
    targets = sequences.items[start + t]
    keep = t if max_len is None else np.minimum(t, int(max_len))
    p_indptr = np.concatenate([[0], np.cumsum(keep)])
    flat = np.repeat(start + t - keep - p_indptr[:-1], keep) + np.arange(p_indptr[-1])
    prefixes = Sequences(p_indptr, sequences.items[flat], sequences.n_items,
                         users=sequences.users[seq_of], item_ids=sequences.item_ids)
    return prefixes, targets


def leave_last_out(sequences):
    r"""Hold out each sequence's last item: ``(train, test_prefixes, test_targets)``.

    ``train`` is every sequence without its last item; the test prefix of a sequence is that
    same shortened sequence and its target the held-out item. Sequences of one item cannot
    be split (their only item would be the target of an empty prefix) and go to ``train``
    whole, with no test example; their count is ``len(train) - len(test_targets)``.
    """
    lengths = sequences.lengths
    splittable = lengths >= 2
    cut = np.where(splittable, lengths - 1, lengths)
    indptr = np.concatenate([[0], np.cumsum(cut)])
    flat = np.repeat(sequences.indptr[:-1] - indptr[:-1], cut) + np.arange(indptr[-1])
    train = Sequences(indptr, sequences.items[flat], sequences.n_items, users=sequences.users,
                      item_ids=sequences.item_ids)
    test_prefixes = train.subset(np.flatnonzero(splittable))
    test_targets = sequences.items[sequences.indptr[1:][splittable] - 1]
    return train, test_prefixes, test_targets


def next_item_ranks(scores, targets, exclude=None):
    r"""0-based rank of each target in its row of ``scores``, with the project's tie rule.

    ``rank_b = #{i : S_bi > S_b,t} + #{i < t : S_bi = S_b,t}`` over the candidate items
    (equal scores break toward the smaller item id, as in :func:`minigraphrec.rank.top_k`).
    ``exclude`` (a boolean mask (B, n_items), or None) removes items from the candidates; a
    target that is itself excluded gets rank ``n_items`` (never a hit).
    """
    S = np.asarray(scores, dtype=np.float64)
    t = np.asarray(targets, dtype=np.int64)
    if S.ndim != 2 or t.shape != (S.shape[0],):
        raise DataError(f"scores must be (B, n_items) and targets (B,); got {S.shape}, {t.shape}")
    if np.isnan(S).any():
        raise DataError("scores hold NaN; a NaN has no place in a ranking")
    rows = np.arange(S.shape[0])
    s_t = S[rows, t][:, None]                                    # (B, 1)
    ahead = (S > s_t) | ((S == s_t) & (np.arange(S.shape[1]) < t[:, None]))
    if exclude is not None:
        ahead &= ~exclude
    ranks = ahead.sum(axis=1)
    if exclude is not None:
        ranks[exclude[rows, t]] = S.shape[1]
    return ranks


def evaluate_next_item(model, prefixes, targets, k=(20,), exclude_seen=False, batch_size=1024):
    r"""Next-item metrics of ``model`` over ``(prefix, target)`` examples, full ranking.

    For the target's 0-based rank ``r`` among all items (:func:`next_item_ranks`):
    ``hit@K = [r < K]`` (the session papers' "P@20" is this hit rate), ``mrr@K = 1/(r+1)`` if
    ``r < K`` else 0, ``ndcg@K = 1/log2(r+2)`` if ``r < K`` else 0 (one relevant item), each
    averaged over the examples.

    Parameters
    ----------
    model : any object with ``score_sessions(Sequences) -> (n, n_items)``
    prefixes : Sequences; targets : int array (len(prefixes),)
    k : int or tuple of int
    exclude_seen : bool, leave each prefix's own items out of the ranking
    batch_size : int, prefixes scored at once

    Returns
    -------
    dict ``{"hit@20": ..., "mrr@20": ..., "ndcg@20": ..., "n_examples": n}``
    """
    ks = (k,) if np.isscalar(k) else tuple(k)
    if not ks or any(int(x) != x or x < 1 for x in ks):
        raise DataError(f"k must be a positive integer or a tuple of them, got {k!r}")
    targets = np.asarray(targets, dtype=np.int64)
    if targets.shape != (len(prefixes),):
        raise DataError(f"{len(prefixes)} prefixes but targets has shape {targets.shape}")
    if targets.shape[0] == 0:
        raise DataError("no examples to evaluate")
    bad = (targets < 0) | (targets >= prefixes.n_items)
    if bad.any():
        b = int(np.flatnonzero(bad)[0])
        raise DataError(f"targets[{b}] = {int(targets[b])} is out of range "
                        f"0..{prefixes.n_items - 1}")
    ranks = np.empty(targets.shape[0], dtype=np.int64)
    for start in range(0, targets.shape[0], batch_size):
        idx = np.arange(start, min(start + batch_size, targets.shape[0]))
        part = prefixes.subset(idx)
        S = model.score_sessions(part)                               # (b, n_items)
        exclude = None
        if exclude_seen:
            exclude = np.zeros(S.shape, dtype=bool)
            exclude[np.repeat(np.arange(len(part)), part.lengths), part.items] = True
        ranks[idx] = next_item_ranks(S, targets[idx], exclude)
    out = {}
    for K in ks:
        hit = ranks < K
        out[f"hit@{K}"] = float(hit.mean())
        out[f"mrr@{K}"] = float(np.where(hit, 1.0 / (ranks + 1), 0.0).mean())
        out[f"ndcg@{K}"] = float(np.where(hit, 1.0 / np.log2(ranks + 2), 0.0).mean())
    out["n_examples"] = int(targets.shape[0])
    return out
