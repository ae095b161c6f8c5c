r"""Why a model scores an item: :class:`Explanation`, what ``model.explain`` returns.

An explanation lists numbers ``c_j`` over *sources*: the user's training
items (item-based and closed-form models, MF), neighbour users (UserKNN) or
layer-0 graph nodes (graph models). What the numbers are is
``Explanation.quantity``:

``"split"``
    The contributions split the score. For a model linear in its inputs the
    split is exact,

    .. math::
        s_{ui} = \sum_{j} c_j ,

    and ``Explanation.exact`` is True: ItemKNN's ``c_j = W_{ji}`` over the
    user's items ``j``, EASE's ``c_j = B_{ji}``, UserKNN's
    ``c_v = W_{uv} R_{vi}`` over neighbour users ``v``.
``"gradient_input"``
    Where the model is not linear (GCN, NGCF, GAT): gradient × input,
    ``exact`` False. These add up to the score only for a network that is
    positively homogeneous in its inputs; with biases, attention or NGCF's
    bi-interaction their total can be far from it (``gap``).
``"similarity"``
    MF: the cosine similarity of each history item's embedding to the
    item's. Not a split of the score at all (MF's score does not depend on
    the history).

Shares (``Explanation.shares``, the "share" column and the "others" row of
the printed table) are given only where the numbers are a split: exact, or
gradient × input whose total is within ``ADDITIVE_RTOL`` of the score (the gap
is then printed). Elsewhere ``shares`` is NaN and the table says what the
numbers are and, for gradient × input, how far their total is from the score.

``contributions`` are sorted largest first; ``k`` keeps the first ``k`` and
``total`` still holds the sum over every source, so ``total - sum(contributions)``
is what the omitted sources add up to.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import DataError, check_bool, check_finite_number, check_ids, check_int

__all__ = ["Explanation", "KINDS", "QUANTITIES", "ADDITIVE_RTOL"]

#: what a source can be
KINDS = ("item", "user", "node")

#: what the numbers are: a split of the score, gradient × input, a similarity
QUANTITIES = ("split", "gradient_input", "similarity")

#: an inexact split or gradient × input counts as a split (shares, "others")
#: when ``|total - score| <= ADDITIVE_RTOL * |score|``
ADDITIVE_RTOL = 0.01

_COLUMN = {"split": "contribution", "gradient_input": "grad×input", "similarity": "cosine"}


@dataclass(frozen=True, eq=False)
class Explanation:
    r"""The contributions that make up ``model.score(user)[item]``, largest first.

    Attributes
    ----------
    user, item : int
        Internal ids of the explained pair.
    sources : ndarray of int64, shape (m,)
        What contributes: item ids (``kind="item"``), user ids (``"user"``)
        or graph node ids, users first then items (``"node"``: node
        ``n_users + j`` is item ``j``).
    kind : {"item", "user", "node"}
    contributions : ndarray of float64, shape (m,)
        One per source, largest first (ties: smaller source id first). What
        they are is ``quantity``.
    score : float
        The model's score for the pair, ``model.score([user])[0, item]``.
    exact : bool
        True when the contributions over every source sum to ``score`` to
        float precision.
    total : float
        The sum of the contributions over *every* source, before ``k``
        truncated them (``== score`` when ``exact``; for a ``"similarity"``
        just the sum of the similarities).
    method : str
        How the contributions were computed, in words.
    paths : list of tuple of int, optional
        For graph models: the path (node ids, from the user's node) behind
        each contribution, or None.
    quantity : {"split", "gradient_input", "similarity"}
        What the contributions are (see the module docstring): a split of
        the score, gradient × input, or a cosine similarity. Defaults to
        ``"split"`` when ``exact`` and to ``"gradient_input"`` otherwise.
    """

    user: int
    item: int
    sources: np.ndarray
    kind: str
    contributions: np.ndarray
    score: float
    exact: bool
    total: float
    method: str = ""
    paths: list | None = field(default=None)
    quantity: str | None = None

    def __post_init__(self):
        if self.quantity is None:                        # the documented default
            object.__setattr__(self, "quantity", "split" if self.exact else "gradient_input")
        if self.quantity not in QUANTITIES:
            raise DataError(f"quantity must be one of {QUANTITIES}, got {self.quantity!r}")
        if self.exact and self.quantity != "split":
            raise DataError(f"exact=True means the contributions split the score; "
                            f"quantity {self.quantity!r} is not a split")

    @classmethod
    def from_contributions(cls, user, item, sources, contributions, *, kind, score, exact,
                           k=10, method="", paths=None, quantity=None):
        r"""Sort ``contributions`` largest first, keep ``k`` (None: all), build the object.

        Ties are broken by the smaller source id, so the order does not
        depend on how the model enumerated its sources. ``quantity`` None:
        ``"split"`` when ``exact``, else ``"gradient_input"``. ``k`` is an
        integer >= 1 or None, the contributions and ``score`` finite numbers
        (a NaN would make ``total`` and every share NaN): else
        :class:`DataError`, naming the first bad contribution and its source.
        ``sources`` are integer ids >= 0 (:func:`~minigraphrec.errors.check_ids`: a
        float is not truncated), ``contributions`` integers or floats (a string or a
        bool is no contribution), ``exact`` True or False, ``user`` and ``item``
        integers >= 0.

        ``total`` is the sum of the contributions in their sorted order, the order
        they are kept in: with ``k=None`` it is then ``contributions.sum()`` bit for
        bit, so the table shows no "others" row made of rounding alone.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        user = check_int(user, "user", at_least=0)
        item = check_int(item, "item", at_least=0)
        exact = check_bool(exact, "exact")
        sources = check_ids(sources, "sources")                              # (m,) int64
        contributions = np.asarray(contributions)
        if contributions.dtype.kind == "c":             # the cast would drop it, warning only
            raise DataError(f"contributions must be real, got {contributions.dtype} (the "
                            f"imaginary part would be lost)")
        if contributions.size and contributions.dtype.kind not in "iuf":
            raise DataError(f"contributions must be integers or floats, got dtype "
                            f"{contributions.dtype}")
        contributions = contributions.astype(np.float64).reshape(-1)
        if sources.shape != contributions.shape:
            raise ValueError(f"{sources.shape[0]} sources but {contributions.shape[0]} "
                             "contributions")
        if paths is not None and len(paths) != sources.shape[0]:
            raise ValueError(f"{len(paths)} paths for {sources.shape[0]} sources")
        k = check_int(k, "k", or_none=True)
        bad = ~np.isfinite(contributions)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise DataError(f"contributions[{j}] (source {int(sources[j])}) is "
                            f"{contributions[j]}; contributions must be finite")
        score = check_finite_number(score, "score")
        order = np.lexsort((sources, -contributions))   # by contribution desc, then source id
        total = float(contributions[order].sum())       # in the kept order: see above
        if k is not None:
            order = order[:k]
        return cls(user=user, item=item, sources=sources[order], kind=kind,
                   contributions=contributions[order], score=float(score), exact=exact,
                   total=total, method=method,
                   paths=None if paths is None else [tuple(paths[j]) for j in order],
                   quantity=quantity)

    @property
    def gap(self):
        r"""``total - score``: how far the contributions over every source are from the score."""
        return self.total - self.score

    @property
    def additive(self):
        r"""True when the contributions are a split of the score: ``exact``, or a split or
        gradient × input whose total is within ``ADDITIVE_RTOL`` of the score. Never for a
        ``"similarity"``."""
        if self.exact:
            return True
        if self.quantity == "similarity":
            return False
        return bool(abs(self.gap) <= ADDITIVE_RTOL * abs(self.score))

    @property
    def shares(self):
        r"""Each contribution as a fraction of ``total``, where they split the score.

        NaN (one per contribution) when they are not a split (``additive``
        False: a similarity, or gradient × input whose total is not the
        score) and when ``total`` is 0.
        """
        if not self.additive or self.total == 0:
            return np.full(self.contributions.shape, np.nan)
        return self.contributions / self.total

    def __len__(self):
        return int(self.sources.shape[0])

    def to_rows(self):
        """The table as a list of dicts (source, contribution, share[, path]); share is NaN
        where the contributions are not a split of the score (see ``shares``)."""
        rows = []
        for j, (s, c, f) in enumerate(zip(self.sources, self.contributions, self.shares)):
            row = {self.kind: int(s), "contribution": float(c), "share": float(f)}
            if self.paths is not None:
                row["path"] = self.paths[j]
            rows.append(row)
        return rows

    def __str__(self):
        how = ("exact" if self.exact else "not a split of the score"
               if self.quantity == "similarity" else "approximate")
        method = self.method
        for word in ("exact", "approximate", "not a split of the score"):   # not twice
            if method.lower().startswith(word):
                method = method[len(word):].lstrip(":;, ")
        head = (f"score of item {self.item} for user {self.user}: {self.score:.6g} "
                f"({how}: {method})" if method else
                f"score of item {self.item} for user {self.user}: {self.score:.6g} ({how})")
        split = self.additive
        column = "contribution" if split else _COLUMN[self.quantity]
        lines = [head]
        lines.append(f"{self.kind:>8}  {column:>12}" + (f"  {'share':>7}" if split else "")
                     + ("  path" if self.paths is not None else ""))
        for row in self.to_rows():
            line = f"{row[self.kind]:>8}  {row['contribution']:>12.6g}"
            if split:                       # a total of 0 has no shares: "-", as the CLI
                share = row["share"]
                line += f"  {share:>7.1%}" if np.isfinite(share) else f"  {'-':>7}"
            if self.paths is not None:
                line += "  " + " → ".join(str(n) for n in row["path"])
            lines.append(line)
        rest = self.total - float(self.contributions.sum())
        if split and len(self) and abs(rest) > 0:
            lines.append(f"{'others':>8}  {rest:>12.6g}")
        if not self.exact and self.quantity != "similarity":
            lines.append(f"sum over every source: {self.total:.6g}, against the "
                         f"score {self.score:.6g} (gap {self.gap:+.6g}"
                         + (f", {abs(self.gap / self.score):.1%} of |score|"
                            if self.score != 0 else "")
                         + ")" + ("" if split else ": not a split of the score, no shares"))
        return "\n".join(lines)

    def __repr__(self):
        return (f"Explanation(user={self.user}, item={self.item}, kind={self.kind!r}, "
                f"n_sources={len(self)}, score={self.score:.6g}, exact={self.exact}, "
                f"quantity={self.quantity!r})")
