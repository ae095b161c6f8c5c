r"""NGCF: Neural Graph Collaborative Filtering (Wang et al., SIGIR 2019).

Embedding propagation (the paper's eq. 7, matrix form), with the Laplacian
``L = D^{-1/2} A D^{-1/2}`` of the bipartite graph (no self-loops; the
self-connection is the ``+ I``):

.. math::

    E^{l+1} = \mathrm{LeakyReLU}\big((L + I) E^l W_1^l + b_1^l
              + (L E^l \odot E^l) W_2^l + b_2^l\big),

per node ``u`` (the paper's per-node form, column vectors ``e``): ``m_{u←u} = W1 e_u``,
``m_{u←i} = p_ui (W1 e_i + W2 (e_i ⊙ e_u))`` with ``p_ui = 1/sqrt(|N_u||N_i|)``, summed
and passed through LeakyReLU (slope 0.2). The code keeps the nodes in rows (``E^l`` is
(n_nodes, dim), its row ``u`` is ``e_uᵀ``), as the matrix form above does: its
``W_1^l = params["W1_l"]`` and ``W_2^l = params["W2_l"]`` are the per-node ``W1``,
``W2`` transposed: the row ``e_uᵀ W_1^l`` is ``(W1 e_u)ᵀ``.

The final embedding concatenates every layer, ``e* = [e^0, n(e^1), ..., n(e^L)]``
(width ``dim · (L+1)``), and a score is ``e*_u · e*_i``; ``n`` is the row-wise L2
normalisation of the official code (``normalize_layers=True``, see below).

Computed as ``S = L E`` (propagate), ``Z = (S + E) W1 + b1 + (S ⊙ E) W2 + b2``
(two linear maps), ``E' = LeakyReLU(Z)``, then message dropout on ``E'``.

Where this code departs from the paper or its official code, and why:

* Biases ``b1``, ``b2``: not in the paper's equations; the official code
  (TensorFlow, and the PyTorch port) has them, so we keep them (initialised
  Glorot-uniform on shape (1, dim), as there). With a single LeakyReLU on
  the sum they always receive the same gradient.
* One LeakyReLU on the sum, as in the paper's eq. 4/7 and the PyTorch port;
  the TensorFlow code applies it to each of the two terms separately.
* ``L`` is the paper's ``D^{-1/2} A D^{-1/2}`` for both terms; the
  TensorFlow code's default propagates with ``D^{-1}(A + I)`` (which puts
  the self-connection inside the bi-interaction term too).
* ``normalize_layers=True`` (default) L2-normalises each propagated layer
  before the concatenation, as both official implementations do (the
  published numbers come from it); the paper's equations do not show it,
  ``False`` gives them literally. The unnormalised ``E^{l+1}`` is what
  feeds the next layer, as in the code.
* Regularisation: the library's L2 term (:func:`minigraphrec.losses.l2_forward`),
  ``reg/2B`` times the squared norms of the batch's ``E0`` rows. The official code instead
  regularises the batch's final (concatenated) embeddings; neither
  regularises ``W`` or ``b``.
* Node dropout follows the paper's text: each step every node is dropped
  with probability ``node_dropout`` and its outgoing messages are blocked
  (a column of ``L`` zeroed, the kept ones scaled by ``1/(1-p)``). The
  official code drops individual entries of ``L`` instead. Message dropout
  (``message_dropout``, the paper's 0.1) zeroes entries of each ``E^{l+1}``
  with inverted scaling, as the code does. The masks come from a generator
  seeded by ``(fit's seed, optimiser step)``, so ``loss_and_grad`` is a
  deterministic function of the parameters at a given step (gradient
  checks work with dropout on); final embeddings for scoring use no dropout.

The paper's code propagates the whole graph for every mini-batch; here
each layer is computed on the rows the loss needs (the batch's ``h``-hop
balls, as in :class:`~minigraphrec.models.gcn.GCN`), with the full graph's
dropout masks (the same draws in the same order, read on those rows; the
message masks' uniforms are made inside the kernel at those rows'
positions of the generator's stream, :mod:`minigraphrec.kernels.pcg64`,
so the other rows' draws cost nothing): the same loss and gradient to
rounding (tests/test_models.py, float64, 1e-12). The two linear maps of a
layer run as one product ``[S + E, S ⊙ E] [W1; W2]``, the elementwise
steps in the fused kernels of :mod:`minigraphrec.kernels.ngcf`.

Backend. NGCF has no ``backend`` hyperparameter (LightGCN and GAT have one): it runs
the numba kernels only, in its passes as in its sampling and Adam steps. Each of those
kernels has a NumPy/SciPy reference that a test compares it with: the row products,
the products in halves, the fused NGCF kernels and the in-kernel dropout draws in
tests/test_models.py and tests/test_ngcf_kernels.py, the full-graph product in
tests/test_spmm.py, the samplers in tests/test_sampling.py and Adam in
tests/test_optim.py.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..graph import bipartite_adjacency, normalize_adjacency
from ..ops.dense import dropout_forward, leaky_relu_forward, linear_forward
from ..ops.propagate import propagate_forward
from ..ops.scoring import normalize_backward, normalize_forward
from ..errors import DataError, check_bool, check_int, check_param_number
from .embedding_base import (EmbeddingRecommender, check_init, glorot_uniform, hop_balls,
                             id_embeddings, scratch_rows)

__all__ = ["NGCF"]

SLOPE = 0.2          # LeakyReLU's negative slope, as in the official code
NORM_EPS = 1e-12     # the official code's F.normalize / tf.math.l2_normalize floor
#: elementwise kernels on fewer values than this run on one thread (the last layer's
#: rows; :class:`~minigraphrec.threadpools.serial_if`)
SERIAL_BELOW = 1 << 20
#: fixed row blocks of the bias gradient's partial sums (the same bits for any thread count)
DB_BLOCKS = 64


def _serial_for_values(n_values):
    """One numba thread for an elementwise kernel on ``n_values < SERIAL_BELOW`` values."""
    from ..threadpools import serial_if
    return serial_if(n_values < SERIAL_BELOW)


class NGCF(EmbeddingRecommender):
    r"""NGCF: graph propagation with a bi-interaction term, layers concatenated.

    Parameters
    ----------
    dim : int, the width of ``E0`` and of every layer (paper: 64)
    n_layers : int >= 1 (paper: 3)
    message_dropout : float in [0, 1), on each layer's output (paper: 0.1)
    node_dropout : float in [0, 1), whole nodes' outgoing messages (paper: 0, off)
    normalize_layers : bool, L2-normalise layers 1..L before concatenating (official code)
    init : {"xavier", "normal"}
        ``E0``'s initialisation: Glorot-uniform user and item tables (default, as
        the official code, MF and LightGCN) or ``N(0, 0.1²)``; see
        :func:`~minigraphrec.models.embedding_base.id_embeddings`.
    loss, lr, batch_size, reg, n_negatives, epochs, patience, metric
        The training hyperparameters shared by the trainable models: see
        :class:`~minigraphrec.models.EmbeddingRecommender`.
        Paper settings: ``lr=1e-4, batch_size=1024, reg=1e-5``.
    scoring, dtype, random_state, verbose, score_dtype
        Shared as well: see :class:`~minigraphrec.models.EmbeddingRecommender`.

    Attributes
    ----------
    params : dict
        ``"E0"`` (n_nodes, dim); per layer ``l``: ``"W1_l"``, ``"W2_l"``
        (dim, dim) and ``"b1_l"``, ``"b2_l"`` (dim,).
    L_ : scipy CSR (n_nodes, n_nodes), the Laplacian in the model's dtype
    user_embeddings_, item_embeddings_ : (n, dim · (n_layers + 1))

    Notes
    -----
    **Explanations, ad-hoc histories, updates.**

    * ``explain(user, item, k)``: **approximate**, gradient × input over the layer-0 rows ``H⁰``
      (``E0``), halved: ``c_v = ½ h⁰_v · ∂s_ui/∂h⁰_v`` (``kind="node"``, ``exact=False``);
      dropout is off for the pass.
    * ``score_history(items)``: fold-in of the user's *final* embedding with the items frozen,
      seeded (``fold_in``); approximate.
    * ``partial_fit`` / ``forget``: see
      :class:`~minigraphrec.models.embedding_base.EmbeddingRecommender` (approximate;
      ``forget(method="retrain")`` is exact).
    """

    _dropout_params = ("message_dropout", "node_dropout")

    def __init__(self, dim=64, n_layers=3, message_dropout=0.1, node_dropout=0.0,
                 normalize_layers=True, loss="bpr", lr=1e-4, batch_size=1024, reg=1e-5,
                 n_negatives=1, epochs=50, patience=None, metric="recall@20", scoring="dot",
                 dtype="float32", random_state=None, verbose=False, init="xavier",
                 score_dtype="float64"):
        self.dim = dim
        self.n_layers = n_layers
        self.message_dropout = message_dropout
        self.node_dropout = node_dropout
        self.normalize_layers = normalize_layers
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
        self.init = init
        self.score_dtype = score_dtype

    def _check_hyperparameters(self):
        self._check_common()
        check_int(self.dim, "dim")
        check_int(self.n_layers, "n_layers")
        check_init(self.init)
        check_bool(self.normalize_layers, "normalize_layers")  # "no" would silently mean True
        for name in ("message_dropout", "node_dropout"):
            p = check_param_number(getattr(self, name), name, at_least=0.0)
            if p >= 1:
                raise DataError(f"{name} must be in [0, 1), got {p}")

    def _build(self, R, user_features, item_features):
        L = normalize_adjacency(bipartite_adjacency(R), "symmetric", self_loops=False)
        self.L_ = L.astype(self._dtype)                                   # (n, n), symmetric

    def _init_params(self, rng):
        d, dt = int(self.dim), self._dtype
        params = {"E0": id_embeddings(rng, self.n_users_, self.n_items_, d, dt, self.init)}
        for layer in range(self.n_layers):
            params[f"W1_{layer}"] = glorot_uniform(rng, (d, d), dt)
            params[f"b1_{layer}"] = glorot_uniform(rng, (1, d), dt)[0]
            params[f"W2_{layer}"] = glorot_uniform(rng, (d, d), dt)
            params[f"b2_{layer}"] = glorot_uniform(rng, (1, d), dt)[0]
        return params

    # ------------------------------------------------------------ forward
    def _laplacian(self, rng):
        """``L`` and ``Lᵀ`` for this step: with node dropout, ``L diag(mask) / (1 - p)``.

        The dropout branch (``rng`` given) is reached only from ``_propagate(training=True)``,
        kept as the full-graph reference for tests/test_models.py (``_FullNGCF``);
        training itself draws the same mask in :meth:`_forward_rows`.
        """
        p = float(self.node_dropout)
        if rng is None or p == 0:
            return self.L_, self.L_
        keep = (rng.random(self.L_.shape[0]) >= p).astype(self._dtype) / self._dtype.type(1 - p)
        D = sp.diags(keep)
        return sp.csr_matrix(self.L_ @ D), sp.csr_matrix(D @ self.L_)     # L is symmetric

    def _propagate(self, training):
        """Every layer ``E^0..E^L`` (n_nodes, dim) and the per-layer caches: the full graph.

        Scoring (:meth:`_all_embeddings`) calls it with ``training=False`` and discards the
        caches; training runs batch-local (:meth:`_forward_rows`). ``training=True`` (the
        step's dropout masks) and the caches are kept as the full-graph reference for
        tests/test_models.py (``_FullNGCF``), which backpropagates through them and
        compares the batch-local loss and gradients.
        """
        rng = (np.random.default_rng([self.dropout_seed_, self.step_]) if training else None)
        L, L_T = self._laplacian(rng)
        E = self.params["E0"]
        layers, caches = [E], []
        for layer in range(self.n_layers):
            S, c_prop = propagate_forward(L, E, backend="numba", A_hat_T=L_T)   # (n, dim)  L E
            p = self.params
            Z1, c_1 = linear_forward(S + E, p[f"W1_{layer}"], p[f"b1_{layer}"])  # (L+I)E W1 + b1
            Z2, c_2 = linear_forward(S * E, p[f"W2_{layer}"], p[f"b2_{layer}"])  # (LE⊙E) W2 + b2
            H, c_act = leaky_relu_forward(Z1 + Z2, SLOPE)                 # (n, dim)
            if training and self.message_dropout > 0:
                H, c_drop = dropout_forward(H, self.message_dropout, rng)
            else:
                c_drop = None
            caches.append((S, E, c_prop, c_1, c_2, c_act, c_drop))
            E = H
            layers.append(E)
        return layers, caches

    def _forward_rows(self, nodes):
        r"""The batch's concatenated embeddings, each layer computed on the rows the next reads.

        Layer ``l`` (0-based) is computed on the ball ``S_{L-1-l}`` of the
        batch in the graph of ``L`` only
        (:func:`~minigraphrec.models.embedding_base.hop_balls`):
        ``S = L[S_{L-1-l}] E^l`` reads ``E^l`` on ``S_{L-l}``, which the
        previous layer computed. The two linear maps are one product,
        ``[S + E, S ⊙ E] [W1; W2] + (b1 + b2)``. The dropout masks are the
        full graph's (node dropout first, then each layer's ``(n, dim)``
        message mask, drawn in that order from the step's generator), of
        which the computed rows are used: the message mask's uniforms are
        made inside :func:`~minigraphrec.kernels.ngcf.leaky_dropout_pcg`
        from the generator's state at the start of the layer's draw (the
        same doubles as ``rng.random((n, dim))``, the other rows skipped),
        and the generator is then advanced past the draw. Same loss and
        gradients as the full-graph pass (:meth:`_propagate`), to rounding.
        The per-layer arrays live in scratch buffers kept between steps
        (:meth:`_buffer`): the returned cache is valid until the next call.
        """
        from ..kernels import ngcf as k
        from ..kernels.pcg64 import split128
        from ..ops.dense import halves_matmul
        from ..ops.propagate import rows_product
        # Python ints: PCG64.advance below refuses NumPy integers, and an np.int32 width
        # would make the sizes products (m * d, n * d) int32, which can overflow
        L, n, d, dt = int(self.n_layers), self.L_.shape[0], int(self.dim), self._dtype
        rng = np.random.default_rng([self.dropout_seed_, self.step_])
        p_node, p_msg = float(self.node_dropout), float(self.message_dropout)
        keep = None
        if p_node > 0:                                   # as _laplacian: L diag(keep)
            keep = ((rng.random(n) >= p_node).astype(dt) / dt.type(1 - p_node))[:, None]
        balls = hop_balls(self.L_, nodes, L - 1)                           # S_0 .. S_{L-1}
        slope, scale = dt.type(SLOPE), dt.type(1 / (1 - p_msg))
        E0 = self.params["E0"]
        E, caches, parts, c_norms = E0, [], [E0[nodes]], []
        for layer in range(L):
            rows = balls[L - 1 - layer]                                    # S_{L-1-l}, m rows
            m = rows.shape[0]
            X = E                                                          # (n, dim)
            if keep is not None:              # L diag(keep) E: diag(keep) E in a kept buffer
                X = np.multiply(E, keep, out=self._buffer("X", n, d))     # (no fresh pages)
            S = rows_product(self.L_, X, rows, "numba",
                             out=self._buffer(("S", layer), m, d))          # (m, dim)
            with _serial_for_values(m * d):
                SE = k.bi_inputs(S, E, rows, self._buffer(("SE", layer), m, 2 * d))  # (m, 2 dim)
            p = self.params
            W = np.concatenate([p[f"W1_{layer}"], p[f"W2_{layer}"]])       # (2 dim, dim)
            Z = halves_matmul(SE, W, out=self._buffer(("Z", layer), m, d))  # (m, dim), no bias
            state = np.zeros(4, dtype=np.uint64)          # where the (n, dim) draw starts
            mask = None
            if p_msg > 0:
                pcg = rng.bit_generator.state["state"]
                state[:] = (*split128(pcg["state"]), *split128(pcg["inc"]))
                rng.bit_generator.advance(n * d)          # as if rng.random((n, dim)) was drawn
                mask = self._buffer(("mask", layer), m, d)
            E_next = self._buffer(("E", layer), n, d)                     # (n, dim) by node id
            with _serial_for_values(m * d):
                k.leaky_dropout_pcg(Z, p[f"b1_{layer}"] + p[f"b2_{layer}"], slope, state, p_msg,
                                    scale, rows, Z if mask is None else mask, E_next)
                # Z += b1 + b2 in there; E_next valid on rows
            caches.append((rows, S, E, SE, W, Z, mask))
            part = E_next[nodes]                                           # (|S_0|, dim)
            if self.normalize_layers:
                part, c_norm = normalize_forward(part, eps=NORM_EPS)
            else:
                c_norm = None
            parts.append(part)
            c_norms.append(c_norm)
            E = E_next
        Z = np.concatenate(parts, axis=1)                                 # (|S_0|, dim·(L+1))
        return Z, E0[nodes], (nodes, keep, caches, c_norms)

    def _buffer(self, key, m, width):
        r"""A C-contiguous (m, width) scratch array of the model's dtype, kept between steps.

        The first ``m`` rows of a buffer with room for every node, so that
        the balls' changing sizes reuse one allocation (a fresh array of
        tens of MB costs its page faults on every step).
        """
        return scratch_rows(self, key, m, (width,), self._dtype, capacity=self.L_.shape[0])

    def _backward_rows(self, cache, dZ, dH0, reuse=False):
        r"""The transpose of :meth:`_forward_rows`; ``Lᵀ = L`` pushed or pulled from the rows.

        Per layer, as :func:`~minigraphrec.ops.dense.linear_backward` on
        ``[S + E, S ⊙ E] [W1; W2]``: ``dSE = dZ [W1; W2]ᵀ``, ``dW = SEᵀ dZ``
        (:func:`~minigraphrec.ops.dense.xt_dot`), ``db = Σ_rows dZ``.
        """
        from ..kernels import ngcf as k
        from ..ops.dense import halves_matmul, halves_xt_dot
        from ..ops.propagate import rows_product_T_on
        nodes, keep, caches, c_norms = cache
        d, dt = int(self.dim), self._dtype
        n = self.params["E0"].shape[0]
        slope = dt.type(SLOPE)
        dZ = np.asarray(dZ, dtype=dt)
        grads = {}
        dE = None                                # gradient of E^{l+1} on the rows of layer l
        for layer in reversed(range(self.n_layers)):
            rows, S, E, SE, W, Z, mask = caches[layer]
            m = rows.shape[0]
            drows = dZ[:, (layer + 1) * d:(layer + 2) * d]                 # (|S_0|, dim)
            if c_norms[layer] is not None:
                drows = normalize_backward(c_norms[layer], drows)
            if dE is None:                                                 # the last layer: S_0
                dE = np.array(drows, dtype=dt)
            else:
                dE[nodes if m == n else np.searchsorted(rows, nodes)] += drows
            db_parts = np.empty((DB_BLOCKS, d), dtype=dt)
            with _serial_for_values(m * d):
                dZl = k.leaky_dropout_backward(dE, Z, slope, dE if mask is None else mask,
                                               mask is not None, dE, db_parts)   # in place
            db = db_parts.sum(axis=0)                                      # (dim,) Σ_rows dZl
            dSE = halves_matmul(dZl, W.T, out=self._buffer("dSE", m, 2 * d))   # (m, 2 dim)
            dW = halves_xt_dot(SE, dZl)                                    # (2 dim, dim)
            grads[f"W1_{layer}"], grads[f"W2_{layer}"] = dW[:d], dW[d:]
            grads[f"b1_{layer}"], grads[f"b2_{layer}"] = db, db.copy()
            with _serial_for_values(m * d):
                dS = k.bi_backward(dSE, E, rows, self._buffer("dS", m, d), False)   # (m, dim)
            # E^l is needed on the rows of layer l-1 (S_{L-l}), E^0 on every node
            targets = caches[layer - 1][0] if layer > 0 else np.arange(n)
            # Lᵀ dS on targets; dE^0 (every node) is the E0 gradient: in a buffer only when
            # the caller lets it be reused (fit's steps), not from loss_and_grad
            out = self._buffer(("dE", layer), targets.shape[0], d) if layer > 0 or reuse else None
            dE = rows_product_T_on(self.L_, self.L_, rows, dS, targets, "numba",
                                   work=self._buffer("work", n, d), out=out)
            if keep is not None:                                           # (L diag(keep))ᵀ dS
                dE *= keep if targets.shape[0] == n else keep[targets]    # targets: every node
            at_rows = rows if targets.shape[0] == n else np.searchsorted(targets, rows)
            with _serial_for_values(m * d):
                k.bi_backward(dSE, S, at_rows, dE, True)                  # + dsum + dbi ⊙ S
        dE[nodes] += dZ[:, :d] + dH0                                      # layer 0 and the L2 term
        grads["E0"] = dE
        return {k_: grads[k_].astype(self._dtype, copy=False) for k_ in self.params}

    def _all_embeddings(self):
        layers, _ = self._propagate(training=False)
        parts = [layers[0]]
        for E in layers[1:]:
            parts.append(normalize_forward(E, eps=NORM_EPS)[0] if self.normalize_layers else E)
        return np.concatenate(parts, axis=1)                              # (n, dim·(L+1))
