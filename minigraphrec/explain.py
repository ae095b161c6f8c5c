r"""Why a model scores an item: :class:`Explanation`, what ``model.explain`` returns.

An explanation splits one score ``s_ui`` into contributions of *sources*:
the user's training items (item-based and closed-form models), neighbour
users (UserKNN) or layer-0 graph nodes (graph models). For a model linear in
its inputs the split is exact,

.. math::
    s_{ui} = \sum_{j} c_j ,

and ``Explanation.exact`` is True: ItemKNN's ``c_j = W_{ji}`` over the
user's items ``j``, EASE's ``c_j = B_{ji}``, UserKNN's ``c_v = W_{uv} R_{vi}``
over neighbour users ``v``. Where the model is not linear (GCN, NGCF, GAT) the
contributions are an approximation (gradient × input) and ``exact`` is False;
MF explains through similar items and says so in ``method``.

``contributions`` are sorted largest first; ``k`` keeps the first ``k`` and
``total`` still holds the sum over every source, so ``total - sum(contributions)``
is what the omitted sources add up to.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Explanation", "KINDS"]

#: what a source can be
KINDS = ("item", "user", "node")


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
        One per source, largest first (ties: smaller source id first).
    score : float
        The model's score for the pair, ``model.score([user])[0, item]``.
    exact : bool
        True when the contributions over every source sum to ``score`` to
        float precision.
    total : float
        The sum of the contributions over *every* source, before ``k``
        truncated them (``== score`` when ``exact``).
    method : str
        How the contributions were computed, in words.
    paths : list of tuple of int, optional
        For graph models: the path (node ids, from the user's node) behind
        each contribution, or None.
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

    @classmethod
    def from_contributions(cls, user, item, sources, contributions, *, kind, score, exact,
                           k=10, method="", paths=None):
        r"""Sort ``contributions`` largest first, keep ``k`` (None: all), build the object.

        Ties are broken by the smaller source id, so the order does not
        depend on how the model enumerated its sources.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        sources = np.asarray(sources, dtype=np.int64).reshape(-1)
        contributions = np.asarray(contributions, dtype=np.float64).reshape(-1)
        if sources.shape != contributions.shape:
            raise ValueError(f"{sources.shape[0]} sources but {contributions.shape[0]} "
                             "contributions")
        if paths is not None and len(paths) != sources.shape[0]:
            raise ValueError(f"{len(paths)} paths for {sources.shape[0]} sources")
        total = float(contributions.sum())
        order = np.lexsort((sources, -contributions))   # by contribution desc, then source id
        if k is not None:
            order = order[:k]
        return cls(user=int(user), item=int(item), sources=sources[order], kind=kind,
                   contributions=contributions[order], score=float(score), exact=bool(exact),
                   total=total, method=method,
                   paths=None if paths is None else [tuple(paths[j]) for j in order])

    @property
    def shares(self):
        r"""Each contribution as a fraction of ``total`` (NaN when ``total`` is 0)."""
        if self.total == 0:
            return np.full(self.contributions.shape, np.nan)
        return self.contributions / self.total

    def __len__(self):
        return int(self.sources.shape[0])

    def to_rows(self):
        """The table as a list of dicts (source, contribution, share[, path])."""
        rows = []
        for j, (s, c, f) in enumerate(zip(self.sources, self.contributions, self.shares)):
            row = {self.kind: int(s), "contribution": float(c), "share": float(f)}
            if self.paths is not None:
                row["path"] = self.paths[j]
            rows.append(row)
        return rows

    def __str__(self):
        how = "exact" if self.exact else "approximate"
        method = self.method
        for word in ("exact", "approximate"):          # do not say it twice
            if method.lower().startswith(word):
                method = method[len(word):].lstrip(":;, ")
        head = (f"score of item {self.item} for user {self.user}: {self.score:.6g} "
                f"({how}: {method})" if method else
                f"score of item {self.item} for user {self.user}: {self.score:.6g} ({how})")
        lines = [head, f"{self.kind:>8}  {'contribution':>12}  {'share':>7}"
                 + ("  path" if self.paths is not None else "")]
        for row in self.to_rows():
            line = f"{row[self.kind]:>8}  {row['contribution']:>12.6g}  {row['share']:>7.1%}"
            if self.paths is not None:
                line += "  " + " → ".join(str(n) for n in row["path"])
            lines.append(line)
        rest = self.total - float(self.contributions.sum())
        if len(self) and abs(rest) > 0:
            lines.append(f"{'others':>8}  {rest:>12.6g}")
        return "\n".join(lines)

    def __repr__(self):
        return (f"Explanation(user={self.user}, item={self.item}, kind={self.kind!r}, "
                f"n_sources={len(self)}, score={self.score:.6g}, exact={self.exact})")
