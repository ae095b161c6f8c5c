r"""A PyTorch SR-GNN, the reference ``bench_sequential.py`` measures ``mgr.SRGNN`` against.

minigraphrec never depends on torch; the benchmark imports this module only when torch is
installed (:func:`torch_status` says why not otherwise).

:class:`TorchSRGNN` is our own PyTorch code with minigraphrec's architecture and parameter
layout, so that both can start from the same numbers and their losses and gradients can be
compared entry by entry:

* the session graph of SR-GNN (Wu et al., AAAI 2019, §3.2): one node per distinct item, an
  edge per consecutive pair (kept once), ``A_out`` rows divided by the out-degree, ``A_in``
  rows by the in-degree;
* messages ``a = [A_in H W_in ; A_out H W_out] + b_a``;
* the GRU in the paper's form, written out with ``torch.sigmoid`` / ``torch.tanh`` (not
  ``torch.nn.GRUCell``, which puts the reset gate after ``U_c`` and its bias, and swaps
  ``z`` and ``1 - z``): ``z = σ(a W_z + h U_z + b_z)``, ``r = σ(a W_r + h U_r + b_r)``,
  ``h̃ = tanh(a W_c + (r ⊙ h) U_c + b_c)``, ``h' = (1 - z) ⊙ h + z ⊙ h̃``;
* the readout ``α_t = qᵀσ(W_1ᵀ p_n + W_2ᵀ p_t + c)``, ``s_g = Σ_t α_t p_t``,
  ``s_h = W_3ᵀ [p_n ; s_g]`` (or ``s_g`` alone), scores ``s_h · E_i``, and
  ``torch.nn.functional.cross_entropy`` (mean);
* ``torch.optim.Adam(lr, weight_decay=l2)``, the learning rate multiplied by ``lr_decay``
  every ``lr_decay_every`` epochs.

Two layouts (``layout=``):

``"padded"``
    what the SR-GNN authors' code does: each batch padded to ``(B, L)`` nodes and
    ``(B, T)`` positions, dense ``(B, L, L)`` adjacency, ``torch.matmul``; the graphs are
    built here per session (:func:`padded_inputs`, a loop in the style of the authors' data
    loader, or vectorised from minigraphrec's graphs when ``fast_inputs``);
``"packed"``
    the layout minigraphrec uses: real rows only, block-diagonal ``torch.sparse_csr_tensor``
    adjacency, ``index_add_`` for the per-session sums.
"""
from __future__ import annotations

import warnings

import numpy as np

TORCH_HINT = ("install it into the benchmark environment (never a dependency of "
              "minigraphrec): "
              "pip install torch==2.13.0")
LAYOUTS = ("padded", "packed")


def torch_status():
    """``(True, "torch X, N threads")`` or ``(False, why)``; never raises."""
    try:
        import torch
    except ImportError as exc:
        return False, f"{exc}; the PyTorch SR-GNN is skipped ({TORCH_HINT})"
    return True, f"torch {torch.__version__}, {torch.get_num_threads()} threads"


def padded_inputs(sessions):
    r"""The authors' layout built session by session, independently of minigraphrec's code.

    For each session: ``node`` = its distinct items in increasing id, ``M[i, j] = 1`` per
    consecutive pair, ``A_in = (M / in-degree of the column)ᵀ``, ``A_out = M / out-degree of
    the row`` (a zero degree divides by 1), ``alias[t]`` = the node of position ``t``.

    Returns numpy arrays: ``items`` (B, L), ``A_in``, ``A_out`` (B, L, L) float64, ``alias``
    (B, T), ``mask`` (B, T) float64, ``last`` (B,) (positions), all zero in padding.
    """
    lengths = sessions.lengths
    B, T = len(sessions), int(lengths.max())
    nodes = [np.unique(s) for s in sessions]
    L = max(len(n) for n in nodes)
    items = np.zeros((B, L), dtype=np.int64)
    A_in = np.zeros((B, L, L))
    A_out = np.zeros((B, L, L))
    alias = np.zeros((B, T), dtype=np.int64)
    mask = np.zeros((B, T))
    for b, (s, node) in enumerate(zip(sessions, nodes)):
        items[b, :len(node)] = node
        where = {item: j for j, item in enumerate(node)}
        M = np.zeros((L, L))
        for u, v in zip(s[:-1], s[1:]):
            M[where[u], where[v]] = 1
        in_deg = M.sum(axis=0)
        in_deg[in_deg == 0] = 1
        out_deg = M.sum(axis=1)
        out_deg[out_deg == 0] = 1
        A_in[b] = (M / in_deg).T
        A_out[b] = M / out_deg[:, None]
        alias[b, :len(s)] = [where[i] for i in s]
        mask[b, :len(s)] = 1
    return {"items": items, "A_in": A_in, "A_out": A_out, "alias": alias, "mask": mask,
            "last": lengths - 1}


def padded_inputs_fast(sessions):
    """:func:`padded_inputs` from minigraphrec's vectorised graphs (same arrays, faster)."""
    from minigraphrec.ops.session import padded_adjacency, session_graphs
    G = session_graphs(sessions)
    A_in, A_out, nodes = padded_adjacency(G)
    items = np.where(nodes >= 0, G.node_items[np.maximum(nodes, 0)], 0)
    lengths = sessions.lengths
    B, T = len(sessions), int(lengths.max())
    seg = np.repeat(np.arange(B), lengths)
    t = np.arange(G.alias.shape[0]) - G.pos_ptr[seg]
    alias = np.zeros((B, T), dtype=np.int64)
    mask = np.zeros((B, T))
    alias[seg, t] = G.alias - G.node_ptr[seg]
    mask[seg, t] = 1
    return {"items": items, "A_in": A_in, "A_out": A_out, "alias": alias, "mask": mask,
            "last": lengths - 1}


class TorchSRGNN:
    r"""SR-GNN in PyTorch with minigraphrec's parameter layout (see the module docstring).

    Parameters
    ----------
    params : dict of ndarray, minigraphrec's ``SRGNN.params`` (copied)
    n_steps : int; readout : "hybrid" (``params`` has ``W3``) or "global"
    layout : "padded" or "packed"
    dtype : "float32" or "float64"
    fast_inputs : bool, build the padded inputs vectorised (True) or session by session
    """

    def __init__(self, params, n_steps=1, layout="padded", dtype="float32", fast_inputs=True):
        import torch
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        self.torch = torch
        self.dtype = {"float32": torch.float32, "float64": torch.float64}[str(dtype)]
        self.n_steps = int(n_steps)
        self.layout = layout
        self.fast_inputs = fast_inputs
        self.params = {k: torch.tensor(np.asarray(v), dtype=self.dtype, requires_grad=True)
                       for k, v in params.items()}
        self.dim = self.params["E"].shape[1]

    # ---------------------------------------------------------------- forward
    def _gru(self, a, h):
        torch, p, d = self.torch, self.params, self.dim
        gates = a @ p["W_gru"] + p["b_gru"]                      # (..., 3d)
        hu = h @ p["U_gru"][:, :2 * d]                           # (..., 2d)
        z = torch.sigmoid(gates[..., :d] + hu[..., :d])
        r = torch.sigmoid(gates[..., d:2 * d] + hu[..., d:])
        c = torch.tanh(gates[..., 2 * d:] + (r * h) @ p["U_gru"][:, 2 * d:])
        return (1 - z) * h + z * c

    def _readout(self, p_last, P, mask):
        """p_last (B, d); P (B, T, d) with mask (B, T), or P (n_pos, d) with mask = seg."""
        torch, p = self.torch, self.params
        if self.layout == "padded":
            g = torch.sigmoid((p_last @ p["W1"])[:, None, :] + P @ p["W2"] + p["c"])
            alpha = (g @ p["q"]) * mask                          # (B, T)
            s_g = (alpha[:, :, None] * P).sum(dim=1)             # (B, d)
        else:
            seg = mask
            g = torch.sigmoid((p_last @ p["W1"])[seg] + P @ p["W2"] + p["c"])
            alpha = g @ p["q"]                                   # (n_pos,)
            s_g = torch.zeros_like(p_last).index_add_(0, seg, alpha[:, None] * P)
        if "W3" in p:
            return torch.cat([p_last, s_g], dim=1) @ p["W3"]
        return s_g

    def session_vectors(self, sessions):
        """(B, d) tensor: the session vectors of a minigraphrec ``Sequences``."""
        if self.layout == "padded":
            return self._padded(sessions)
        return self._packed(sessions)

    def _padded(self, sessions):
        torch, p = self.torch, self.params
        x = (padded_inputs_fast if self.fast_inputs else padded_inputs)(sessions)
        A_in = torch.from_numpy(x["A_in"]).to(self.dtype)
        A_out = torch.from_numpy(x["A_out"]).to(self.dtype)
        H = p["E"][torch.from_numpy(x["items"])]                 # (B, L, d)
        for _ in range(self.n_steps):
            a = torch.cat([A_in @ (H @ p["W_in"]), A_out @ (H @ p["W_out"])], dim=2) + p["b_a"]
            H = self._gru(a, H)
        alias = torch.from_numpy(x["alias"])
        B = alias.shape[0]
        P = H[torch.arange(B)[:, None], alias]                   # (B, T, d)
        p_last = P[torch.arange(B), torch.from_numpy(x["last"])]
        return self._readout(p_last, P, torch.from_numpy(x["mask"]).to(self.dtype))

    def _packed(self, sessions):
        from minigraphrec.ops.session import session_graphs
        torch, p = self.torch, self.params
        G = session_graphs(sessions)

        def csr(A):
            with warnings.catch_warnings():                      # "sparse CSR is in beta"
                warnings.simplefilter("ignore", UserWarning)
                return torch.sparse_csr_tensor(
                    torch.from_numpy(A.indptr.astype(np.int64)),
                    torch.from_numpy(A.indices.astype(np.int64)),
                    torch.from_numpy(A.data).to(self.dtype), A.shape, check_invariants=False)
        A_in, A_out = csr(G.A_in), csr(G.A_out)
        H = p["E"][torch.from_numpy(G.node_items)]               # (N, d)
        for _ in range(self.n_steps):
            a = torch.cat([torch.sparse.mm(A_in, H @ p["W_in"]),
                           torch.sparse.mm(A_out, H @ p["W_out"])], dim=1) + p["b_a"]
            H = self._gru(a, H)
        P = H[torch.from_numpy(G.alias)]                         # (n_pos, d)
        seg = torch.from_numpy(np.repeat(np.arange(len(sessions)), sessions.lengths))
        return self._readout(P[torch.from_numpy(G.last)], P, seg)

    def loss(self, sessions, targets):
        """Mean softmax cross-entropy of the next items (a 0-d tensor)."""
        torch = self.torch
        s = self.session_vectors(sessions)
        logits = s @ self.params["E"].T                          # (B, n_items)
        return torch.nn.functional.cross_entropy(logits, torch.from_numpy(
            np.asarray(targets, dtype=np.int64)))

    def loss_and_grad(self, sessions, targets):
        """``(loss, {name: ndarray gradient})``, as ``SRGNN.loss_and_grad``."""
        for v in self.params.values():
            v.grad = None
        loss = self.loss(sessions, targets)
        loss.backward()
        return float(loss.detach()), {k: v.grad.detach().numpy().copy()
                                      for k, v in self.params.items()}

    # ---------------------------------------------------------------- training
    def optimizer(self, lr, l2):
        return self.torch.optim.Adam(list(self.params.values()), lr=lr, weight_decay=l2)

    def train_step(self, optimizer, sessions, targets):
        """One Adam step on one batch; the loss (float)."""
        optimizer.zero_grad(set_to_none=True)
        loss = self.loss(sessions, targets)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    def score_sessions(self, sessions, batch_size=256):
        """(n, n_items) float64 scores, for ``mgr.sequences.evaluate_next_item``."""
        out = np.empty((len(sessions), self.params["E"].shape[0]))
        with self.torch.no_grad():
            for start in range(0, len(sessions), batch_size):
                idx = np.arange(start, min(start + batch_size, len(sessions)))
                s = self.session_vectors(sessions.subset(idx))
                out[idx] = (s @ self.params["E"].T).double().numpy()
        return out
