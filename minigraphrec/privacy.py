r"""Membership inference: how much a fitted model reveals that a (user, item) pair trained it.

The article's §8 names privacy as an open problem; ``model.forget`` removes data
from a model, and this module measures what a model gives away about its
training pairs, before and after. The measure is the score-threshold attack
of Yeom et al., "Privacy Risk in Machine Learning: Analyzing the Connection
to Overfitting" (CSF 2018), at the level of single (user, item) pairs: the
attacker sees the model's score row of user ``u`` and guesses that ``(u, i)``
was a training pair when a signal of that row at ``i`` reaches a threshold
``t``. Zhang et al., "Membership Inference Attacks Against Recommender
Systems" (CCS 2021), attack whole *users* (was this person's history used?)
from their recommendation lists; this is the pair-level version, the finer
question that ``forget(interactions=...)`` answers to.

Signals of a pair ``(u, i)``, from the row ``s = model.score([u])[0]`` over
all ``n_items`` items:

=========  ================================================================
signal     value
=========  ================================================================
score      ``s_i``, the model's raw score (not comparable across users)
rank       ``(#{j: s_j < s_i} + ½ #{j ≠ i: s_j = s_i}) / (n_items - 1)``:
           the share of the other items that ``i`` outscores, ties counting
           one half (the mid-rank rule), 1 = strictly first, 0 = strictly
           last, ½ for a row of equal scores. Every catalogue item counts,
           the user's training items too: members are training items.
=========  ================================================================

From the signals ``x`` (members, ``n`` of them) and ``y`` (non-members,
``m``):

* ``auc = (1 / (n m)) Σ_a Σ_b ([x_a > y_b] + ½ [x_a = y_b])``, the
  Mann–Whitney statistic: the probability that a random member outscores a
  random non-member, ½ for an attack no better than a coin. It is computed
  exactly in O((n + m) log(n + m)): the distinct values sorted once, the
  count in int64, one float64 division at the end. An AUC *below* ½ leaks
  too: an attacker who knows the direction turns the test around and
  reaches ``1 - auc``.
* ``advantage = max_t (TPR(t) - FPR(t))`` with ``TPR(t) = #{x_a >= t} / n``
  and ``FPR(t) = #{y_b >= t} / m``, Yeom et al.'s membership advantage of
  the best threshold, over every threshold exactly (each distinct signal
  value, and ``t = +inf``, which guesses "non-member" always and scores 0;
  so ``0 <= advantage <= 1``). The direction is the attack's (a high signal
  means member); ``threshold`` is the highest ``t`` that reaches the maximum
  (``inf`` when none beats 0).

Both are properties of these two sets of pairs. To ask what the model
learnt from membership itself, compare like with like: members and
non-members of the same users, in equal numbers per user (the held-out
pairs of a per-user random split are the natural non-members), as
``benchmarks/bench_membership.py`` does. A pair the model never trained on
scores as a member would if its user likes such items: the attack cannot
tell "trained on" from "predictable", which is why its level for held-out
pairs of the same distribution, ½, is the baseline, and why a forgotten pair
should be judged against held-out pairs (after an exact retrain, ``auc`` of
forgotten against held-out pairs is ½ up to sampling).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .data import Interactions, _count
from .errors import DataError, check_backend, check_int, int64_ids
from .metrics import _EVAL_BLOCK_SCORES, _check_raw_ids
from .rank import _as_scores, _score_blocks

__all__ = ["SIGNALS", "MembershipAttack", "membership_inference", "threshold_attack"]

#: the signals :func:`membership_inference` reads from a score row
SIGNALS = ("rank", "score")

#: rows with at most this many pairs take the rank kernel's scan path (one vectorised pass
#: per pair), the others its merge path (one binary search per item of the row);
#: ``kernels.mid_rank``. The evaluation kernel's threshold (metrics._AUC_SCAN_MAX), not
#: measured for this kernel.
_MID_RANK_SCAN_MAX = 128


@dataclass(frozen=True, eq=False)
class MembershipAttack:
    r"""What the score-threshold attack achieves on members against non-members.

    ``auc`` and ``advantage`` as the module docstring defines them;
    ``member_signal[a]`` is the signal of pair ``members[a]`` (and so for the
    non-members). ``members`` and ``non_members`` are the distinct pairs,
    sorted by (user, item), int64 (n, 2) in the model's internal ids (None
    when the result came from :func:`threshold_attack` on bare signals).
    """

    signal: str                  #: "rank", "score", or what threshold_attack was told
    auc: float                   #: P(member's signal > non-member's), ties ½
    advantage: float             #: max over thresholds of TPR - FPR, in [0, 1]
    threshold: float             #: the highest threshold reaching it (inf: none beats 0)
    n_members: int
    n_non_members: int
    member_signal: np.ndarray = field(repr=False)        #: float64 (n_members,)
    non_member_signal: np.ndarray = field(repr=False)    #: float64 (n_non_members,)
    members: np.ndarray | None = field(default=None, repr=False)       #: int64 (n, 2)
    non_members: np.ndarray | None = field(default=None, repr=False)   #: int64 (m, 2)

    def __repr__(self):
        at = ("no threshold beats guessing" if self.advantage == 0
              else f"at signal >= {self.threshold:.6g}")
        return (f"MembershipAttack(signal={self.signal!r}, auc={self.auc:.4f}, "
                f"advantage={self.advantage:.4f} {at}, {self.n_members} members vs "
                f"{self.n_non_members} non-members)")

    def roc_curve(self):
        r"""The attack's ROC curve: ``(fpr, tpr)``, float64, from (0, 0) to (1, 1).

        One point per distinct signal value ``t``, highest first, after the
        starting point (``t = +inf``): ``fpr = #{y >= t} / m``,
        ``tpr = #{x >= t} / n``. The area under the straight segments
        between the points is ``auc`` (a tie between members and non-members
        is a diagonal segment, which counts it one half).
        """
        counts = _value_counts(self.member_signal, self.non_member_signal)
        _, x_ge, y_ge = _threshold_counts(*counts)                 # descending thresholds
        n, m = self.n_members, self.n_non_members
        return (np.concatenate([[0.0], y_ge / m]), np.concatenate([[0.0], x_ge / n]))


# ------------------------------------------------------------ array level
def _check_signal_array(values, name):
    """A 1-d, non-empty, NaN-free float64 copy of ``values``; DataError naming ``name``."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DataError(f"{name} must be 1-d, got shape {arr.shape}")
    if arr.size == 0:
        raise DataError(f"{name} is empty: the attack needs at least one member and one "
                        "non-member")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise DataError(f"{name} must be real numbers, got dtype {arr.dtype}")
    if arr.dtype.kind in "iu" and arr.dtype.itemsize == 8:
        big = np.abs(arr.astype(np.float64)) > 2.0 ** 53          # not exact in float64
        if big.any():
            at = int(np.flatnonzero(big)[0])
            raise DataError(f"{name}[{at}] = {arr[at]} is beyond ±2**53, where float64 no "
                            "longer holds every integer")
    arr = arr.astype(np.float64)
    nan = np.isnan(arr)
    if nan.any():
        raise DataError(f"{name}[{int(np.flatnonzero(nan)[0])}] is NaN; a signal must be "
                        "ordered")
    return arr


def _value_counts(x, y):
    r"""The distinct values of ``x ∪ y``, ascending, float64 (G,), and how many of ``x`` and
    of ``y`` equal each, int64 (G,) twice: one sort, from which both the AUC and every
    threshold's counts follow."""
    values, inverse = np.unique(np.concatenate([x, y]), return_inverse=True)   # (G,), (n+m,)
    n_x = np.bincount(inverse[:x.size], minlength=values.size).astype(np.int64)
    n_y = np.bincount(inverse[x.size:], minlength=values.size).astype(np.int64)
    return values, n_x, n_y


def _threshold_counts(values, n_x, n_y):
    r"""For each distinct value ``t`` (from :func:`_value_counts`), highest first:
    ``(t, #{x >= t}, #{y >= t})``."""
    return values[::-1], np.cumsum(n_x[::-1]), np.cumsum(n_y[::-1])


def _mann_whitney(n_x, n_y):
    r"""``2 U`` as an int: ``Σ_a Σ_b (2 [x_a > y_b] + [x_a = y_b])``, by counting per value.

    With the distinct values ascending and ``n_x[g]``, ``n_y[g]`` the members and
    non-members equal to value ``g`` (:func:`_value_counts`):
    ``2 U = Σ_g n_x[g] (2 Σ_{h<g} n_y[h] + n_y[g])``, each term at most ``2 n m``, in int64.
    """
    y_below = np.cumsum(n_y) - n_y                                                 # (G,)
    return int(np.sum(n_x * (2 * y_below + n_y)))


def threshold_attack(member_signal, non_member_signal, signal="signal"):
    r"""The score-threshold attack on given signals: AUC, advantage and the best threshold.

    Parameters
    ----------
    member_signal : array-like of real, shape (n,), n >= 1
        The attack's signal for each member (higher = more member-like).
    non_member_signal : array-like of real, shape (m,), m >= 1
    signal : str
        A name for the signal, kept in the result.

    Returns
    -------
    MembershipAttack
        ``auc`` (the Mann–Whitney statistic, ties ½, exact: an int64 count
        divided once in float64), ``advantage`` and ``threshold`` (see the
        module docstring), without pairs.

    Raises
    ------
    DataError
        An empty or not 1-d array, a NaN (named by its position), a
        non-numeric dtype. ``±inf`` is a value like any other.

    Examples
    --------
    >>> from minigraphrec.privacy import threshold_attack
    >>> threshold_attack([0.9, 0.7, 0.4], [0.8, 0.2])
    MembershipAttack(signal='signal', auc=0.6667, advantage=0.5000 at signal >= 0.4,
                     3 members vs 2 non-members)
    """
    x = _check_signal_array(member_signal, "member_signal")          # (n,)
    y = _check_signal_array(non_member_signal, "non_member_signal")  # (m,)
    n, m = x.size, y.size
    if 2 * n * m >= 2 ** 63:
        raise DataError(f"{n} members x {m} non-members: the exact count would overflow int64")
    values, n_x, n_y = _value_counts(x, y)
    auc = _mann_whitney(n_x, n_y) / (2 * n * m)
    values, x_ge, y_ge = _threshold_counts(values, n_x, n_y)
    gain = x_ge * m - y_ge * n                          # (G,) n m (TPR - FPR), exact int64
    best = int(np.argmax(gain))                         # the first = the highest threshold
    if gain[best] > 0:
        advantage, threshold = float(gain[best] / (n * m)), float(values[best])
    else:                                               # t = +inf (never "member") scores 0
        advantage, threshold = 0.0, float("inf")
    return MembershipAttack(str(signal), float(auc), advantage, threshold, n, m, x, y)


# ------------------------------------------------------------ model level
def _pair_keys(pairs, model, name):
    r"""``pairs`` (an Interactions or an (n, 2) integer array of internal (user, item)
    pairs) as sorted distinct int64 keys ``user * n_items + item``; ids checked against
    the model as ``evaluate`` checks its test set."""
    n_users, n_items = int(model.n_users_), int(model.n_items_)
    if isinstance(pairs, Interactions):
        users, items = pairs.users, pairs.items
        where = "at position"
    else:
        if isinstance(pairs, tuple) and len(pairs) == 2 \
                and all(isinstance(p, np.ndarray) and p.ndim == 1 for p in pairs):
            raise DataError(f"{name} looks like a (users, items) pair of arrays; pass the "
                            f"pairs as rows, an (n, 2) array as forget(interactions=...) "
                            f"takes them: np.column_stack((users, items))")
        if pairs is None or isinstance(pairs, (str, bytes, dict, set)):
            raise TypeError(f"{name} must be an Interactions or an (n, 2) integer array of "
                            f"internal (user, item) pairs, got {type(pairs).__name__}")
        arr = np.asarray(pairs)
        if arr.shape == (0,):
            arr = arr.reshape(0, 2)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise DataError(f"{name} must be an (n, 2) array of internal (user, item) pairs "
                            f"or an Interactions, got shape {arr.shape}")
        arr = int64_ids(arr, name)                                 # (n, 2)
        users, items = arr[:, 0], arr[:, 1]
        where = "in row"
    if users.size == 0:
        raise DataError(f"{name} is empty: the attack needs at least one member and one "
                        "non-member")
    for kind, ids, n in (("user", users, n_users), ("item", items, n_items)):
        bad = (ids < 0) | (ids >= n)
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            raise DataError(f"{name} {kind} id {int(ids[at])} {where} {at} is outside the "
                            f"model's {kind}s 0..{n - 1}; {name} must share the model's id "
                            "space")
    if isinstance(pairs, Interactions):
        _check_raw_ids(pairs, model, name)
    return np.unique(users * n_items + items)                     # (n_distinct,) sorted


def _first_pair(keys, n_items):
    return f"(user {int(keys[0] // n_items)}, item {int(keys[0] % n_items)})"


def _check_sets(member_keys, non_keys, model):
    """DataError for a pair in both sets, and for non-members the model records as training
    pairs (``R_``), naming how many and the first."""
    n_items = int(model.n_items_)
    both = np.intersect1d(member_keys, non_keys, assume_unique=True)
    if both.size:
        raise DataError(f"{_count(both.size, 'pair')} {'is' if both.size == 1 else 'are'} "
                        f"both members and non-members, the "
                        f"first {_first_pair(both, n_items)}; each pair belongs to one side")
    R = getattr(model, "R_", None)
    if R is None:
        return
    R = R.tocsr()
    trained = np.asarray(R[non_keys // n_items, non_keys % n_items]).ravel() != 0
    if trained.any():
        keys = non_keys[trained]
        raise DataError(f"{keys.size} of the {non_keys.size} non-members "
                        f"{'is a training pair' if keys.size == 1 else 'are training pairs'} "
                        f"of the model (in its R_), the first {_first_pair(keys, n_items)}: "
                        "members, not non-members")


def _mid_ranks_numpy(S, indptr, items, out):
    r"""The reference of :func:`minigraphrec.kernels.mid_rank.mid_ranks` (same arguments):
    ``out[q]``, for ``q`` in ``indptr[r]:indptr[r + 1]``, is the mid-rank of item
    ``items[q]`` in row ``S[r]``, the row sorted once."""
    n_items = S.shape[1]
    for r in range(S.shape[0]):
        a, b = indptr[r], indptr[r + 1]
        row = S[r]                                                 # (n_items,)
        s = row[items[a:b]]                                        # (k,) the items' scores
        ordered = np.sort(row)                                     # (n_items,)
        below = np.searchsorted(ordered, s, side="left")           # #{j: s_j < s_i}
        upto = np.searchsorted(ordered, s, side="right")           # #{j: s_j <= s_i}, i too
        # (below + ½ (upto - below - 1)) / (n_items - 1), one division
        out[a:b] = (below + upto - 1) / (2.0 * (n_items - 1))


def _pair_signals(model, keys, signal, batch_size, backend):
    r"""float64 (len(keys),): the signal of each pair, the keys sorted (so grouped by user).

    The pairs' users are scored ``batch_size`` at a time, as ``evaluate`` scores its
    blocks (the model's block scorer, one block of memory reused where the model can
    write into it); each block's signals are taken before the next block is asked for.
    """
    n_items = int(model.n_items_)
    users, items = keys // n_items, keys % n_items                 # (n,), (n,) users sorted
    scored = np.unique(users)                                      # (n_scored,)
    bounds = np.searchsorted(users, scored)                        # first pair of each user
    bounds = np.append(bounds, users.size)                         # (n_scored + 1,)
    out = np.empty(keys.size, dtype=np.float64)
    score = model._block_scorer() if hasattr(model, "_block_scorer") else model.score
    reuse = getattr(model, "_scores_into", False) and score != model.score
    for start, batch, S in _score_blocks(score, scored, batch_size, reuse):
        S = _as_scores(S, "model.score(users)", batch)            # (b, n_items)
        if S.shape != (batch.size, n_items):
            raise DataError(f"model.score returned shape {S.shape}, expected "
                            f"({batch.size}, {n_items})")
        if S.size and not (np.isfinite(S.min()) and np.isfinite(S.max())):   # no temporary
            r, j = np.argwhere(~np.isfinite(S))[0]
            raise DataError(f"model.score(users): the score of user {int(batch[r])} for item "
                            f"{j} is {S[r, j]}; the attack needs finite scores")
        a, b = bounds[start], bounds[start + batch.size]          # the block's pairs
        indptr = bounds[start:start + batch.size + 1] - a          # (b + 1,) row r's pairs
        if signal == "score":
            out[a:b] = S[np.repeat(np.arange(batch.size), np.diff(indptr)), items[a:b]]
        elif backend == "numpy":
            _mid_ranks_numpy(S, indptr, items[a:b], out[a:b])
        else:
            from .kernels.mid_rank import mid_ranks
            mid_ranks(S, indptr, items[a:b], _MID_RANK_SCAN_MAX, out[a:b])
        del S
    return out


def membership_inference(model, members, non_members, signal="rank", batch_size=None,
                         backend="numba"):
    r"""Score-threshold membership inference on (user, item) pairs of a fitted model.

    Reads each pair's signal (``"rank"`` or ``"score"``, see the module
    docstring) from its user's score row and runs :func:`threshold_attack`
    on members against non-members. The pair-level version of the attacks
    of Yeom et al. (CSF 2018) and, for recommenders, Zhang et al. (CCS
    2021, who attack users).

    Parameters
    ----------
    model : a fitted recommender
        Needs ``score``, ``n_users_`` and ``n_items_``; its ``R_`` (the
        binary training matrix every library model keeps) is read to refuse
        non-members that are training pairs.
    members, non_members : Interactions or int array (n, 2)
        Pairs in the model's internal ids: an Interactions in the model's id
        space, as :func:`~minigraphrec.metrics.evaluate` takes its test set
        (ids beyond the model's users or items are an error, and so are raw
        ids numbered apart from the model's: ``align`` such data first), or
        an (n, 2) array of (user, item) rows, as ``forget(interactions=...)``
        takes them. A pair repeated counts once (as in ``evaluate``); weights
        are not read. ``members`` need not be in ``R_``: pairs forgotten by
        ``forget`` are no longer there, and the attack asks what the model
        still reveals of them.
    signal : {"rank", "score"}
        ``"rank"`` (default): the item's mid-rank among all catalogue items
        in the user's row, in [0, 1], comparable across users. ``"score"``:
        the raw score, whose scale may differ between users.
    batch_size : int, optional
        Users scored at once. Default as in ``evaluate``: a block of 2^25
        scores (or the model's ``eval_block_scores``). Results do not depend
        on it.
    backend : {"numba", "numpy"}
        How the ``"rank"`` signal is counted (the same bits): ``"numpy"``
        sorts each scored row (the readable reference); ``"numba"`` counts
        without sorting the row (:mod:`minigraphrec.kernels.mid_rank`), rows
        in parallel. On Gowalla (all 810,128 training pairs against the
        217,242 test pairs, one thread, AMD EPYC;
        ``benchmarks/results/membership_speed_gowalla.md``) the attack took
        11.4 s with ``"numba"`` and 48.8 s with ``"numpy"`` for an MF, 9.1 s
        and 29.4 s for Popularity, against 5.2 s and 2.3 s with
        ``signal="score"``, which is about the scoring alone. A row of many
        pairs that all tie is the kernel's worst case: the reference sorts it
        faster (one row of 20,000 tied pairs: 0.49 ms against 1.2 ms).

    Returns
    -------
    MembershipAttack
        ``auc``, ``advantage``, ``threshold``, the counts of distinct pairs,
        the signals and the pairs (sorted by user, then item).

    Raises
    ------
    RuntimeError
        The model is not fitted.
    DataError
        An unknown ``signal``; an empty set; a pair outside the model's
        users or items, or of non-integer ids; a pair in both sets;
        non-members the model records as training pairs (how many, and the
        first); a non-finite score (naming the user and the item); a
        ``"rank"`` over a catalogue of one item.

    Examples
    --------
    Popularity on 4 users: item 0 three times, items 1 and 2 once, item 3 never. The
    members are the training pairs (an Interactions), the non-members two pairs of user 3
    (an array): item 0 ranks first (1.0), items 1 and 2 tie at ½, item 3 comes last (0.0).

    >>> import minigraphrec as mgr
    >>> from minigraphrec.privacy import membership_inference
    >>> train = mgr.Interactions([0, 1, 2, 0, 1], [0, 0, 0, 1, 2], n_users=4, n_items=4)
    >>> model = mgr.Popularity().fit(train)
    >>> attack = membership_inference(model, train, [[3, 3], [3, 1]])
    >>> attack
    MembershipAttack(signal='rank', auc=0.9000, advantage=0.6000 at signal >= 1,
                     5 members vs 2 non-members)
    >>> attack.member_signal, attack.non_member_signal
    (array([1. , 0.5, 1. , 0.5, 1. ]), array([0.5, 0. ]))

    On a split, ``membership_inference(model, train, test)``: the training pairs
    against the held-out ones (``benchmarks/bench_membership.py`` samples as many
    training pairs per user as the user has held out).
    """
    if not hasattr(model, "score"):
        raise TypeError(f"model must be a recommender with a score method, got "
                        f"{type(model).__name__}")
    if hasattr(model, "_check_fitted"):
        model._check_fitted()
    elif not hasattr(model, "n_items_"):
        raise RuntimeError(f"this {type(model).__name__} is not fitted yet; call fit(train) "
                           "first")
    if signal not in SIGNALS:
        raise DataError(f"signal must be one of {SIGNALS}, got {signal!r}")
    check_backend(backend)
    n_items = int(model.n_items_)
    if signal == "rank" and n_items < 2:
        raise DataError(f"the rank signal needs at least 2 items (the item's place among the "
                        f"others); the model has {n_items}")
    if batch_size is None:
        block = getattr(model, "eval_block_scores", None) or _EVAL_BLOCK_SCORES
        batch_size = max(1, int(block) // max(n_items, 1))
    else:
        batch_size = check_int(batch_size, "batch_size")
    member_keys = _pair_keys(members, model, "members")           # (n,) sorted, distinct
    non_keys = _pair_keys(non_members, model, "non_members")      # (m,)
    _check_sets(member_keys, non_keys, model)
    keys = np.concatenate([member_keys, non_keys])                # (n + m,)
    order = np.argsort(keys, kind="stable")                       # grouped by user
    signals = np.empty(keys.size, dtype=np.float64)
    signals[order] = _pair_signals(model, keys[order], signal, batch_size, backend)
    x, y = signals[:member_keys.size], signals[member_keys.size:]
    result = threshold_attack(x, y, signal=signal)

    def as_pairs(k):
        return np.stack([k // n_items, k % n_items], axis=1)     # (n, 2) int64
    return MembershipAttack(result.signal, result.auc, result.advantage, result.threshold,
                            result.n_members, result.n_non_members, result.member_signal,
                            result.non_member_signal, as_pairs(member_keys),
                            as_pairs(non_keys))
