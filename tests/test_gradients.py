"""Every differentiable op, loss and model, checked against finite differences in float64.

The tables
----------
``OP_CASES``: one :class:`OpCase` per op configuration. ``build(rng)`` returns
the positional arguments of ``forward`` (float64 arrays and constants);
``wrt`` names the positions that are differentiated, in the order
``backward(cache, upstream)`` returns their gradients. Each (case, input)
pair is one directional :func:`~minigraphrec.gradcheck.check_vjp`.

``MODEL_CASES``: one :class:`ModelCase` per model configuration.
``build(rng)`` returns ``(model, batch)``: a model fitted with
``dtype=np.float64`` and ``epochs=0`` (dropout off) and a batch for its
``loss_and_grad``; every key of ``model.params`` is then checked by
:func:`~minigraphrec.gradcheck.check_model_grads`, which also compares an
embedding model's scoring rows (``_all_embeddings``) with its training rows
(``_forward_rows``), dropout off. Adding a model is one entry, e.g.::

    def _lightgcn_bpr(rng):
        train = ...tiny Interactions...
        model = mgr.LightGCN(dim=4, n_layers=2, dtype=np.float64, random_state=0).fit(train, epochs=0)
        return model, mgr.PairBatch.make(users, pos, neg)

    MODEL_CASES.append(ModelCase("lightgcn-bpr", _lightgcn_bpr))

A case may add ``guard(model, batch, results)``, run after the check on its
results, to show that they are not vacuous: that the directional derivatives
are far above round-off, and that a gradient which is zero by structure is
asserted zero rather than checked as noise (the GAT cases:
:func:`_gat_checks_are_not_vacuous`).

The rest of the file: points next to kinks, dropout, float32 in -> float32
out, forward values against the readable references, and input errors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import scipy.sparse as sp

from minigraphrec import losses
from minigraphrec.errors import DataError
from minigraphrec.gradcheck import check_model_grads, check_vjp
from minigraphrec.batch import PairBatch, PointBatch
from minigraphrec.ops import attention, dense, embedding, propagate, scoring, session

DELTA = 1e-3          # distance from a kink, far above the finite-difference step 1e-6


# ===================================================================== builders
def _sparse(rng, n_rows, n_cols, density=0.4):
    """A random CSR matrix with positive weights and at least one empty row."""
    A = sp.random(n_rows, n_cols, density=density, format="csr", random_state=rng,
                  data_rvs=lambda k: rng.uniform(0.1, 1.0, k))
    A = A.tolil()
    A[0, :] = 0                                     # an isolated row
    return sp.csr_matrix(A)


def _symmetric_norm(rng, n_users, n_items):
    """LightGCN's Â = D^{-1/2} A D^{-1/2} of a random bipartite graph (symmetric)."""
    R = (rng.random((n_users, n_items)) < 0.4).astype(np.float64)
    A = sp.bmat([[None, sp.csr_matrix(R)], [sp.csr_matrix(R.T), None]], format="csr")
    deg = np.asarray(A.sum(axis=1)).ravel()
    d_inv_sqrt = np.where(deg > 0, 1 / np.sqrt(np.maximum(deg, 1)), 0.0)
    D = sp.diags(d_inv_sqrt)
    return sp.csr_matrix(D @ A @ D)


def _away_from_zero(rng, shape):
    """Normal draws pushed at least DELTA away from 0 (the ReLU kink)."""
    x = rng.standard_normal(shape)
    return np.sign(x) * (np.abs(x) + DELTA)


def _n(rng, *shape):
    return rng.standard_normal(shape)


# ====================================================================== op table
@dataclass(frozen=True)
class OpCase:
    """A forward/backward pair at a point: see the module docstring."""
    name: str
    build: Callable          # rng -> tuple of forward's positional arguments
    forward: Callable        # *args -> (output, cache)
    backward: Callable       # (cache, upstream) -> gradient, or a tuple/list of them
    wrt: tuple               # argument positions differentiated, in backward's order


def _dropout_fixed_seed(p, seed=7):
    """Dropout whose mask is the same on every call: a fresh Generator(seed) each time."""
    return lambda X: dense.dropout_forward(X, p, np.random.default_rng(seed))


def _lightgcn_bpr_pipeline(E0, A_hat, users, pos, neg, K, reg):
    """A whole LightGCN BPR loss composed from the ops (E0 -> scalar)."""
    E, c_prop = propagate.lightgcn_forward(A_hat, E0, K, A_hat_T=A_hat)      # (n, d)
    e_u, c_u = embedding.gather_forward(E, users)                            # (B, d)
    e_i, c_i = embedding.gather_forward(E, pos)
    e_j, c_j = embedding.gather_forward(E, neg)
    s_pos, c_pos = scoring.dot_forward(e_u, e_i)                             # (B,)
    s_neg, c_neg = scoring.dot_forward(e_u, e_j)
    loss_bpr, c_bpr = losses.bpr_forward(s_pos, s_neg)
    rows0 = [E0[users], E0[pos], E0[neg]]
    loss_reg, c_reg = losses.l2_forward(rows0, reg, users.shape[0])
    return loss_bpr + loss_reg, (c_prop, c_u, c_i, c_j, c_pos, c_neg, c_bpr, c_reg,
                                 E0.shape, users, pos, neg)


def _lightgcn_bpr_pipeline_backward(cache, dloss):
    c_prop, c_u, c_i, c_j, c_pos, c_neg, c_bpr, c_reg, shape, users, pos, neg = cache
    ds_pos, ds_neg = losses.bpr_backward(c_bpr, dloss)
    de_u1, de_i = scoring.dot_backward(c_pos, ds_pos)
    de_u2, de_j = scoring.dot_backward(c_neg, ds_neg)
    dE = (embedding.gather_backward(c_u, de_u1 + de_u2) + embedding.gather_backward(c_i, de_i)
          + embedding.gather_backward(c_j, de_j))
    dE0 = propagate.lightgcn_backward(c_prop, dE)
    for idx, drows in zip((users, pos, neg), losses.l2_backward(c_reg, dloss)):
        np.add.at(dE0, idx, drows)
    return dE0


def _pipeline_args(rng):
    n_users, n_items, d, B = 5, 7, 3, 9
    A_hat = _symmetric_norm(rng, n_users, n_items)
    users = rng.integers(0, n_users, B)
    pos = n_users + rng.integers(0, n_items, B)
    neg = n_users + rng.integers(0, n_items, B)
    return (0.5 * _n(rng, n_users + n_items, d), A_hat, users, pos, neg, 2, 0.1)


OP_CASES = [
    # --- propagation
    OpCase("propagate", lambda r: (_sparse(r, 6, 8), _n(r, 8, 3), "numpy"),
           propagate.propagate_forward, propagate.propagate_backward, (1,)),
    OpCase("propagate/A_hat_T given", lambda r: (lambda A: (A, _n(r, 8, 3), "numpy", A.T.tocsr()))(
        _sparse(r, 6, 8)), propagate.propagate_forward, propagate.propagate_backward, (1,)),
    OpCase("propagate/numba", lambda r: (_sparse(r, 6, 8), _n(r, 8, 3), "numba"),
           propagate.propagate_forward, propagate.propagate_backward, (1,)),
    OpCase("propagate/dense A", lambda r: (_n(r, 6, 8), _n(r, 8, 3)),
           propagate.propagate_forward, propagate.propagate_backward, (1,)),
    # some rows of one hop (the batch-local GCN/NGCF layers); rows repeat, like a batch
    OpCase("propagate_rows", lambda r: (_sparse(r, 6, 8), _n(r, 8, 3), np.array([4, 0, 4, 2]),
                                        "numpy"),
           propagate.propagate_rows_forward, propagate.propagate_rows_backward, (1,)),
    OpCase("propagate_rows/numba", lambda r: (_sparse(r, 6, 8), _n(r, 8, 3), np.array([5, 1, 2]),
                                              "numba"),
           propagate.propagate_rows_forward, propagate.propagate_rows_backward, (1,)),
    OpCase("lightgcn/K=0", lambda r: (_sparse(r, 7, 7), _n(r, 7, 3), 0, "numpy"),
           propagate.lightgcn_forward, propagate.lightgcn_backward, (1,)),
    OpCase("lightgcn/K=1", lambda r: (_sparse(r, 7, 7), _n(r, 7, 3), 1, "numpy"),
           propagate.lightgcn_forward, propagate.lightgcn_backward, (1,)),
    OpCase("lightgcn/K=3 non-symmetric", lambda r: (_sparse(r, 7, 7), _n(r, 7, 3), 3, "numpy"),
           propagate.lightgcn_forward, propagate.lightgcn_backward, (1,)),
    OpCase("lightgcn/K=3 symmetric, A_hat_T=A_hat",
           lambda r: (lambda A: (A, _n(r, 9, 3), 3, "numpy", A))(_symmetric_norm(r, 4, 5)),
           propagate.lightgcn_forward, propagate.lightgcn_backward, (1,)),
    OpCase("lightgcn/K=2 numba", lambda r: (_sparse(r, 7, 7), _n(r, 7, 3), 2, "numba"),
           propagate.lightgcn_forward, propagate.lightgcn_backward, (1,)),
    # --- dense
    OpCase("linear", lambda r: (_n(r, 5, 4), _n(r, 4, 3), _n(r, 3), "numpy"),
           dense.linear_forward, dense.linear_backward, (0, 1, 2)),
    OpCase("linear/numba dW", lambda r: (_n(r, 5, 4), _n(r, 4, 3), _n(r, 3), "numba"),
           dense.linear_forward, dense.linear_backward, (0, 1, 2)),
    OpCase("linear/no bias", lambda r: (_n(r, 5, 4), _n(r, 4, 3)),
           dense.linear_forward, lambda c, dZ: dense.linear_backward(c, dZ)[:2], (0, 1)),
    OpCase("linear/sparse X", lambda r: (_sparse(r, 5, 4), _n(r, 4, 3), _n(r, 3)),
           dense.linear_forward, lambda c, dZ: dense.linear_backward(c, dZ)[1:], (1, 2)),
    OpCase("identity", lambda r: (_n(r, 4, 3),),
           dense.identity_forward, dense.identity_backward, (0,)),
    OpCase("relu", lambda r: (_away_from_zero(r, (5, 4)),),
           dense.relu_forward, dense.relu_backward, (0,)),
    OpCase("leaky_relu/0.2", lambda r: (_away_from_zero(r, (5, 4)),),
           dense.leaky_relu_forward, dense.leaky_relu_backward, (0,)),
    OpCase("leaky_relu/0.01", lambda r: (_away_from_zero(r, (5, 4)), 0.01),
           dense.leaky_relu_forward, dense.leaky_relu_backward, (0,)),
    OpCase("sigmoid", lambda r: (3 * _n(r, 5, 4),),
           dense.sigmoid_forward, dense.sigmoid_backward, (0,)),
    OpCase("sigmoid/large |x|", lambda r: (np.array([-30.0, -12.0, 12.0, 30.0]),),
           dense.sigmoid_forward, dense.sigmoid_backward, (0,)),
    OpCase("tanh", lambda r: (2 * _n(r, 5, 4),),
           dense.tanh_forward, dense.tanh_backward, (0,)),
    OpCase("dropout/p=0.3 fixed seed", lambda r: (_n(r, 6, 5),),
           _dropout_fixed_seed(0.3), dense.dropout_backward, (0,)),
    OpCase("dropout/eval", lambda r: (_n(r, 6, 5), 0.5, np.random.default_rng(0), False),
           dense.dropout_forward, dense.dropout_backward, (0,)),
    # --- embedding lookup (ids repeat: contributions must add up)
    OpCase("gather/repeated ids", lambda r: (_n(r, 6, 3), np.array([4, 1, 4, 0, 4, 1])),
           embedding.gather_forward, embedding.gather_backward, (0,)),
    OpCase("gather/1-d table", lambda r: (_n(r, 6), np.array([5, 5, 2])),
           embedding.gather_forward, embedding.gather_backward, (0,)),
    # --- pair scores
    OpCase("dot", lambda r: (_n(r, 6, 4), _n(r, 6, 4)),
           scoring.dot_forward, scoring.dot_backward, (0, 1)),
    OpCase("normalize", lambda r: (_n(r, 6, 4),),
           scoring.normalize_forward, scoring.normalize_backward, (0,)),
    OpCase("normalize/clamped rows", lambda r: (0.1 * _n(r, 6, 4), 1.0),
           scoring.normalize_forward, scoring.normalize_backward, (0,)),
    OpCase("cosine", lambda r: (_n(r, 6, 4), _n(r, 6, 4)),
           scoring.cosine_forward, scoring.cosine_backward, (0, 1)),
    OpCase("cosine/some rows clamped",
           lambda r: (np.vstack([0.1 * _n(r, 3, 4), 3 * _n(r, 3, 4)]), _n(r, 6, 4), 1.0),
           scoring.cosine_forward, scoring.cosine_backward, (0, 1)),
    OpCase("euclidean", lambda r: (_n(r, 6, 4), _n(r, 6, 4)),
           scoring.euclidean_forward, scoring.euclidean_backward, (0, 1)),
    # --- losses
    OpCase("bce_with_logits", lambda r: (3 * _n(r, 8), (r.random(8) < 0.5).astype(float)),
           losses.bce_with_logits_forward, losses.bce_with_logits_backward, (0,)),
    OpCase("bce_with_logits/soft labels", lambda r: (3 * _n(r, 8), r.random(8)),
           losses.bce_with_logits_forward, losses.bce_with_logits_backward, (0,)),
    OpCase("bce_with_logits/large logits", lambda r: (np.array([-40.0, -25.0, 25.0, 40.0]),
                                                      np.array([1.0, 0.0, 1.0, 0.0])),
           losses.bce_with_logits_forward, losses.bce_with_logits_backward, (0,)),
    OpCase("bpr", lambda r: (3 * _n(r, 8), 3 * _n(r, 8)),
           losses.bpr_forward, losses.bpr_backward, (0, 1)),
    OpCase("l2", lambda r: (_n(r, 4, 3), _n(r, 4, 3), _n(r, 2, 3), 0.3, 4),
           lambda a, b, c, reg, B: losses.l2_forward([a, b, c], reg, B),
           losses.l2_backward, (0, 1, 2)),
    # --- the ops composed into LightGCN's loss
    OpCase("lightgcn bpr+l2 pipeline", _pipeline_args,
           _lightgcn_bpr_pipeline, _lightgcn_bpr_pipeline_backward, (0,)),
]

# --- graph attention (ops/attention.py): softmax over each row's edges, the weighted
# aggregate, the logits (with edge weights: β log w), and a whole layer (heads, dropout)
OP_CASES += [
    OpCase("edge_softmax/3 heads",
           lambda r: (lambda A: (A.indptr, _n(r, A.nnz, 3), "numpy"))(_sparse(r, 7, 7)),
           attention.edge_softmax_forward, attention.edge_softmax_backward, (1,)),
    OpCase("edge_softmax/numba", lambda r: (lambda A: (A.indptr, _n(r, A.nnz), "numba"))(_sparse(r, 7, 7)),
           attention.edge_softmax_forward, attention.edge_softmax_backward, (1,)),
    OpCase("attention_aggregate/2 heads",
           lambda r: (lambda A: (A.indptr, A.indices, r.random((A.nnz, 2)), _n(r, 8, 2, 3),
                                 "numpy"))(
               _sparse(r, 6, 8)),
           attention.attention_aggregate_forward, attention.attention_aggregate_backward, (2, 3)),
    OpCase("attention_aggregate/numba",
           lambda r: (lambda A: (A.indptr, A.indices, r.random(A.nnz), _n(r, 8, 3), "numba"))(
               _sparse(r, 6, 8)),
           attention.attention_aggregate_forward, attention.attention_aggregate_backward, (2, 3)),
    OpCase("gat_logits/2 heads, edge weights",
           lambda r: (lambda A: (A.indptr, A.indices, _n(r, 7, 2, 3), _n(r, 2, 3), _n(r, 2, 3), 0.2,
                                 A.data, _n(r, 2), "numpy"))(_sparse(r, 7, 7)),
           attention.gat_logits_forward, attention.gat_logits_backward, (2, 3, 4, 7)),
    OpCase("gat_logits/numba",
           lambda r: (lambda A: (A.indptr, A.indices, _n(r, 7, 3), _n(r, 3), _n(r, 3), 0.2, None, None,
                                 "numba"))(_sparse(r, 7, 7)),
           attention.gat_logits_forward, lambda c, de: attention.gat_logits_backward(c, de)[:3],
           (2, 3, 4)),
    # the layer draws its dropout mask from a fresh Generator(5) on every call: a fixed mask
    OpCase("gat_layer/3 heads concat, dropout, weighted",
           lambda r: (lambda A: (attention.attention_graph(A, weighted=True), _n(r, 7, 4), _n(r, 4, 6),
                                 _n(r, 3, 2), _n(r, 3, 2), True, 0.3, np.random.default_rng(5), True,
                                 "tanh", 0.2, _n(r, 3), "numpy"))(_sparse(r, 7, 7)),
           lambda g, H, W, a_s, a_d, *rest: attention.gat_layer_forward(
               g, H, W, a_s, a_d, *rest[:2], np.random.default_rng(5), *rest[3:]),
           attention.gat_layer_backward, (1, 2, 3, 4, 11)),
    OpCase("gat_layer/2 heads mean, numba",
           lambda r: (_sparse(r, 7, 7), _n(r, 7, 4), _n(r, 4, 6), _n(r, 2, 3), _n(r, 2, 3), False,
                      0.0, None, True, "tanh", 0.2, None, "numba"),
           attention.gat_layer_forward, lambda c, d: attention.gat_layer_backward(c, d)[:4],
           (1, 2, 3, 4)),
]


# SR-GNN: session propagation (packed sparse and padded dense), the GRU cell, the attention
# readout over packed positions, softmax cross-entropy
def _sessions_readout_args(r, hybrid=True):
    pos_ptr = np.array([0, 3, 4, 8])                                     # lengths 3, 1, 4
    args = (_n(r, 8, 5), pos_ptr, _n(r, 5, 5), _n(r, 5, 5), _n(r, 5), _n(r, 5))
    return args + ((_n(r, 10, 3),) if hybrid else ())


def _block_diagonal(r):
    """Three sessions' adjacency blocks (3, 1 and 4 nodes), one with an empty row."""
    blocks = [r.random((3, 3)), r.random((1, 1)), r.random((4, 4))]
    blocks[2][1] = 0
    return sp.block_diag(blocks, format="csr")


OP_CASES += [
    OpCase("session_propagate/packed sparse", lambda r: (_block_diagonal(r), _n(r, 8, 5)),
           session.session_propagate_forward, session.session_propagate_backward, (1,)),
    OpCase("session_propagate/padded dense", lambda r: (r.random((3, 4, 4)), _n(r, 3, 4, 5)),
           session.session_propagate_forward, session.session_propagate_backward, (1,)),
    OpCase("gru_cell", lambda r: (_n(r, 6, 4), _n(r, 6, 3), _n(r, 4, 9), _n(r, 3, 9), _n(r, 9),
                                  "numpy"),
           session.gru_cell_forward, session.gru_cell_backward, (0, 1, 2, 3, 4)),
    OpCase("gru_cell/numba",
           lambda r: (_n(r, 6, 4), _n(r, 6, 3), _n(r, 4, 9), _n(r, 3, 9), _n(r, 9), "numba"),
           session.gru_cell_forward, session.gru_cell_backward, (0, 1, 2, 3, 4)),
    OpCase("session_readout/hybrid", _sessions_readout_args,
           session.session_readout_forward, session.session_readout_backward,
           (0, 2, 3, 4, 5, 6)),
    OpCase("session_readout/global", lambda r: _sessions_readout_args(r, hybrid=False),
           session.session_readout_forward,
           lambda cache, ds: session.session_readout_backward(cache, ds)[:5], (0, 2, 3, 4, 5)),
    OpCase("softmax_cross_entropy", lambda r: (3 * _n(r, 5, 7), r.integers(0, 7, 5)),
           losses.softmax_cross_entropy_forward, losses.softmax_cross_entropy_backward, (0,)),
    OpCase("softmax_cross_entropy/large logits",
           lambda r: (np.array([[-1000.0, 0.0, 1000.0], [999.0, 1000.0, -5.0]]), np.array([0, 1])),
           losses.softmax_cross_entropy_forward, losses.softmax_cross_entropy_backward, (0,)),
]

# the fold-in of an ad-hoc history (EmbeddingRecommender.fold_in), issue 11
from minigraphrec.models.embedding_base import fold_in_loss_backward, fold_in_loss_forward  # noqa: E402

OP_CASES += [
    OpCase("fold_in_loss", lambda r: (_n(r, 5), _n(r, 3, 5), _n(r, 3, 4, 5), 0.1),
           fold_in_loss_forward, fold_in_loss_backward, (0,)),
    OpCase("fold_in_loss/large scores", lambda r: (40 * _n(r, 5), _n(r, 3, 5), _n(r, 3, 4, 5), 0.0),
           fold_in_loss_forward, fold_in_loss_backward, (0,)),
]

# --- batch-restricted LightGCN propagation (ops/lightgcn_rows.py): dE0 through E[nodes]
from minigraphrec.ops import lightgcn_rows  # noqa: E402

OP_CASES += [
    OpCase("lightgcn_rows/K=0", lambda r: (_symmetric_norm(r, 5, 7), _n(r, 12, 3), 0,
                                           np.array([1, 6, 11]), "numpy"),
           lightgcn_rows.lightgcn_rows_forward, lightgcn_rows.lightgcn_rows_backward, (1,)),
    OpCase("lightgcn_rows/K=2 numpy", lambda r: (_symmetric_norm(r, 5, 7), _n(r, 12, 3), 2,
                                                 np.array([0, 3, 6, 9]), "numpy"),
           lightgcn_rows.lightgcn_rows_forward, lightgcn_rows.lightgcn_rows_backward, (1,)),
    OpCase("lightgcn_rows/K=3 numba", lambda r: (_symmetric_norm(r, 5, 7), _n(r, 12, 3), 3,
                                                 np.array([2, 8]), "numba"),
           lightgcn_rows.lightgcn_rows_forward, lightgcn_rows.lightgcn_rows_backward, (1,)),
    OpCase("lightgcn_rows/K=3 numba, ball search stops early",
           lambda r: (_symmetric_norm(r, 8, 9), _n(r, 17, 3), 3, np.arange(0, 17, 2), "numba"),
           lightgcn_rows.lightgcn_rows_forward, lightgcn_rows.lightgcn_rows_backward, (1,)),
]

def _as_tuple(grads):
    return tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)


def _op_checks():
    for case in OP_CASES:
        for k, pos in enumerate(case.wrt):
            yield pytest.param(case, k, pos, id=f"{case.name}/arg{pos}")


@pytest.mark.parametrize("case, k, pos", list(_op_checks()))
def test_op_gradient(case, k, pos):
    args = case.build(np.random.default_rng(0))

    def with_x(x):
        return args[:pos] + (x,) + args[pos + 1:]

    def f(x):
        return case.forward(*with_x(x))[0]

    def vjp(x, v):
        _, cache = case.forward(*with_x(x))
        return _as_tuple(case.backward(cache, v))[k]

    check_vjp(f, vjp, args[pos], rng=np.random.default_rng(1))


def test_every_op_and_loss_is_in_the_table():
    """A new ``*_forward`` in an op module or losses.py must get an OpCase."""
    tested = {c.forward for c in OP_CASES}
    tested_names = {c.name.split("/")[0] for c in OP_CASES}
    for module in (propagate, lightgcn_rows, dense, embedding, scoring, losses, attention,
                   session):
        for name in module.__all__:
            if name.endswith("_forward"):
                fn = getattr(module, name)
                assert fn in tested or name[:-len("_forward")] in tested_names, name


# =================================================================== model table
@dataclass(frozen=True)
class ModelCase:
    """A float64 model and a batch: see the module docstring."""
    name: str
    build: Callable          # rng -> (fitted model, batch)
    guard: Callable | None = None    # (model, batch, results of the check) -> None, asserts


MODEL_CASES: list[ModelCase] = []


# --- MF, LightGCN, GCN, NGCF (models helper): every model's full loss, BPR and BCE batches
def _model_data(features=False, events=False):
    """8 users, 10 items; user 0 and item 9 isolated; optional features (user dense, item sparse).

    With ``events``, every pair is repeated 1-3 times with a rating and a timestamp each, so
    that "count", "log1p" and "time_decay" edge weights all vary from edge to edge.
    """
    from minigraphrec.data import Interactions
    rng = np.random.default_rng(11)
    R = rng.random((8, 10)) < 0.35
    R[0, :], R[:, 9] = False, False
    R[1, 1] = True
    u, i = np.nonzero(R)
    kw = {}
    if features:
        kw = dict(user_features=rng.standard_normal((8, 3)),
                  item_features=sp.random(10, 5, density=0.5, random_state=3, format="csr"))
    if events:
        repeats = rng.integers(1, 4, u.size)
        u, i = np.repeat(u, repeats), np.repeat(i, repeats)
        kw.update(weights=rng.integers(1, 6, u.size).astype(np.float64),
                  timestamps=rng.uniform(0.0, 100.0, u.size))
    return Interactions(u, i, n_users=8, n_items=10, **kw)


def _model_batch(kind):
    """A batch with a repeated user, an isolated user (0) and an isolated item (9)."""
    from minigraphrec.batch import PairBatch, PointBatch
    if kind == "bpr":
        return PairBatch.make([1, 0, 3, 1, 7], [1, 2, 9, 1, 4], [5, 9, 0, 6, 2])
    return PointBatch.make([1, 0, 3, 1, 7, 5], [1, 2, 9, 6, 4, 3], [1, 0, 1, 0, 1, 0])


def _model_case(name, cls, features=False, events=False, **kw):
    """ModelCases for ``cls(**kw)`` in float64 on each of a BPR and a BCE batch."""
    def build(rng, kind):
        model = cls(dim=3, reg=0.3, dtype=np.float64, random_state=int(rng.integers(1000)), **kw)
        model.fit(_model_data(features, events), epochs=0)
        for p in model.params.values():     # biases start at 0: an isolated node's Z = b would
            p += 0.1 * rng.standard_normal(p.shape)      # sit on the ReLU kink; move off it
        return model, _model_batch(kind)
    return [ModelCase(f"{name}-{kind}", lambda rng, kind=kind: build(rng, kind))
            for kind in ("bpr", "bce")]


def _model_cases():
    from minigraphrec.models import GCN, MF, NGCF, LightGCN
    cases = []
    cases += _model_case("mf", MF)
    for K in (0, 1, 3):
        cases += _model_case(f"lightgcn/K={K}", LightGCN, n_layers=K)
    cases += _model_case("lightgcn/K=2 numpy backend", LightGCN, n_layers=2, backend="numpy")
    cases += _model_case("gcn/symmetric+self-loops relu", GCN)
    cases += _model_case("gcn/sum no self-loops (as printed)", GCN, normalization="sum",
                         self_loops=False, final_activation=True, activation="leaky_relu")
    cases += _model_case("gcn/sum+self-loops tanh", GCN, normalization="sum", activation="tanh")
    cases += _model_case("gcn/mean 3 layers sigmoid", GCN, normalization="mean", n_layers=3,
                         activation="sigmoid")
    cases += _model_case("gcn/features", GCN, features=True, input="features")
    cases += _model_case("gcn/features+embedding symmetric no self-loops", GCN, features=True,
                         input="both", self_loops=False, final_activation=True, activation="tanh")
    cases += _model_case("ngcf/no dropout", NGCF, message_dropout=0.0)
    cases += _model_case("ngcf/message+node dropout", NGCF, message_dropout=0.3, node_dropout=0.3)
    cases += _model_case("ngcf/1 layer, layers not normalised", NGCF, n_layers=1,
                         normalize_layers=False)
    # edge weights replace A's ones before the normalisation (issue 5)
    cases += _model_case("lightgcn/K=2 time-decay weights", LightGCN, events=True, n_layers=2,
                         edge_weights="time_decay", half_life=30.0)
    cases += _model_case("lightgcn/K=3 count weights, numpy backend", LightGCN, events=True,
                         n_layers=3, edge_weights="count", backend="numpy")
    cases += _model_case("gcn/mean+self-loops, log1p weights", GCN, events=True,
                         normalization="mean", edge_weights="log1p", activation="tanh")
    cases += _model_case("gcn/time-decay weights, features", GCN, features=True, events=True,
                         input="features", edge_weights="time_decay", half_life=50.0)
    return cases


MODEL_CASES += _model_cases()


# --- GAT: heads, attention dropout (a fixed mask per step_), weights, features
def _gat(loss_kind, **kw):
    def build(rng):
        from minigraphrec.datasets import synthetic
        from minigraphrec.models.gat import GAT
        train = synthetic(n_users=12, n_items=15, n_communities=2, mean_interactions=4,
                          min_interactions=2, ratings=True, random_state=0)
        model = GAT(**{"dim": 4, "n_layers": 2, **kw}, dtype=np.float64,
                    random_state=0).fit(train, epochs=0)
        for v in model.params.values():
            v[...] = rng.standard_normal(v.shape)
        model.step_ = 3
        users, items = rng.integers(0, 12, 8), rng.integers(0, 15, 8)
        if loss_kind == "bpr":
            return model, PairBatch.make(users, items, rng.integers(0, 15, 8))
        return model, PointBatch.make(users, items, (rng.random(8) < 0.5).astype(np.float64))
    return build


def _cancelled_heads(model, batch):
    r"""The heads of the last GAT layer whose ``a_dst`` gradient is zero by structure, (n_heads,).

    ``a_dst`` enters a receiver ``v``'s logits through one term, ``s_dst[v] = a_dstᵀ Z_v``,
    the same in every logit of row ``v``: ``pre_vu = s_src[u] + s_dst[v]``. When every
    ``pre_vu`` of the row is on one side of the LeakyReLU, ``e_vu = c · pre_vu [+ β log w_vu]``
    with one slope ``c`` (1 or 0.2), so ``s_dst[v]`` shifts all the row's logits alike and the
    softmax ignores it: ``∂L/∂s_dst[v] = c Σ_u ∂L/∂e_vu = 0`` (a softmax's logit gradients sum
    to 0, with attention dropout too). The last layer's receivers are the batch's nodes only
    (the loss reads ``H^L`` there); when each of their rows is one-sided in head ``h``, the
    gradient of ``a_dst{L-1}[h]`` is a sum of zeros: rounding. Measured on the cases below: such
    heads' gradients are 7e-17..2e-15 and the loss does not change along ``a_dst{L-1}`` at all
    (the central difference is 0.0), while every other key's directional derivative is 3e-4 or
    more, and a head with a mixed row is not zero (its smallest here: 1.7e-6). Earlier layers'
    receivers are whole hop balls, where some row is mixed.
    """
    _, node_ids, _ = model._batch_nodes(batch)
    H0, _ = model._input_layer()
    _, caches = model._attend(H0, training=True)                  # the full graph's layers
    graph, positive = caches[-1][0], caches[-1][6]                # pre > 0: (nnz, n_heads)
    cancelled = np.ones(positive.shape[1], dtype=bool)
    for v in np.unique(node_ids):                                 # the last layer's receivers
        row = positive[graph.indptr[v]:graph.indptr[v + 1]]      # (deg v, n_heads)
        cancelled &= np.all(row == row[:1], axis=0)               # one sign in the row
    return cancelled


def _gat_checks_are_not_vacuous(model, batch, results):
    """Every directional derivative is far above round-off (~1e-9 here: 4 ε_mach |L| / 1e-6),
    except the last layer's ``a_dst`` where it cancels (:func:`_cancelled_heads`): its
    gradient is asserted zero to rounding instead of being compared, as noise, with noise."""
    grads = model.loss_and_grad(batch)[1]
    top = max(np.abs(g).max() for g in grads.values())
    last = f"a_dst{model.n_layers - 1}"
    cancelled = _cancelled_heads(model, batch)
    assert np.abs(grads[last][cancelled]).max(initial=0.0) <= 1e-12 * top, (last, cancelled)
    for key, (_, exact) in results.items():
        if key == last and cancelled.all():
            continue                                              # zero, asserted above
        assert abs(exact) > 1e-4, (key, exact, results)


MODEL_CASES += [
    ModelCase(name, build, _gat_checks_are_not_vacuous) for name, build in [
        ("gat-bpr/2 heads concat, dropout, count weights, features+ids",
         _gat("bpr", n_heads=2, attention_dropout=0.3, edge_weights="count", input="both",
              activation="tanh")),
        ("gat-bce/2 heads mean, last layer, numpy",
         _gat("bce", n_heads=2, concat_heads=False, layer_combination="last",
              attention_dropout=0.3, backend="numpy")),
        ("gat-bpr/time-decay weights, features only",
         _gat("bpr", n_heads=2, edge_weights="time_decay", half_life=30 * 86400.0,
              input="features", activation="tanh")),
        # the default GAT(): numba, ids, 1 head, identity, 2 layers, mean over depths
        ("gat-bpr/default", _gat("bpr")),
        ("gat-bce/default", _gat("bce")),
        ("gat-bpr/1 layer, relu on it", _gat("bpr", n_layers=1, activation="relu",
                                             final_activation=True)),
        # every batch row of the last layer is one-sided (in both heads): a_dst2's gradient
        # is zero, which the guard asserts instead of checking it
        ("gat-bce/3 layers leaky_relu, 2 heads mean, last layer, numba",
         _gat("bce", n_layers=3, activation="leaky_relu", n_heads=2, concat_heads=False,
              layer_combination="last")),
        # the batch rows of the last layer are one-sided in head 1 only: a_dst1[1] is zero
        ("gat-bpr/sigmoid, 2 heads concat, last layer, numba",
         _gat("bpr", activation="sigmoid", n_heads=2, layer_combination="last")),
    ]
]


def _srgnn(n_steps, readout, backend="numba"):
    def build(rng):
        from minigraphrec import SRGNN, SessionBatch
        from minigraphrec.sequences import Sequences, prefix_examples
        seqs = Sequences.from_lists([rng.integers(0, 7, rng.integers(2, 6)) for _ in range(6)]
                                    + [[3, 3, 1, 3]], n_items=7)     # a self-loop and a revisit
        model = SRGNN(dim=4, n_steps=n_steps, readout=readout, dtype=np.float64,
                      backend=backend, random_state=0).fit(seqs, epochs=0)
        return model, SessionBatch(*prefix_examples(seqs))
    return build


MODEL_CASES += [
    ModelCase("srgnn/1 step, hybrid", _srgnn(1, "hybrid")),
    ModelCase("srgnn/2 steps, global", _srgnn(2, "global")),
    ModelCase("srgnn/3 steps, hybrid", _srgnn(3, "hybrid")),
    ModelCase("srgnn/1 step, hybrid, numpy backend", _srgnn(1, "hybrid", backend="numpy")),
    ModelCase("srgnn/2 steps, global, numpy backend", _srgnn(2, "global", backend="numpy")),
]

_EMBEDDING_CASES = [c for c in MODEL_CASES if not c.name.startswith("srgnn")]


@pytest.mark.parametrize("case", _EMBEDDING_CASES, ids=[c.name for c in _EMBEDDING_CASES])
def test_model_scoring_path_is_compared_to_two_tolerances(case):
    """check_model_grads compares every embedding model's scoring rows (``_all_embeddings``)
    with its training rows (``_forward_rows``) to ``64 ε_mach · max|E|``: the table's models
    pass it in :func:`test_model_gradient`; here one batch node's entry of the scoring table
    moved by twice that is caught, named, on each (dropout switched off, not skipped)."""
    from minigraphrec.gradcheck import GradientMismatchError
    model, batch = case.build(np.random.default_rng(0))
    E = np.array(model._all_embeddings())                      # (n_nodes, d_out), a copy
    v = int(np.unique(model._batch_nodes(batch)[1])[-1])        # the batch's last node
    E[v, 1] += 2 * 64 * np.finfo(np.float64).eps * np.abs(E).max()
    model._all_embeddings = lambda: E                           # the instance's own
    with pytest.raises(GradientMismatchError, match=rf"_all_embeddings\(\) .* != _forward_rows"
                                                    rf"\(\) .* on 1 of the batch's .* worst at "
                                                    rf"node {v} \(.*\), column 1: "):
        check_model_grads(model, batch, rng=np.random.default_rng(1))


@pytest.mark.parametrize("case", MODEL_CASES, ids=[c.name for c in MODEL_CASES])
def test_model_gradient(case):
    model, batch = case.build(np.random.default_rng(0))
    before = {k: v.copy() for k, v in model.params.items()}
    results = check_model_grads(model, batch, rng=np.random.default_rng(1))
    for k, v in model.params.items():          # the check restores the parameters exactly
        np.testing.assert_array_equal(v, before[k])
    if case.guard is not None:
        case.guard(model, batch, results)


def test_gat_guard_meets_every_kind_of_last_layer():
    """The GAT cases include a last layer whose ``a_dst`` cancels in every head, one where it
    cancels in some head, and ones where it cancels in none: every branch of the guard runs."""
    seen = set()
    for case in MODEL_CASES:
        if case.guard is _gat_checks_are_not_vacuous:
            cancelled = _cancelled_heads(*case.build(np.random.default_rng(0)))
            seen.add("all" if cancelled.all() else "some" if cancelled.any() else "none")
    assert seen == {"all", "some", "none"}


# ======================================================================== kinks
@pytest.mark.parametrize("side", [-1.0, 1.0])
@pytest.mark.parametrize("op, slope", [("relu", 0.0), ("leaky_relu", 0.2)])
def test_activation_next_to_kink(op, slope, side):
    """At 0 ± DELTA the one-sided derivative is exact (the difference never crosses 0)."""
    forward, backward = dense.ACTIVATIONS[op]
    x = side * DELTA * (1 + np.random.default_rng(2).random((3, 4)))   # all on one side
    check_vjp(lambda z: forward(z)[0], lambda z, v: backward(forward(z)[1], v), x,
              rng=np.random.default_rng(3))
    g = backward(forward(x)[1], np.ones_like(x))
    np.testing.assert_array_equal(g, np.full_like(x, 1.0 if side > 0 else slope))


def test_kink_convention_at_exactly_zero():
    x = np.array([-0.0, 0.0, 1.0, -1.0])
    dY = np.array([2.0, 4.0, 5.0, 8.0])
    np.testing.assert_array_equal(dense.relu_backward(dense.relu_forward(x)[1], dY),
                                  [0.0, 0.0, 5.0, 0.0])
    _, cache = dense.leaky_relu_forward(x, 0.1)
    np.testing.assert_array_equal(dense.leaky_relu_backward(cache, dY),
                                  [0.1 * 2, 0.1 * 4, 5.0, 0.1 * 8])


def test_euclidean_at_identical_vectors_has_zero_gradient():
    U = np.array([[1.0, 2.0], [0.0, 0.0], [3.0, 4.0]])
    V = np.array([[1.0, 2.0], [0.0, 0.0], [0.0, 0.0]])
    s, cache = scoring.euclidean_forward(U, V)
    np.testing.assert_array_equal(s, [0.0, 0.0, -5.0])
    dU, dV = scoring.euclidean_backward(cache, np.array([1.0, 1.0, 2.0]))
    np.testing.assert_allclose(dU, [[0.0, 0.0], [0.0, 0.0], [-1.2, -1.6]], rtol=1e-15, atol=0)
    np.testing.assert_array_equal(dV, -dU)


def test_cosine_with_a_zero_vector():
    """A zero row scores 0, and its gradient is that of the clamped formula, v̂ / eps."""
    U = np.array([[0.0, 0.0], [3.0, 4.0]])
    V = np.array([[0.0, 2.0], [6.0, 8.0]])
    s, cache = scoring.cosine_forward(U, V, eps=1e-8)
    np.testing.assert_allclose(s, [0.0, 1.0], rtol=1e-15, atol=0)
    dU, dV = scoring.cosine_backward(cache, np.array([1.0, 1.0]))
    np.testing.assert_allclose(dU[0], [0.0, 1e8], rtol=1e-15)       # v̂ / eps
    np.testing.assert_array_equal(dV[0], [0.0, 0.0])                 # û = 0
    np.testing.assert_allclose(dU[1], [0.0, 0.0], atol=1e-16)        # parallel: a maximum


def test_cosine_matches_the_article_formula_away_from_zero():
    rng = np.random.default_rng(4)
    U, V = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    s, _ = scoring.cosine_forward(U, V)
    expected = np.sum(U * V, 1) / (np.linalg.norm(U, axis=1) * np.linalg.norm(V, axis=1))
    np.testing.assert_allclose(s, expected, rtol=1e-14)


# ====================================================================== dropout
def test_dropout_same_seed_same_mask_in_both_dtypes():
    X = np.random.default_rng(5).standard_normal((50, 8))
    Y64, m64 = dense.dropout_forward(X, 0.4, np.random.default_rng(11))
    Y32, m32 = dense.dropout_forward(X.astype(np.float32), 0.4, np.random.default_rng(11))
    assert Y32.dtype == np.float32 and Y64.dtype == np.float64
    np.testing.assert_array_equal(m64 > 0, m32 > 0)
    np.testing.assert_array_equal(np.unique(m64), [0.0, 1 / 0.6])


def test_dropout_keeps_about_1_minus_p_and_preserves_the_mean():
    X = np.ones((400, 250))
    Y, mask = dense.dropout_forward(X, 0.3, np.random.default_rng(6))
    kept = np.mean(mask > 0)
    assert abs(kept - 0.7) < 4 * np.sqrt(0.7 * 0.3 / X.size)    # 4 sigma
    assert abs(Y.mean() - 1.0) < 4 * np.sqrt(0.3 / 0.7 / X.size)
    np.testing.assert_array_equal(dense.dropout_backward(mask, X), Y)


def test_dropout_off():
    X = np.arange(6.0).reshape(2, 3)
    for Y, cache in (dense.dropout_forward(X, 0.5, None, training=False),
                     dense.dropout_forward(X, 0.0, None)):
        assert Y is X and cache is None
        assert dense.dropout_backward(cache, X) is X


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(DataError, match=r"\[0, 1\)"):
        dense.dropout_forward(np.ones(3), p, np.random.default_rng(0))


def test_dropout_needs_a_generator():
    with pytest.raises(TypeError, match="Generator"):
        dense.dropout_forward(np.ones(3), 0.5, 42)


# ========================================================= float32 stays float32
def _to32(a):
    if sp.issparse(a):
        return a.astype(np.float32)
    if isinstance(a, np.ndarray) and a.dtype == np.float64:
        return a.astype(np.float32)
    return a


@pytest.mark.parametrize("case", OP_CASES, ids=[c.name for c in OP_CASES])
def test_float32_in_float32_out(case):
    args = tuple(_to32(a) for a in case.build(np.random.default_rng(0)))
    out, cache = case.forward(*args)
    if isinstance(out, np.ndarray):
        assert out.dtype == np.float32, case.name
        upstream = np.ones_like(out)
    else:
        assert isinstance(out, float), case.name
        upstream = 1.0
    for g in _as_tuple(case.backward(cache, upstream)):
        assert g.dtype == np.float32, case.name


# ============================================== forward values vs the references
def test_propagate_is_A_hat_times_X_and_backends_agree_bitwise():
    rng = np.random.default_rng(8)
    A, X = _sparse(rng, 30, 40), rng.standard_normal((40, 5))
    dY = rng.standard_normal((30, 5))
    Y_np, c_np = propagate.propagate_forward(A, X, backend="numpy")
    Y_nb, c_nb = propagate.propagate_forward(A, X, backend="numba")
    np.testing.assert_array_equal(Y_np, A @ X)
    np.testing.assert_array_equal(Y_nb, Y_np)
    dX = propagate.propagate_backward(c_np, dY)
    np.testing.assert_array_equal(dX, A.T.tocsr() @ dY)
    np.testing.assert_array_equal(propagate.propagate_backward(c_nb, dY), dX)
    _, c_t = propagate.propagate_forward(A, X, A_hat_T=A.T.tocsr())
    np.testing.assert_array_equal(propagate.propagate_backward(c_t, dY), dX)


def test_propagate_casts_A_hat_to_the_dtype_of_X():
    rng = np.random.default_rng(10)
    A, X = _sparse(rng, 6, 6), rng.standard_normal((6, 2)).astype(np.float32)
    for backend in ("numpy", "numba"):
        Y, cache = propagate.propagate_forward(A, X, backend=backend)
        assert Y.dtype == np.float32
        np.testing.assert_array_equal(Y, A.astype(np.float32) @ X)
        assert propagate.propagate_backward(cache, Y).dtype == np.float32


def test_lightgcn_matches_the_formula():
    rng = np.random.default_rng(11)
    A, E0 = _symmetric_norm(rng, 6, 9), rng.standard_normal((15, 4))
    Ad = A.toarray()
    for K in (0, 1, 3):
        expected = sum(np.linalg.matrix_power(Ad, k) @ E0 for k in range(K + 1)) / (K + 1)
        E, cache = propagate.lightgcn_forward(A, E0, K, backend="numpy")
        np.testing.assert_allclose(E, expected, rtol=1e-13, atol=1e-15)
        dE = rng.standard_normal(E.shape)
        expected_dE0 = sum(np.linalg.matrix_power(Ad.T, k) @ dE for k in range(K + 1)) / (K + 1)
        np.testing.assert_allclose(propagate.lightgcn_backward(cache, dE), expected_dE0,
                                   rtol=1e-13, atol=1e-15)
        E_nb, c_nb = propagate.lightgcn_forward(A, E0, K, backend="numba", A_hat_T=A)
        np.testing.assert_array_equal(E_nb, E)
        np.testing.assert_array_equal(propagate.lightgcn_backward(c_nb, dE),
                                      propagate.lightgcn_backward(cache, dE))
    E, _ = propagate.lightgcn_forward(A, E0, 0)
    assert E is not E0                                  # K=0 returns a copy


def test_linear_forward_and_sparse_features():
    rng = np.random.default_rng(12)
    X, W, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    Z, cache = dense.linear_forward(X, W, b)
    np.testing.assert_allclose(Z, X @ W + b, rtol=1e-15)
    Xs = sp.csr_matrix(np.where(X > 0.5, 1.0, 0.0))
    Zs, cache_s = dense.linear_forward(Xs, W, b)
    np.testing.assert_allclose(Zs, Xs.toarray() @ W + b, rtol=1e-14)
    dX, dW, db = dense.linear_backward(cache_s, np.ones_like(Zs))
    assert dX is None and isinstance(dW, np.ndarray)
    assert dense.linear_backward(dense.linear_forward(X, W)[1], Z)[2] is None


def test_sigmoid_is_stable_at_1000():
    Y, cache = dense.sigmoid_forward(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_array_equal(Y, [0.0, 0.5, 1.0])
    dX = dense.sigmoid_backward(cache, np.ones(3))
    np.testing.assert_array_equal(dX, [0.0, 0.25, 0.0])


def test_gather_backward_equals_add_at_bitwise():
    rng = np.random.default_rng(13)
    E = rng.standard_normal((50, 6)).astype(np.float32)
    idx = rng.integers(0, 50, 300)                      # many repeats
    rows, cache = embedding.gather_forward(E, idx)
    np.testing.assert_array_equal(rows, E[idx])
    drows = rng.standard_normal(rows.shape).astype(np.float32)
    reference = np.zeros_like(E)
    np.add.at(reference, idx, drows)
    dE = embedding.gather_backward(cache, drows)
    assert dE.dtype == np.float32
    np.testing.assert_array_equal(dE, reference)
    uniq, summed = embedding.gather_backward_rows(cache, drows)
    np.testing.assert_array_equal(uniq, np.unique(idx))
    np.testing.assert_array_equal(summed, reference[uniq])
    untouched = np.setdiff1d(np.arange(50), idx)
    assert not reference[untouched].any()


def test_gather_empty_batch():
    E = np.ones((4, 2))
    rows, cache = embedding.gather_forward(E, np.array([], dtype=np.int64))
    assert rows.shape == (0, 2)
    np.testing.assert_array_equal(embedding.gather_backward(cache, rows), np.zeros((4, 2)))


# ================================================================= input errors
@pytest.mark.parametrize("call, error, match", [
    (lambda: propagate.propagate_forward(sp.eye(3, format="csr"), np.ones((4, 2))),
     DataError, r"A_hat has shape \(3, 3\) but X has 4 rows"),
    (lambda: propagate.propagate_forward(sp.eye(3, format="csr"), np.ones(3)),
     DataError, "X must be 2-d"),
    (lambda: propagate.propagate_forward(sp.eye(3, format="csr"), np.ones((3, 2)), "cuda"),
     DataError, "backend must be one of"),
    (lambda: propagate.propagate_forward([[1.0]], np.ones((1, 2))), TypeError, "scipy sparse"),
    (lambda: propagate.propagate_forward(sp.eye(3, format="csr"), np.ones((3, 2), dtype=int)),
     DataError, "X must be float32 or float64, got int64"),
    (lambda: propagate.propagate_forward(sp.eye(3, format="csr"), np.ones((3, 2)),
                                         A_hat_T=sp.eye(4, format="csr")),
     DataError, r"A_hat_T must have shape \(3, 3\)"),
    (lambda: propagate.lightgcn_forward(sp.eye(3, format="csr"), np.ones((3, 2)), -1),
     DataError, "K .* must be an integer >= 0"),
    (lambda: propagate.lightgcn_forward(sp.eye(3, format="csr"), np.ones((3, 2)), 1.5),
     DataError, "K .* must be an integer >= 0"),
    (lambda: propagate.lightgcn_forward(sp.csr_matrix((3, 4)), np.ones((4, 2)), 2),
     DataError, "must be square"),
    (lambda: dense.linear_forward(np.ones((2, 3)), np.ones((4, 5))),
     DataError, r"X has 3 columns but W has 4 rows"),
    (lambda: dense.linear_forward(np.ones((2, 3)), np.ones((3, 5)), np.ones(4)),
     DataError, r"b must have shape \(5,\)"),
    (lambda: dense.relu_forward(np.array([1, 2])), DataError, "float32 or float64, got int64"),
    (lambda: embedding.gather_forward(np.ones((4, 2)), np.array([0, 4])),
     DataError, r"idx\[1\] = 4 is out of range 0..3"),
    (lambda: embedding.gather_forward(np.ones((4, 2)), np.array([-1, 2])),
     DataError, r"idx\[0\] = -1 is out of range 0..3"),
    (lambda: embedding.gather_forward(np.ones((4, 2)), np.array([0.0, 1.0])),
     DataError, "idx must hold integer ids, got dtype float64"),
    (lambda: embedding.gather_backward(embedding.gather_forward(np.ones((4, 2)), [1, 2])[1],
                                       np.ones((3, 2))),
     DataError, "drows must have 2 rows"),
    (lambda: scoring.dot_forward(np.ones((3, 2)), np.ones((3, 4))),
     DataError, "U and V must have the same shape"),
    (lambda: scoring.cosine_forward(np.ones(3), np.ones(3)), DataError, "U must be 2-d"),
    (lambda: scoring.normalize_forward(np.ones((3, 2)), eps=0.0),
     DataError, "eps must be positive"),
])
def test_ops_reject_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ============================== propagation inputs the wrappers convert or sort first
def _unsorted_symmetric(rng):
    """A symmetric Â (float64) stored with each row's columns in descending order and
    every entry split into two duplicates: lightgcn_rows_forward sorts a copy first."""
    A = _symmetric_norm(rng, 4, 5).tocoo()
    r, c = np.concatenate([A.row, A.row]), np.concatenate([A.col, A.col])
    v = np.concatenate([A.data * 0.25, A.data * 0.75])
    order = np.lexsort((-c, r))
    return sp.csr_matrix((v[order], c[order], np.searchsorted(r[order], np.arange(10))),
                         shape=(9, 9))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("op", ["propagate, signed weights, A_hat_T as CSC",
                                "lightgcn_rows, unsorted duplicates"])
def test_gradient_through_converted_and_sorted_operators(op, backend):
    rng = np.random.default_rng(3)
    if op.startswith("propagate"):
        A = _sparse(rng, 6, 8)
        A.data[::2] *= -1                               # negative weights are taken

        def forward(x):
            return propagate.propagate_forward(A, x, backend=backend, A_hat_T=A.T)  # CSC

        backward, x = propagate.propagate_backward, _n(rng, 8, 3)
    else:
        A, nodes = _unsorted_symmetric(rng), np.array([0, 4, 7])

        def forward(x):
            return lightgcn_rows.lightgcn_rows_forward(A, x, 3, nodes, backend=backend)

        backward, x = lightgcn_rows.lightgcn_rows_backward, _n(rng, 9, 3)
    check_vjp(lambda x: forward(x)[0], lambda x, v: backward(forward(x)[1], v), x,
              rng=np.random.default_rng(1))
