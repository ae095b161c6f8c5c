r"""The PyTorch Geometric side of the LightGCN benchmarks (imported only by ``benchmarks/``).

minigraphrec never depends on torch; this module is the reference the
benchmarks measure against, and it imports torch lazily so that a script
can ask :func:`torch_status` first and skip the reference with a message.

:class:`PyGLightGCN` wraps ``torch_geometric.nn.models.LightGCN`` and trains
it as minigraphrec's LightGCN trains (the BPR loss and L2 term of
:mod:`minigraphrec.losses`, triples drawn by the same sampler), on the same node
numbering (users ``0 .. n_users-1``, then items ``n_users + i``), with one
difference, the initial embeddings' scale: PyG draws its one
``(n_users + n_items, d)`` table with ``xavier_uniform_`` (bound
``sqrt(6 / (n_users + n_items + d))``), minigraphrec's ``init="xavier"`` one
Glorot table per side (:func:`minigraphrec.models.embedding_base.id_embeddings`,
bounds ``sqrt(6 / (n_users + d))`` and ``sqrt(6 / (n_items + d))``). At d = 64:
ML-100K 0.077 (users) / 0.059 (items) against PyG's 0.047; Last.fm 0.055 / 0.036
against 0.031; Gowalla 0.014 / 0.012 against 0.0092. Pass ``E0`` to start both
from the same table (the loss cross-check does):

* propagation: ``E = 1/(K+1) Σ_{k=0..K} Â^k E0`` over the whole graph for
  every mini-batch, as the LightGCN paper's code does; PyG's ``LGConv``
  layers, its default uniform ``alpha = 1/(K+1)``;
* loss, for a batch of ``B`` triples ``(u, i, j)``::

      L = mean_b softplus(s_uj − s_ui) + reg · ½ (‖e⁰_u‖² + ‖e⁰_i‖² + ‖e⁰_j‖²) / B

  written out in torch (PyG's own ``recommendation_loss`` regularises the
  distinct rows without the ½, a different number; the cost is the same);
* ``torch.optim.Adam(lr)`` over the dense embedding table.

:class:`FixedEmbeddings` turns PyG's final embeddings into a minigraphrec
``Recommender``, so that :func:`minigraphrec.metrics.evaluate` scores both
sides with the same code.

Adjacency variants (``ADJACENCIES``), all CPU, all the same ``Â``:

``"edge_index"``
    a (2, 2·nnz) ``edge_index``; ``LGConv`` normalises on every call and
    aggregates by scatter (PyG's LightGCN example).
``"edge_index_weighted"``
    the same ``edge_index`` with ``Â``'s values as ``edge_weight``,
    normalised once (``LGConv(normalize=False)``).
``"csr"``
    a ``torch.sparse_csr_tensor`` of the binary ``A``; ``LGConv``
    normalises it on every call, then ``torch.sparse.mm``.
``"csr_normalized"``
    a ``torch.sparse_csr_tensor`` of ``Â`` itself, normalised once
    (``LGConv(normalize=False)``): one ``torch.sparse.mm`` per layer.
``"csr_normalized_int32"``
    the same with int32 row pointers and column indices (MKL's index type:
    a faster forward product on CPU here).
``"sparse_tensor"``
    a ``torch_sparse.SparseTensor`` (only when the ``torch_sparse``
    extension is installed; on CPU PyG turns it into a torch CSR tensor and
    calls ``torch.sparse.mm`` anyway).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from minigraphrec.models.base import Recommender

ADJACENCIES = ("edge_index", "edge_index_weighted", "csr", "csr_normalized",
               "csr_normalized_int32", "sparse_tensor")

TORCH_HINT = ("install it into the benchmark environment (never a dependency of "
              "minigraphrec): "
              "pip install torch==2.13.0 torch_geometric")


def torch_status():
    r"""``(True, "torch X, torch_geometric Y, N threads")`` or ``(False, why)``; never raises."""
    try:
        import torch
        import torch_geometric
    except ImportError as exc:
        return False, f"{exc}; the PyTorch Geometric reference is skipped ({TORCH_HINT})"
    return True, (f"torch {torch.__version__}, torch_geometric {torch_geometric.__version__}, "
                  f"{torch.get_num_threads()} threads")


def torch_versions():
    """``{"torch": ..., "torch_geometric": ..., "torch_sparse": ...}`` (None when missing)."""
    found = {}
    for name in ("torch", "torch_geometric", "torch_sparse"):
        try:
            found[name] = __import__(name).__version__
        except ImportError:
            found[name] = None
    return found


def available_adjacencies():
    """The variants of ``ADJACENCIES`` this environment can build."""
    import torch_geometric.typing as pyg_typing
    return [a for a in ADJACENCIES if a != "sparse_tensor" or pyg_typing.WITH_TORCH_SPARSE]


def bipartite_edges(R):
    r"""Both directions of every user–item edge of ``R`` (n_users, n_items), as node ids.

    Returns ``rows, cols`` int64 (2·nnz,) with users ``u`` and items
    ``n_users + i``, sorted by row then column (CSR order of ``A``).
    """
    R = sp.csr_matrix(R)
    n_users, n_items = R.shape
    A = sp.bmat([[None, R], [R.T, None]], format="csr")            # (n, n) binary
    A.sort_indices()
    rows = np.repeat(np.arange(A.shape[0], dtype=np.int64), np.diff(A.indptr))
    return rows, A.indices.astype(np.int64)


def normalized_values(rows, cols, n_nodes):
    r"""``Â``'s values ``1 / sqrt(deg_r · deg_c)`` on the given edges, float64 (2·nnz,)."""
    deg = np.bincount(rows, minlength=n_nodes).astype(np.float64)   # (n,)
    with np.errstate(divide="ignore"):
        inv_sqrt = np.where(deg > 0, deg ** -0.5, 0.0)
    return inv_sqrt[rows] * inv_sqrt[cols]


def build_adjacency(R, kind, dtype):
    r"""``(adj, edge_weight, normalize)`` for ``LightGCN.get_embedding`` and ``LGConv``.

    ``kind`` is one of :data:`ADJACENCIES`; ``dtype`` a torch float dtype.
    """
    import torch
    rows, cols = bipartite_edges(R)
    n = R.shape[0] + R.shape[1]
    if kind in ("edge_index", "edge_index_weighted"):
        edge_index = torch.from_numpy(np.stack([rows, cols]))          # (2, 2·nnz)
        if kind == "edge_index":
            return edge_index, None, True
        w = torch.from_numpy(normalized_values(rows, cols, n)).to(dtype)
        return edge_index, w, False
    crow = torch.from_numpy(np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]))
    col = torch.from_numpy(cols)
    if kind == "csr":
        values = torch.ones(rows.shape[0], dtype=dtype)
        return torch.sparse_csr_tensor(crow, col, values, (n, n)), None, True
    values = torch.from_numpy(normalized_values(rows, cols, n)).to(dtype)
    if kind == "csr_normalized":
        return torch.sparse_csr_tensor(crow, col, values, (n, n)), None, False
    if kind == "csr_normalized_int32":
        return torch.sparse_csr_tensor(crow.int(), col.int(), values, (n, n)), None, False
    if kind == "sparse_tensor":
        from torch_sparse import SparseTensor
        adj = SparseTensor(row=torch.from_numpy(rows), col=col, value=values,
                           sparse_sizes=(n, n))
        return adj, None, False
    raise ValueError(f"adjacency must be one of {ADJACENCIES}, got {kind!r}")


class PyGLightGCN:
    r"""``torch_geometric.nn.models.LightGCN`` trained the minigraphrec way (see the module doc).

    Parameters
    ----------
    R : scipy sparse (n_users, n_items), the binary training matrix
    dim, n_layers, lr, reg : the LightGCN hyperparameters
    adjacency : one of :data:`ADJACENCIES`
    E0 : ndarray (n_users + n_items, dim), optional
        Initial layer-0 embeddings (e.g. minigraphrec's, for the loss
        cross-check); default PyG's own Xavier-uniform init of its one
        ``(n_users + n_items, dim)`` table, a smaller scale than minigraphrec's
        one table per side (see the module's docstring).
    dtype : "float32" or "float64"
    seed : int, torch's seed for PyG's init (when ``E0`` is None)
    """

    def __init__(self, R, dim=64, n_layers=3, lr=1e-3, reg=1e-4, adjacency="csr_normalized",
                 E0=None, dtype="float32", seed=0):
        import torch
        from torch_geometric.nn.models import LightGCN

        self.torch = torch
        self.n_users, self.n_items = R.shape
        self.n_layers, self.reg = n_layers, reg
        self.dtype = getattr(torch, dtype)
        self.adjacency = adjacency
        self.adj, self.edge_weight, normalize = build_adjacency(R, adjacency, self.dtype)
        torch.manual_seed(seed)
        n = self.n_users + self.n_items
        self.model = LightGCN(n, dim, n_layers, normalize=normalize).to(self.dtype)
        if E0 is not None:
            E0 = np.asarray(E0)
            if E0.shape != (n, dim):
                raise ValueError(f"E0 must have shape {(n, dim)}, got {E0.shape}")
            with torch.no_grad():
                self.model.embedding.weight.copy_(torch.from_numpy(E0))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)

    def _ids(self, users, pos, neg):
        t = self.torch
        return (t.from_numpy(np.asarray(users, dtype=np.int64)),
                t.from_numpy(np.asarray(pos, dtype=np.int64) + self.n_users),
                t.from_numpy(np.asarray(neg, dtype=np.int64) + self.n_users))

    def loss(self, users, pos, neg):
        r"""The batch loss (a torch scalar with a graph): full-graph propagation, BPR, L2."""
        F = self.torch.nn.functional
        u, i, j = self._ids(users, pos, neg)
        E = self.model.get_embedding(self.adj, self.edge_weight)     # (n, d) whole graph
        E0 = self.model.embedding.weight                              # (n, d)
        e_u, e_i, e_j = E[u], E[i], E[j]                              # (B, d) each
        s_pos = (e_u * e_i).sum(dim=1)                                # (B,)
        s_neg = (e_u * e_j).sum(dim=1)
        B = u.shape[0]
        l2 = E0[u].square().sum() + E0[i].square().sum() + E0[j].square().sum()
        return F.softplus(s_neg - s_pos).mean() + self.reg * 0.5 * l2 / B

    def loss_and_grad(self, users, pos, neg):
        """``(loss: float, dE0: ndarray (n, d))`` at the current embeddings, no step."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(users, pos, neg)
        loss.backward()
        grad = self.model.embedding.weight.grad.detach().numpy().copy()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.item()), grad

    def step(self, users, pos, neg):
        """One training step on the batch: forward, loss, backward, Adam; returns the loss."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(users, pos, neg)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def train_epoch(self, R, rng, batch_size, stop=None):
        r"""One epoch of BPR steps, the triples drawn as minigraphrec's models draw them.

        ``sample_bpr(R, random_state=rng)`` gives as many ``(u, i, j)`` triples as ``R`` has
        entries; they are stepped through in batches of ``batch_size``, in order. ``stop``
        (a callable, no arguments) is asked after every batch but the epoch's last: True ends
        the epoch there (a wall-time budget).

        Parameters
        ----------
        R : scipy sparse (n_users, n_items), the binary training matrix
        rng : numpy Generator, the sampler's
        batch_size : int, triples per step
        stop : callable or None

        Returns
        -------
        (mean loss over the batches run, batches run, batches in the epoch)
        """
        from minigraphrec.ops import sample_bpr
        users, pos, neg = sample_bpr(R, random_state=rng)            # (nnz,) each
        starts = range(0, users.shape[0], batch_size)
        total = 0.0
        for b, s in enumerate(starts, 1):
            total += self.step(users[s:s + batch_size], pos[s:s + batch_size],
                               neg[s:s + batch_size])
            if stop is not None and b < len(starts) and stop():
                return total / b, b, len(starts)
        return total / len(starts), len(starts), len(starts)

    def final_embeddings(self):
        """``E`` (n_users + n_items, d) as a NumPy array, users first."""
        with self.torch.no_grad():
            return self.model.get_embedding(self.adj, self.edge_weight).numpy().copy()


class FixedEmbeddings(Recommender):
    r"""A minigraphrec ``Recommender`` scoring by dot products of fixed final embeddings.

    For :func:`minigraphrec.metrics.evaluate` on a model trained outside
    minigraphrec. ``E`` (n_users + n_items, d), users first; ``train`` the
    training ``Interactions`` (their items are the ones ``evaluate``
    excludes from each ranking). ``score(users)`` is
    ``E[users] @ E[n_users:]ᵀ`` in float64, (len(users), n_items).
    """

    def __init__(self, E, n_users, train):
        self._fit_interactions(train)                          # n_users_, n_items_, R_
        if E.shape[0] != n_users + self.n_items_ or n_users != self.n_users_:
            raise ValueError(f"E must have {self.n_users_} + {self.n_items_} rows, got "
                             f"{E.shape[0]} (n_users={n_users})")
        self.user_embeddings_ = np.ascontiguousarray(E[:n_users])     # (n_users, d)
        self.item_embeddings_ = np.ascontiguousarray(E[n_users:])     # (n_items, d)

    def get_params(self, deep=False):
        return {}

    def _score_batch(self, users):
        return (self.user_embeddings_[users] @ self.item_embeddings_.T).astype(np.float64)
