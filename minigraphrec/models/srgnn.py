r"""SR-GNN: a gated graph network over each session (Wu et al., AAAI 2019).

The graph recurrent network of the article's FAQ (Q3), for temporal data. For one session
``s = [s_1, ..., s_n]`` (items, oldest first):

1. the session graph: one node per distinct item, an edge ``s_{t-1} → s_t`` per step, and its
   normalised in- and out-adjacency ``A_in``, ``A_out``
   (:func:`~minigraphrec.ops.session.session_graphs`);
2. node states start as the items' embeddings, ``h_j = E[item_j]``, and ``n_steps`` times
   receive messages from in- and out-neighbours and pass them through a GRU cell
   (:func:`~minigraphrec.ops.session.gru_cell_forward`):

   .. math:: a = [A_{in} H W_{in} \,;\, A_{out} H W_{out}] + b_a, \qquad H \leftarrow \mathrm{GRU}(a, H);

3. each position ``t`` takes its item's state, ``p_t = h_{alias(t)}``, and the attention
   readout (:func:`~minigraphrec.ops.session.session_readout_forward`) gives the session
   vector ``s_h = W_3^\top [p_n ; \sum_t \alpha_t p_t]`` (or ``s_g`` alone with
   ``readout="global"``);
4. every item ``i`` scores ``z_i = s_h · E[i]`` and the loss is the softmax cross-entropy of
   the next item over the whole catalogue.

Training follows the paper where it says how: every prefix of every training sequence
predicts the item after it; Adam with an L2 penalty of ``l2`` (PyTorch's ``weight_decay``:
``l2 · θ`` added to every gradient), learning rate ``lr`` multiplied by ``lr_decay`` every
``lr_decay_every`` epochs. The paper's values are the defaults (d = 100, one step, lr 0.001
decayed by 0.1 every 3 epochs, L2 1e-5, batch 100), except ``max_len`` (20 here; None
reproduces the paper, which cuts no sequence).

Where this model departs from the paper's text (Wu et al., AAAI 2019); all but the first
follow the authors' released code (``pytorch_code/model.py`` and ``utils.py``):

* ``max_len``: sequences longer than ``max_len`` keep their last ``max_len`` items, in
  training and in scoring alike (neither the paper nor the code cuts them);
* gate biases: the GRU cell has a bias per gate, ``b_gru = [b_z | b_r | b_c]``
  (:func:`~minigraphrec.ops.session.gru_cell_forward`). The paper's eqs. 2-4 have none; its
  one bias is the message bias ``b`` of eq. 1 (``b_a`` here). The authors' code has
  GRU-style biases (``b_ih``, ``b_hh``, as PyTorch's ``GRUCell``). A superset of the paper's
  cell: ``b_gru = 0`` is the paper's;
* edges counted once: a transition that recurs within a session is one edge before the
  normalisation, as in the code (``u_A[u][v] = 1``), where the paper weights an edge by its
  occurrences over its start node's out-degree
  (:func:`~minigraphrec.ops.session.session_graphs`);
* initialisation: every parameter drawn from ``U(-1/√d, 1/√d)``, as the authors' code's
  ``reset_parameters`` draws them; this is the code's choice, not taken from the paper's
  text;
* the messages' order: ``a = [in ; out]``, as in the code, where the paper's ``A_s``
  concatenates ``[A_out, A_in]``; only the rows of ``W_gru`` swap (the same functions).

Where the authors' PyTorch code departs from the paper and this model does not: its
``GNNCell`` writes the GRU out by hand with the arithmetic of PyTorch's ``GRUCell`` (the
reset gate applied after ``U_c``, to ``h U_c`` plus a bias of its own; here before, as in the
paper); its edge linears ``H W_in``, ``H W_out`` carry biases besides the message bias
(``b_a``'s two halves), and the adjacency multiplies them by its row sums; its readout's
linear (``W_3``) has a bias, ``W_3`` here none; and it concatenates ``[s_g; s_l]`` where the
paper and this model take ``[s_l; s_g]`` (harmless: the rows of ``W_3`` swap). Its two
attention linears each have a bias too, whose sum is the paper's ``c`` (the same function).
Its learning rate decays one epoch early: ``train_test`` steps its ``StepLR`` scheduler at
the start of every epoch, so epoch ``e`` (1-based) runs at ``lr · lr_dc^(e // 3)``, the
first decay at epoch 3, after two epochs; here, as the paper says, at
``lr · lr_decay^((e - 1) // lr_decay_every)``, the first decay after three epochs.

Hyperparameters after ``fit``. ``params`` were trained with ``dim``, ``n_steps``,
``readout``, ``max_len`` and ``dtype``; ``fit`` records them (``fit_hyperparameters_``,
saved with the model), and scoring and ``loss_and_grad`` refuse a model on which
``set_params`` changed one since (a ValueError naming each, as ``partial_fit`` and
``forget`` of the other models refuse): set it back or fit again. The training settings
(``lr``, ``lr_decay``, ``lr_decay_every``, ``l2``, ``batch_size``, ``epochs``,
``random_state``, ``verbose``) and ``backend`` (same bits) may change.

Cost. A batch is packed (:mod:`minigraphrec.ops.session`): its ``N`` nodes and ``n_pos``
positions are rows of one matrix each, the adjacency one block-diagonal sparse matrix per
direction, so nothing is computed on padding and no ``np.add.at`` scatters (the position →
node and node → item sums are sparse products). A training step costs about ``33 N d²``
multiply-adds in its dense products (the GRU's three gates forward and backward dominate),
and ``N`` grows with ``max_len``: a session log's sessions are short (the paper's data sets
average 5–6 items), but a user's whole history is not (MovieLens-100K: 106 ratings on
average, up to 737), so ``max_len`` decides both the cost and how far back the session
vector looks. The output layer adds ``3 B n_items d`` (the logits, their gradient to the
session vectors, and ``E``'s): the larger term from a few thousand items on (a batch of 100
over 43k items: about 1.3·10^9 against 2·10^8). Those three products run as two fixed
halves of the batch, one per numba thread (:func:`~minigraphrec.ops.dense.halves_matmul`;
one BLAS call below :data:`~minigraphrec.ops.dense.HALVES_MIN_WORK` multiply-adds, and
the GRU's elementwise kernels run serially below
:data:`~minigraphrec.kernels.session.PARALLEL_FROM` elements, as waking the thread pool
for a small array costs more than the work), and a training step or a scoring call runs BLAS on one thread
(:func:`~minigraphrec.threadpools.serial_blas`), so the results do not depend on the BLAS
or numba thread counts. ``benchmarks/bench_sequential.py`` checks the loss and every
gradient against PyTorch autograd in float64 and times an epoch against a PyTorch SR-GNN.
"""
from __future__ import annotations

import logging
import time
from typing import NamedTuple

import numpy as np

from ..errors import DataError, check_backend, check_int, check_param_number
from ..losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from ..ops.dense import halves_matmul, halves_xt_dot
from ..ops.session import (gru_cell_backward, gru_cell_forward, index_add, session_graphs,
                           session_propagate_backward, session_propagate_forward,
                           session_readout_backward, session_readout_forward)
from ..optim import Adam
from ..sequences import Sequences, _check_examples, _check_targets, prefix_examples
from ..threadpools import serial_blas
from ..train import EpochProgress, _check_callback, _verbose_output, check_finite_state
from .session_base import SessionRecommender
from .embedding_base import EmbeddingRecommender, _check_training_params, scratch_rows

__all__ = ["SRGNN", "SessionBatch"]

logger = logging.getLogger("minigraphrec")

READOUTS = ("hybrid", "global")


class SessionBatch(NamedTuple):
    """Sessions and the item that follows each: ``sessions`` (Sequences), ``targets`` (B,)."""
    sessions: Sequences
    targets: np.ndarray


class SRGNN(SessionRecommender):
    r"""Session-based recommendation with a gated graph neural network (SR-GNN).

    Parameters
    ----------
    dim : int, hidden size d (the paper: 100)
    n_steps : int >= 1, gated propagation steps T (the paper: 1)
    readout : {"hybrid", "global"}, ``s_h = W_3ᵀ[s_l; s_g]`` or ``s_g`` alone
    lr : float, Adam's initial learning rate (0.001)
    lr_decay : float in (0, 1], factor applied every ``lr_decay_every`` epochs (0.1)
    lr_decay_every : int >= 1 (3): epoch ``e`` (1-based) runs at
        ``lr · lr_decay^((e - 1) // lr_decay_every)`` (the authors' code decays one epoch
        earlier; see the module docstring)
    l2 : float >= 0, L2 penalty as Adam weight decay (1e-5)
    batch_size : int (100)
    epochs : int >= 0 (30, the authors' code's default)
    patience : int >= 1 or None (None)
        With validation data: stop after this many epochs in a row without a better
        ``metric``; None trains every epoch. Either way the parameters of the best
        validation epoch are restored at the end (``best_epoch_``), as the embedding models
        do. The authors' code stops otherwise: once 10 epochs, not necessarily in a row, have
        reached neither its best hit@20 nor its best MRR@20 so far, and it keeps the last
        epoch's parameters (it reports each metric's best epoch, on its test set).
    metric : str ("hit@20"), the validation metric of ``patience`` and of the best epoch:
        ``"hit@K"``, ``"mrr@K"`` or ``"ndcg@K"`` (:func:`~minigraphrec.sequences.evaluate_next_item`)
    max_len : int or None (20), keep the last ``max_len`` items of each prefix and session.
        It bounds a training step's cost (linear in the nodes per batch) and only bites on long
        sequences: a session log's sessions are shorter, a user's whole history is not. On
        MovieLens-100K user sequences (``benchmarks/results/sequential_ml100k*.md``, 3
        epochs, one seed, 943 test users) 10, 20 and 50 gave HR@20 0.307, 0.309 and 0.295
        (MRR@20 0.080, 0.075, 0.076): no gain from a longer window, at 2.2 times the nodes
        per batch for 50 over 20.
    dtype : "float32" or "float64"
        A session's scores can differ in the last bits with the other sessions scored
        beside it (about 5e-7 relative in float32, below 1e-12 in float64): the dense
        products go through BLAS, which picks its kernel by the matrix shape. Evaluation
        scores fixed blocks, so its results repeat; thread counts do not change them.
    backend : "numba" (the GRU's elementwise passes and Adam fused,
        :mod:`minigraphrec.kernels.session`) or "numpy" (the reference); same bits
    random_state : None, int or Generator
    verbose : bool or int >= 0, log each epoch at INFO (printed to stderr during ``fit`` when
        logging is not configured, as the embedding models do; an integer level above 0 is on)

    Attributes
    ----------
    params : dict of ndarray
        ``E`` (n_items, d) item embeddings (node states and output), ``W_in``, ``W_out``
        (d, d), ``b_a`` (2d,), ``W_gru`` (2d, 3d), ``U_gru`` (d, 3d), ``b_gru`` (3d,),
        ``W1``, ``W2`` (d, d), ``c``, ``q`` (d,), and ``W3`` (2d, d) for the hybrid readout.
    sequences_ : Sequences, each training user's sequence (what ``score(users)`` reads)
    history_ : list of dict, per epoch: ``epoch``, ``loss`` (the mean cross-entropy over the
        epoch's training examples, each taken with the parameters of its step: every batch's
        mean weighted by its size), ``lr``, ``time``, and the validation metrics when
        ``fit`` had validation data (``hit@20``, ``mrr@20``, ``ndcg@20``, and ``metric``'s)
    best_epoch_ : int or None, the validation epoch whose parameters ``params`` holds (the
        first of the best ``metric``); None without validation data or epochs
    fit_hyperparameters_ : dict, the hyperparameters ``params`` were trained with (all but
        the training settings; see the module docstring)
    """

    score_batch_size = 256

    def __init__(self, dim=100, n_steps=1, readout="hybrid", lr=1e-3, lr_decay=0.1,
                 lr_decay_every=3, l2=1e-5, batch_size=100, epochs=30, patience=None,
                 metric="hit@20", max_len=20, dtype="float32", backend="numba",
                 random_state=None, verbose=False):
        self.dim = dim
        self.n_steps = n_steps
        self.readout = readout
        self.lr = lr
        self.lr_decay = lr_decay
        self.lr_decay_every = lr_decay_every
        self.l2 = l2
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.metric = metric
        self.max_len = max_len
        self.dtype = dtype
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------ checks
    def _check_hyperparameters(self):
        """Every rejected value is a DataError (a ValueError), as the counts' ``check_int``
        and the session baselines raise; ``random_state`` of the wrong kind a TypeError."""
        check_int(self.dim, "dim")
        check_int(self.n_steps, "n_steps")
        if self.readout not in READOUTS:
            raise DataError(f"readout must be one of {READOUTS}, got {self.readout!r}")
        _check_training_params(self)                     # lr, batch_size, epochs, dtype
        lr_decay = check_param_number(self.lr_decay, "lr_decay", above=0.0)
        check_param_number(self.l2, "l2", at_least=0.0)
        if lr_decay > 1:
            raise DataError(f"lr_decay must be in (0, 1], got {self.lr_decay!r}")
        check_int(self.lr_decay_every, "lr_decay_every")
        check_int(self.patience, "patience", or_none=True)
        _next_item_metric(self.metric)
        check_int(self.max_len, "max_len", or_none=True)
        check_backend(self.backend)

    _check_params = _check_hyperparameters                     # the session models' name
    _check_trainable = EmbeddingRecommender._check_trainable   # "no parameters yet": call fit
    #: what :func:`minigraphrec.io.save` stores (``params`` has no trailing underscore)
    _state_attrs = ("params", "history_", "best_epoch_", "n_items_", "n_users_", "R_",
                    "user_ids_", "item_ids_", "sequences_", "fit_hyperparameters_")
    #: of those, what a file may lack (:func:`minigraphrec.io.load`): added after the first
    #: saved SRGNN, whose files load without them
    _optional_state = ("best_epoch_", "fit_hyperparameters_")
    #: the hyperparameters ``params`` do not depend on (how training proceeds; the backend
    #: gives the same bits): any other changed since ``fit`` is refused by scoring and
    #: ``loss_and_grad`` (:meth:`_check_call_params`), as ``partial_fit`` and ``forget`` refuse
    #: it in the models that have them (:meth:`Recommender._check_fit_params`)
    _params_free_after_fit = ("lr", "lr_decay", "lr_decay_every", "l2", "batch_size", "epochs",
                              "patience", "metric", "backend", "random_state", "verbose")

    def _check_call_params(self, method):
        """ValueError naming each hyperparameter that defines ``params`` (``dim``,
        ``n_steps``, ``readout``, ``max_len``, ``dtype``) and changed since ``fit``
        (``set_params``): the parameters were trained with the old values, and the function
        computed would be neither the fitted one nor the one ``get_params`` describes."""
        self._check_fit_params(method)

    def _check_sessions(self, sessions, method="score_sessions"):
        """As :meth:`SessionRecommender._check_sessions`, on a model whose defining
        hyperparameters are those of its ``fit``; every scoring call (``score``,
        ``recommend``, ``score_history``, ``recommend_history``, ``evaluate_next_item``)
        goes through ``score_sessions`` and here, and so does ``loss_and_grad``."""
        sessions = super()._check_sessions(sessions)
        self._check_call_params(method)
        return sessions

    def _check_sequences(self, sequences):
        if not np.any(sequences.lengths >= 2):
            raise DataError("no training example: every sequence has a single item, and "
                            "next-item prediction needs sequences of at least two")

    # --------------------------------------------------------------- fit
    def fit(self, train, validation=None, epochs=None, callback=None):
        r"""Train on every prefix of every training sequence.

        Parameters
        ----------
        train : Interactions with timestamps (one sequence per user, ordered by time),
            Sequences (sessions; ``score(users)`` then needs their ``users``), or a
            ``(prefixes, targets)`` pair of next-item examples, trained on as given (each
            prefix cut to its last ``max_len`` items, and no more prefixes made of them):
            :func:`~minigraphrec.sequences.prefix_examples` of sessions gives the model
            ``fit(sessions)`` gives, bit for bit; examples made elsewhere, such as the SR-GNN
            authors' preprocessed ``train.txt`` (a prefix list and a label list) or their
            Yoochoose fractions cut inside a session, are trained on exactly. The
            catalogue is the prefixes' ``n_items`` and ``item_ids``; the user state of
            ``score(users)`` is each prefix with its target.
        validation : (Sequences, targets) or None
            Next-item examples evaluated after every epoch (``hit@20``, ``mrr@20`` in
            ``history_``), for ``patience`` and the best epoch (restored at the end);
            checked before any training, as ``evaluate_next_item`` checks
            them: over ``train``'s catalogue, and with ``train``'s raw item ids when the
            prefixes carry ``item_ids``.
        epochs : int, overrides the constructor's ``epochs`` (0: initialise only)
        callback : callable(record) or None, called after every epoch

        Returns
        -------
        self
        """
        self._check_hyperparameters()
        if epochs is not None:
            check_int(epochs, "epochs", at_least=0)
        examples = isinstance(train, (tuple, list))
        if examples:
            prefixes, targets = _check_training_examples(train)
            train = _with_targets(prefixes, targets)          # the sequences they come from
        if validation is not None:
            validation = _check_validation(validation, train)
        elif self.patience is not None and (self.epochs if epochs is None else epochs) > 0:
            logger.warning("SRGNN: patience=%s has no effect without validation data",
                           self.patience)
        _check_callback(callback)
        seqs = self._fit_sequences(train)
        if examples:
            prefixes = self._last_max_len(prefixes)
        else:
            prefixes, targets = prefix_examples(seqs, max_len=self.max_len)
        rng = np.random.default_rng(self.random_state)
        self.params = self._init_params(rng)
        self.history_ = []
        self.best_epoch_ = None
        n_epochs = self.epochs if epochs is None else epochs
        with _verbose_output(self.verbose):
            self._train(prefixes, targets, validation, n_epochs, callback, rng)
        if n_epochs and targets.shape[0]:
            # the last step's loss was checked before the step: check the model it left,
            # on one batch, as the next step would have
            last = np.arange(min(self.batch_size, targets.shape[0]))
            with np.errstate(over="ignore", invalid="ignore"), serial_blas():
                loss = self._loss(prefixes.subset(last), targets[last])
            self.__dict__.pop("_workspace", None)        # as _train leaves it: no scratch
            if not np.isfinite(loss):
                raise FloatingPointError(
                    f"SRGNN: the model left by the last step gives a non-finite loss ({loss}); "
                    f"training stopped and the model is left as it was before this fit. Try "
                    f"a smaller lr (now {self.lr}).")
        return self

    def _init_params(self, rng):
        d, dt = int(self.dim), self._dtype
        bound = 1.0 / np.sqrt(d)
        shapes = {"E": (self.n_items_, d), "W_in": (d, d), "W_out": (d, d), "b_a": (2 * d,),
                  "W_gru": (2 * d, 3 * d), "U_gru": (d, 3 * d), "b_gru": (3 * d,),
                  "W1": (d, d), "W2": (d, d), "c": (d,), "q": (d,)}
        if self.readout == "hybrid":
            shapes["W3"] = (2 * d, d)
        return {k: rng.uniform(-bound, bound, shape).astype(dt) for k, shape in shapes.items()}

    def _train(self, prefixes, targets, validation, n_epochs, callback, rng):
        level = logging.INFO if self.verbose else logging.DEBUG
        optimizer = Adam(lr=self.lr, weight_decay=self.l2, backend=self.backend)
        n = targets.shape[0]
        if validation is not None:
            from ..sequences import evaluate_next_item
            metric_name, metric_k = _next_item_metric(self.metric)
            key = f"{metric_name}@{metric_k}"
            best_score, best_params, since_best = -np.inf, None, 0
        for epoch in range(1, n_epochs + 1):
            start = time.perf_counter()
            optimizer.lr = self.lr * self.lr_decay ** ((epoch - 1) // self.lr_decay_every)
            order = rng.permutation(n)
            total, n_batches = 0.0, 0          # total: the summed loss of every example
            progress = EpochProgress("SRGNN", epoch, n_epochs, -(-n // self.batch_size), level)
            for s in range(0, n, self.batch_size):
                progress(n_batches + 1)
                idx = order[s:s + self.batch_size]
                batch = SessionBatch(prefixes.subset(idx), targets[idx])
                with np.errstate(over="ignore", invalid="ignore"), serial_blas():
                    loss, grads = self._loss_and_grad(batch.sessions, batch.targets,
                                                      reuse=True)
                    if np.isfinite(loss):
                        optimizer.step(self.params, grads)   # counts non-finite gradients
                if not np.isfinite(loss) or optimizer.nonfinite:     # fit is all or nothing
                    raise FloatingPointError(
                        f"SRGNN: the loss or gradient became non-finite (loss {loss}) at epoch "
                        f"{epoch}, batch {n_batches + 1}; training stopped and the model is "
                        f"left as it was before this fit. Try a smaller lr.")
                total += loss * idx.shape[0]           # the batch's mean, times its size
                n_batches += 1
            check_finite_state("SRGNN", self.params, optimizer, epoch, optimizer.lr)
            record = {"epoch": epoch, "loss": total / n, "lr": optimizer.lr,
                      "time": time.perf_counter() - start}
            if validation is not None:
                record.update(evaluate_next_item(self, *validation, k=sorted({20, metric_k})))
                if record[key] > best_score:     # a tie keeps the earlier epoch
                    best_score, since_best, self.best_epoch_ = record[key], 0, epoch
                    best_params = {p: v.copy() for p, v in self.params.items()}
                else:
                    since_best += 1
            self.history_.append(record)
            logger.log(level, "SRGNN epoch %d/%d: %s", epoch, n_epochs,
                       ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k != "epoch"))
            if callback is not None:
                callback(dict(record))
            if validation is not None and self.patience is not None \
                    and since_best >= self.patience:
                logger.log(level, "SRGNN: no better %s for %d epochs, stopping after epoch "
                           "%d; best epoch %d", self.metric, since_best, epoch,
                           self.best_epoch_)
                break
        if validation is not None and self.best_epoch_ is not None:
            self.params = best_params             # the best validation epoch's
        self.__dict__.pop("_workspace", None)     # the step's scratch: 3 (n_items, d)-sized arrays

    # ----------------------------------------------------------- forward
    def _forward(self, sessions):
        """Session vectors (B, d) and every cache the backward pass needs.

        Packed rows throughout (:mod:`minigraphrec.ops.session`): ``N`` node rows and
        ``n_pos`` position rows for the whole batch, no padding.
        """
        p = self.params
        G = session_graphs(sessions, dtype=self._dtype)
        H = p["E"][G.node_items]                                      # (N, d)
        steps = []
        for _ in range(int(self.n_steps)):
            m_in, c_in = session_propagate_forward(G.A_in, H @ p["W_in"])     # (N, d)
            m_out, c_out = session_propagate_forward(G.A_out, H @ p["W_out"])
            a = np.concatenate([m_in, m_out], axis=1)                 # (N, 2d)
            a += p["b_a"]
            H_new, c_gru = gru_cell_forward(a, H, p["W_gru"], p["U_gru"], p["b_gru"],
                                            backend=self.backend)
            steps.append((H, c_in, c_out, c_gru))
            H = H_new                                                 # (N, d)
        P = H[G.alias]                                                # (n_pos, d)
        s, c_read = session_readout_forward(P, G.pos_ptr, p["W1"], p["W2"], p["c"], p["q"],
                                            p.get("W3"))              # (B, d)
        return s, (G, steps, c_read)

    def loss_and_grad(self, batch):
        r"""Softmax cross-entropy of the next item, and the gradient of every parameter.

        ``L = mean_b [logsumexp_i(s_b · E_i) - s_b · E_{t_b}]`` (no L2 term: the penalty is
        Adam's weight decay).

        Each session is cut to its last ``max_len`` items, as in scoring and training. A
        batch needs at least one session, and the model the hyperparameters it was fitted
        with (a ValueError names any changed since).

        Parameters
        ----------
        batch : SessionBatch, with ``targets`` a list or array of one item id per session

        Returns
        -------
        loss : float
        grads : dict with the keys and shapes of ``params``
        """
        self._check_trainable()
        if not isinstance(batch, SessionBatch):
            raise TypeError(f"batch must be a SessionBatch, got {type(batch).__name__}")
        sessions = self._check_sessions(batch.sessions, "loss_and_grad")
        if len(sessions) == 0:
            raise DataError("loss_and_grad: batch.sessions holds no session; the loss is a "
                            "mean over the batch's sessions and needs at least one")
        targets = _check_targets(batch.targets, len(sessions), self.n_items_,
                                 ("session", "sessions"))             # (B,) int64
        with serial_blas():
            return self._loss_and_grad(self._last_max_len(sessions), targets)

    def _loss(self, sessions, targets):
        """The loss of :meth:`_loss_and_grad` alone, bit for bit: its forward pass, no
        backward."""
        s, _ = self._forward(sessions)
        Z = self._scratch("Z", (targets.shape[0], self.n_items_))     # (B, n_items)
        logits = self._output_matmul(s, self.params["E"].T, out=Z)
        return softmax_cross_entropy_forward(logits, targets, overwrite=True)[0]

    def _loss_and_grad(self, sessions, targets, reuse=False):
        """``loss_and_grad`` of checked sessions; with ``reuse`` (training), ``grads["E"]`` is a
        buffer the next call overwrites. The (B, n_items) logits, their exponentials and
        their gradient share one scratch array kept between calls either way: a fresh one
        per step page-faulted in at every step (22 % of a step at 43k items)."""
        p = self.params
        s, (G, steps, c_read) = self._forward(sessions)
        Z = self._scratch("Z", (targets.shape[0], self.n_items_))     # (B, n_items)
        logits = self._output_matmul(s, p["E"].T, out=Z)
        loss, c_ce = softmax_cross_entropy_forward(logits, targets, overwrite=True)

        dlogits = softmax_cross_entropy_backward(c_ce, overwrite=True)   # (B, n_items), in Z
        grads = {}
        ds = self._output_matmul(dlogits, p["E"])                     # (B, d)
        dP, grads["W1"], grads["W2"], grads["c"], grads["q"], dW3 = \
            session_readout_backward(c_read, ds)
        if dW3 is not None:
            grads["W3"] = dW3
        dH = index_add(G.alias, G.node_items.shape[0], dP)            # (N, d) positions -> nodes
        for key in ("W_in", "W_out", "b_a", "W_gru", "U_gru", "b_gru"):
            grads[key] = np.zeros_like(p[key])
        d = int(self.dim)
        for X, c_in, c_out, c_gru in reversed(steps):
            da, dH_prev, dW, dU, db = gru_cell_backward(c_gru, dH)   # da: (N, 2d)
            grads["W_gru"] += dW
            grads["U_gru"] += dU
            grads["b_gru"] += db
            grads["b_a"] += da.sum(axis=0)
            dXW_in = session_propagate_backward(c_in, da[:, :d])      # (N, d)
            dXW_out = session_propagate_backward(c_out, da[:, d:])
            grads["W_in"] += X.T @ dXW_in
            grads["W_out"] += X.T @ dXW_out
            dH = dH_prev
            dH += dXW_in @ p["W_in"].T
            dH += dXW_out @ p["W_out"].T
        shape = p["E"].shape
        dE = halves_xt_dot(dlogits, s, min_rows=2, backend=self.backend,   # output side
                           out=self._scratch("dE", shape) if reuse else None,
                           work=self._scratch("dE_half", shape))           # (n_items, d)
        grads["E"] = index_add(G.node_items, self.n_items_, dH, out=dE)    # + input side
        return loss, grads

    def _output_matmul(self, A, B, out=None):
        """``A @ B`` for the output layer's products with ``E``: two fixed row halves of the
        batch, one per numba thread (:func:`~minigraphrec.ops.dense.halves_matmul`)."""
        return halves_matmul(A, B, out, min_rows=2, backend=self.backend)

    def _scratch(self, name, shape):
        """A ``shape`` scratch array kept between calls (:func:`scratch_rows`), never saved."""
        return scratch_rows(self, name, shape[0], shape[1:], self._dtype)

    # ----------------------------------------------------------- scoring
    _sessions_into = True

    def _score_sessions(self, sessions, out=None):
        """Scores of one batch of checked sessions, each cut to its last ``max_len`` items;
        written into ``out`` (float64) when given: directly in float64, through a block of
        the model's float32 scores otherwise."""
        self._check_trainable()
        with serial_blas():
            s, _ = self._forward(self._last_max_len(sessions))        # (B, d)
            E_t = self.params["E"].T
            if out is None or s.dtype != out.dtype:
                S = self._output_matmul(s, E_t)                      # (B, n_items)
                if out is None:
                    return S
                out[...] = S
                return out
            return self._output_matmul(s, E_t, out=out)

    def _last_max_len(self, sessions):
        """``sessions`` with each cut to its last ``max_len`` items (the training prefixes
        already are: :func:`~minigraphrec.sequences.prefix_examples`)."""
        if self.max_len is not None and np.any(sessions.lengths > self.max_len):
            return _last_items(sessions, int(self.max_len))
        return sessions


def _next_item_metric(metric):
    """``"hit@20"`` -> ``("hit", 20)``: a metric of ``evaluate_next_item`` with a cut-off;
    a DataError names the accepted forms otherwise."""
    name, _, k = str(metric).strip().lower().partition("@") if isinstance(metric, str) \
        else ("", "", "")
    if name not in ("hit", "mrr", "ndcg") or not k.isdigit() or int(k) < 1:
        raise DataError(f"metric must be 'hit@K', 'mrr@K' or 'ndcg@K' with a whole K >= 1 "
                        f"(evaluate_next_item's metrics), got {metric!r}")
    return name, int(k)


def _check_training_examples(train):
    """``fit``'s ``train`` given as next-item examples: ``(prefixes, int64 targets)``,
    checked as ``evaluate_next_item`` checks its examples."""
    if len(train) != 2:
        raise TypeError(f"train as examples must be a (Sequences, targets) pair, got a "
                        f"{type(train).__name__} of {len(train)}")
    prefixes, targets = train
    if isinstance(prefixes, Sequences) and len(prefixes) == 0:
        raise DataError("train holds no example (the prefixes are empty)")
    return prefixes, _check_examples(prefixes, targets)              # (n,) int64


def _with_targets(prefixes, targets):
    """Each prefix with its target appended: the (partial) sequence each example comes from."""
    indptr = prefixes.indptr + np.arange(len(prefixes) + 1)          # (n + 1,)
    items = np.insert(prefixes.items, prefixes.indptr[1:], targets)  # (n_ids + n,)
    return Sequences(indptr, items, prefixes.n_items, users=prefixes.users,
                     item_ids=prefixes.item_ids, session_ids=prefixes.session_ids,
                     user_ids=prefixes.user_ids)


def _check_validation(validation, train):
    """``fit``'s ``validation`` as ``(prefixes, targets)``, int64 targets, checked before any
    training: a pair, the examples as ``evaluate_next_item`` wants them, over ``train``'s
    catalogue and its raw item ids (``evaluate_next_item``'s raw-id check, run before the
    first epoch instead of after it)."""
    if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
        raise TypeError(f"validation must be a (Sequences, targets) pair of next-item "
                        f"examples, got {type(validation).__name__}")
    prefixes, targets = validation
    targets = _check_examples(prefixes, targets)                    # (n,) int64
    n_items = getattr(train, "n_items", None)
    if n_items is not None and prefixes.n_items != n_items:
        raise DataError(f"validation prefixes are over {prefixes.n_items} items; train is "
                        f"over {n_items}")
    if n_items is not None:             # the raw ids fit will keep as item_ids_, checked now
        from ..metrics import _check_same_raw_ids
        from .base import plain_ids
        raw = getattr(train, "item_ids", None)
        ours = np.arange(n_items) if raw is None else plain_ids(raw, "train.item_ids")
        _check_same_raw_ids("item", np.concatenate([prefixes.items, targets]),
                            prefixes.item_ids, ours, "prefixes",
                            fix="Make the training sessions and the validation prefixes from "
                                "one data set (split_sessions_by_time, then prefix_examples)")
    return prefixes, targets


def _last_items(sessions, max_len):
    """Each session cut to its last ``max_len`` items."""
    lengths = sessions.lengths
    keep = np.minimum(lengths, max_len)
    indptr = np.concatenate([[0], np.cumsum(keep)])
    flat = (np.repeat(sessions.indptr[1:] - keep - indptr[:-1], keep) + np.arange(indptr[-1]))
    return Sequences(indptr, sessions.items[flat], sessions.n_items, users=sessions.users,
                     item_ids=sessions.item_ids)
