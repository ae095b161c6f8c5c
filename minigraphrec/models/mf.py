r"""Matrix factorisation: free user and item embeddings, no graph.

``E = E0`` (n_users + n_items, d), users first; a score is the dot product
``s_ui = e_u · e_i``. It is LightGCN with zero layers, and the baseline the
graph models must beat (the "MF" row of the LightGCN and NGCF papers, there
trained with the same BPR loss and L2 term). ``E0`` starts as the paper's
Xavier tables by default (``init``, see
:func:`~minigraphrec.models.embedding_base.id_embeddings`).

MF has no ``backend`` hyperparameter (LightGCN and GAT have one): its training runs
the numba kernels of the samplers and of Adam only, each compared with its NumPy
reference in tests/test_sampling.py and tests/test_optim.py.
"""
from __future__ import annotations

import numpy as np

from ..errors import check_int
from .embedding_base import EmbeddingRecommender, check_init, id_embeddings

__all__ = ["MF"]


class MF(EmbeddingRecommender):
    r"""Matrix factorisation trained with BPR or BCE.

    Parameters
    ----------
    dim : int
        The embedding width d.
    init : {"xavier", "normal"}
        ``E0``'s initialisation: Glorot-uniform user and item tables (the
        paper, default) or ``N(0, 0.1²)`` (the authors' PyTorch port); see
        :func:`~minigraphrec.models.embedding_base.id_embeddings`.
    loss, lr, batch_size, reg, n_negatives, epochs, patience, metric
        The training hyperparameters shared by the trainable models: see
        :class:`~minigraphrec.models.EmbeddingRecommender`.
    scoring, dtype, random_state, verbose, score_dtype
        Shared as well: see :class:`~minigraphrec.models.EmbeddingRecommender`.

    Attributes
    ----------
    params : dict
        ``{"E0": ndarray (n_users + n_items, dim)}``, users first.
    user_embeddings_, item_embeddings_ : ndarray (n_users, dim), ndarray (n_items, dim)
        The two halves of ``E0``, copied (not views of it): what ``score`` and
        ``recommend`` read, refreshed by ``fit``, ``partial_fit`` and ``forget``,
        not when ``params`` is stepped in place (a loop of ``loss_and_grad`` and
        ``Adam.step``), as for the graph models. The copy costs
        ``(n_users + n_items) * dim`` floats.
    history_ : list of dict
        One entry per epoch.

    Notes
    -----
    **Explanations, ad-hoc histories, updates.**

    * ``explain(user, item, k)``: the user's training items by the cosine
      similarity of their embedding to the item's; a similarity, **not an
      attribution** (``exact=False``): MF's score is not a function of the
      history.
    * ``score_history(items)``: fold-in, a fresh user row fitted by Adam
      steps on the user's BPR loss with the items frozen, seeded
      (:meth:`~minigraphrec.models.EmbeddingRecommender.fold_in`);
      approximate: on a training user's history it approximates that user's
      ranking, not their scores. Measured on ``datasets.example(random_state=0)``
      (1,000 users, 1,500 items) with ``MF(random_state=0, epochs=20)``, every
      fifth user: the top 20 of ``score_history`` of the user's training items
      and of ``score(u)``, training items left out of both, share 0.79 of
      their items on average, 0.45 at worst (0.80 and 0.35 after 50 epochs).
    * ``partial_fit`` / ``forget``: as for every trained model
      (:class:`~minigraphrec.models.embedding_base.EmbeddingRecommender`),
      approximate; ``forget(method="retrain")`` is exact with an integer
      ``random_state``.
    """

    def __init__(self, dim=64, loss="bpr", lr=1e-3, batch_size=2048, reg=1e-4, n_negatives=1,
                 epochs=50, patience=None, metric="recall@20", scoring="dot", dtype="float32",
                 random_state=None, verbose=False, init="xavier",
                 score_dtype="float64"):
        self.dim = dim
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
        check_init(self.init)

    def _build(self, R, user_features, item_features):
        self._workspace = {}

    def _init_params(self, rng):
        return {"E0": id_embeddings(rng, self.n_users_, self.n_items_, self.dim, self._dtype,
                                    self.init)}

    def _forward_rows(self, nodes):
        Z = self.params["E0"][nodes]                      # (m, d), E = E0
        return Z, Z, nodes

    def _backward_rows(self, cache, dZ, dH0, reuse=False):
        nodes = cache
        E0 = self.params["E0"]
        if reuse:                                         # clear only the rows set last time
            dE0 = self._workspace.get("dE0")
            if dE0 is None or dE0.shape != E0.shape or dE0.dtype != E0.dtype:
                dE0 = self._workspace["dE0"] = np.zeros_like(E0)
            else:
                dE0[self._workspace["rows"]] = 0
            self._workspace["rows"] = nodes
        else:
            dE0 = np.zeros_like(E0)                       # (n, d)
        dE0[nodes] = dZ + dH0                             # nodes are distinct
        return {"E0": dE0}

    def _all_embeddings(self):
        return self.params["E0"]

    # ================================================================================
    # The article's §8 open problems (docs, tutorial 12): explain through similar items
    # (a similarity, not a split).
    # ================================================================================
    def _explain(self, user, item, k):
        r"""The user's training items most similar to ``item`` in embedding space.

        ``c_j = cos(e_j, e_i)`` for each item ``j`` of the user's training
        history, ``e`` the item embeddings (``kind="item"``). This is a
        similarity, not an attribution: MF's score ``e_u · e_i`` is not a
        function of the history (the user's row is a free parameter), so the
        contributions do not sum to the score, ``exact`` is False and
        ``quantity`` is ``"similarity"`` (no shares: ``shares`` is NaN).
        """
        from ..explain import Explanation
        from ..rank import score_matrix
        history = self.R_[user].indices.astype(np.int64)                  # (h,)
        sims = score_matrix(self.item_embeddings_[history],
                            self.item_embeddings_[item][None, :], kind="cosine")[:, 0]   # (h,)
        score = float(self.score(np.array([user]))[0, item])
        return Explanation.from_contributions(
            user, item, history, sims, kind="item", score=score, exact=False, k=k,
            quantity="similarity",
            method="similarity in embedding space (cosine of item embeddings to the item), "
                   "not an attribution")
