r"""GCN: the article's graph convolution layer, trained as a recommender.

The layer (the article's §4, Kipf & Welling's form):

.. math::  h_v^{l+1} = \sigma\Big(\sum_{u \in N(v)} \hat A_{vu}\, W^l h_u^l + b^l\Big),
           \qquad H^{l+1} = \sigma(\hat A H^l W^l + b^l),

on the bipartite user–item graph (users first), computed as
``M = Â H`` (propagate), ``Z = M W + b`` (linear), ``H' = σ(Z)``.

Choices (hyperparameters):

* ``normalization``: ``"sum"`` is the formula as printed, ``Â = A`` (an
  unnormalised sum over neighbours; activations grow with the degree),
  ``"mean"`` is ``D^{-1} A`` (the neighbours' average), ``"symmetric"`` is
  ``D^{-1/2} A D^{-1/2}`` (Kipf & Welling); ``self_loops`` adds ``I`` to
  ``A`` first, so a node keeps its own features (the printed sum over
  ``N(v)`` does not include ``v``).
* ``activation`` σ: ``"relu"`` (the article's choice), ``"leaky_relu"``
  (slope 0.2), ``"tanh"``, ``"sigmoid"``, ``"identity"``.
* ``final_activation``: the article applies σ on every layer. With ReLU the
  last layer's embeddings are then non-negative, so every dot-product score
  is ``>= 0`` and a zero row scores nothing; by default (False) σ is applied
  on the hidden layers only and the last layer is linear, as in most GCN
  recommenders. ``True`` is the article as printed.
* ``input``: ``"embedding"`` gives every node a free id embedding
  ``H^0 = E0``; ``"features"`` projects the node features, as the article's
  §5 example does with its user and item feature matrices, which have
  different widths, hence two matrices:
  ``H^0 = [X_user W_user_in ; X_item W_item_in]``; ``"both"`` adds the two
  (a side without features gets only its embedding).

The final embedding of a node is its row of ``H^L``; scores are
``e_u · e_i`` (or cosine, see ``scoring``). Loss and L2 term as in
:mod:`minigraphrec.models.embedding_base`, with the layer-0 rows being the
batch's rows of ``H^0`` (the id embeddings, the projected features, or their
sum); the weights ``W``, ``b`` and the input projections are not
regularised (the convention of NGCF's code, documented there).

The whole graph is propagated for every mini-batch (simple and exact; fine
for MovieLens-sized graphs).
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..graph import bipartite_adjacency, normalize_adjacency
from ..ops.dense import ACTIVATIONS, linear_backward, linear_forward
from ..ops.propagate import propagate_backward, propagate_forward
from .embedding_base import EmbeddingRecommender, _positive_int, as_dense_features, glorot_uniform

__all__ = ["GCN"]

NORMALIZATIONS = {"sum": "none", "mean": "left", "symmetric": "symmetric"}
INPUTS = ("embedding", "features", "both")


class GCN(EmbeddingRecommender):
    r"""The article's GCN: ``H^{l+1} = σ(Â H^l W^l + b^l)``, ``n_layers`` times.

    Parameters
    ----------
    dim : int, width of every layer (the article's example: 16)
    n_layers : int >= 1
    normalization : {"symmetric", "mean", "sum"}
    self_loops : bool, add ``I`` to the adjacency before normalising
    activation : {"relu", "leaky_relu", "tanh", "sigmoid", "identity"}
    final_activation : bool, apply σ after the last layer too (the article)
    input : {"embedding", "features", "both"}
    loss, lr, batch_size, reg, n_negatives, epochs, patience, metric,
    scoring, dtype, random_state, verbose :
        see :class:`~minigraphrec.models.embedding_base.EmbeddingRecommender`.

    Attributes
    ----------
    params : dict
        ``"E0"`` (n_nodes, dim) with an id embedding input;
        ``"W_user_in"`` (n_user_features, dim) and ``"W_item_in"``
        (n_item_features, dim) with a feature input; ``"W0", "b0", ...,
        "W{L-1}", "b{L-1}"``, each ``W`` (dim, dim) and ``b`` (dim,).
    A_hat_ : scipy CSR (n_nodes, n_nodes), Â in the model's dtype
    user_embeddings_, item_embeddings_ : rows of ``H^L``

    Notes
    -----
    Initialisation: ``E0 ~ N(0, 0.1²)``, every ``W`` Glorot-uniform, ``b = 0``.
    """

    def __init__(self, dim=64, n_layers=2, normalization="symmetric", self_loops=True,
                 activation="relu", final_activation=False, input="embedding", loss="bpr",
                 lr=1e-3, batch_size=2048, reg=1e-4, n_negatives=1, epochs=50, patience=None,
                 metric="recall@20", scoring="dot", dtype="float32", random_state=None,
                 verbose=False):
        self.dim = dim
        self.n_layers = n_layers
        self.normalization = normalization
        self.self_loops = self_loops
        self.activation = activation
        self.final_activation = final_activation
        self.input = input
        self.loss = loss
        self.lr = lr
        self.batch_size = batch_size
        self.reg = reg
        self.n_negatives = n_negatives
        self.epochs = epochs
        self.patience = patience
        self.metric = metric
        self.scoring = scoring
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def _check_hyperparameters(self):
        self._check_common()
        _positive_int("dim", self.dim)
        _positive_int("n_layers", self.n_layers)
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {tuple(NORMALIZATIONS)}, "
                             f"got {self.normalization!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, "
                             f"got {self.activation!r}")
        if self.input not in INPUTS:
            raise ValueError(f"input must be one of {INPUTS}, got {self.input!r}")

    # -------------------------------------------------------------- build
    def _build(self, R, user_features, item_features):
        A = bipartite_adjacency(R)                                         # (n, n)
        A_hat = normalize_adjacency(A, NORMALIZATIONS[self.normalization],
                                    self_loops=bool(self.self_loops))
        self.A_hat_ = A_hat.astype(self._dtype)
        # Â is symmetric except for the mean (row) normalisation
        self._A_hat_T = (self.A_hat_ if self.normalization != "mean"
                         else self.A_hat_.T.tocsr())
        self._X_user = self._X_item = None
        if self.input != "embedding":
            self._X_user = as_dense_features(user_features, self._dtype, "user_features")
            self._X_item = as_dense_features(item_features, self._dtype, "item_features")
            if self.input == "features" and (self._X_user is None or self._X_item is None):
                missing = "user_features" if self._X_user is None else "item_features"
                raise DataError(f"GCN(input='features') needs both user and item features, "
                                f"but the training Interactions has no {missing}; use "
                                "input='embedding' or input='both'")

    def _init_params(self, rng):
        d, dt = self.dim, self._dtype
        params = {}
        if self.input in ("embedding", "both"):
            n = self.n_users_ + self.n_items_
            params["E0"] = (0.1 * rng.standard_normal((n, d))).astype(dt)
        if self._X_user is not None:
            params["W_user_in"] = glorot_uniform(rng, (self._X_user.shape[1], d), dt)
        if self._X_item is not None:
            params["W_item_in"] = glorot_uniform(rng, (self._X_item.shape[1], d), dt)
        for layer in range(self.n_layers):
            params[f"W{layer}"] = glorot_uniform(rng, (d, d), dt)
            params[f"b{layer}"] = np.zeros(d, dtype=dt)
        return params

    # ------------------------------------------------------------ forward
    def _input_layer(self):
        """H^0 (n_nodes, dim) and the caches of the feature projections."""
        p, n_u = self.params, self.n_users_
        n = n_u + self.n_items_
        H0 = p["E0"].copy() if "E0" in p else np.zeros((n, self.dim), dtype=self._dtype)
        c_user = c_item = None
        if self._X_user is not None:
            P_user, c_user = linear_forward(self._X_user, p["W_user_in"])  # (n_users, dim)
            H0[:n_u] += P_user
        if self._X_item is not None:
            P_item, c_item = linear_forward(self._X_item, p["W_item_in"])  # (n_items, dim)
            H0[n_u:] += P_item
        return H0, (c_user, c_item)

    def _propagate(self, H0):
        """H^L (n_nodes, dim) and the per-layer caches."""
        act_forward = ACTIVATIONS[self.activation][0]
        H, caches = H0, []
        for layer in range(self.n_layers):
            M, c_prop = propagate_forward(self.A_hat_, H, backend="numba",
                                          A_hat_T=self._A_hat_T)          # (n, dim)  Â H
            Z, c_lin = linear_forward(M, self.params[f"W{layer}"], self.params[f"b{layer}"])
            if layer < self.n_layers - 1 or self.final_activation:
                H, c_act = act_forward(Z)                                  # (n, dim)  σ(Z)
            else:
                H, c_act = Z, None
            caches.append((c_prop, c_lin, c_act))
        return H, caches

    def _forward_rows(self, nodes):
        H0, c_in = self._input_layer()
        H, caches = self._propagate(H0)
        return H[nodes], H0[nodes], (nodes, H.shape, c_in, caches)

    def _backward_rows(self, cache, dZ, dH0, reuse=False):
        nodes, shape, (c_user, c_item), caches = cache
        act_backward = ACTIVATIONS[self.activation][1]
        grads = {}
        dH = np.zeros(shape, dtype=self._dtype)                            # (n, dim)
        dH[nodes] = dZ
        for layer in reversed(range(self.n_layers)):
            c_prop, c_lin, c_act = caches[layer]
            dZl = dH if c_act is None else act_backward(c_act, dH)         # (n, dim)
            dM, grads[f"W{layer}"], grads[f"b{layer}"] = linear_backward(c_lin, dZl)
            dH = propagate_backward(c_prop, dM)                            # (n, dim)  Âᵀ dM
        dH[nodes] += dH0                                                   # the L2 term
        if "E0" in self.params:
            grads["E0"] = dH
        n_u = self.n_users_
        if c_user is not None:
            _, grads["W_user_in"], _ = linear_backward(c_user, dH[:n_u])
        if c_item is not None:
            _, grads["W_item_in"], _ = linear_backward(c_item, dH[n_u:])
        return {k: grads[k].astype(self._dtype, copy=False) for k in self.params}

    def _all_embeddings(self):
        H0, _ = self._input_layer()
        H, _ = self._propagate(H0)
        return H
