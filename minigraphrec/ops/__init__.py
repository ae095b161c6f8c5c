r"""Differentiable op pairs and the user-facing wrappers of the numba kernels."""
from .sparse import as_csr, spgemm_dense, spmm
from .sampling import nth_absent_reference, sample_bpr, sample_negatives
from .propagate import propagate_forward, propagate_backward, lightgcn_forward, lightgcn_backward
from .propagate import propagate_rows_forward, propagate_rows_backward
from .lightgcn_rows import hop_levels, lightgcn_rows_forward, lightgcn_rows_backward
from .dense import (linear_forward, linear_backward, xt_dot, halves_matmul, halves_xt_dot,
                    identity_forward, identity_backward,
                    relu_forward, relu_backward, leaky_relu_forward, leaky_relu_backward,
                    sigmoid_forward, sigmoid_backward, tanh_forward, tanh_backward,
                    dropout_forward, dropout_backward, ACTIVATIONS)
from .embedding import gather_forward, gather_backward, gather_backward_rows, scatter_add
from .scoring import (dot_forward, dot_backward, normalize_forward, normalize_backward,
                      cosine_forward, cosine_backward, euclidean_forward, euclidean_backward)

__all__ = [
    "spmm", "spgemm_dense", "as_csr",
    "sample_bpr", "sample_negatives", "nth_absent_reference",
    "propagate_forward", "propagate_backward", "lightgcn_forward", "lightgcn_backward",
    "propagate_rows_forward", "propagate_rows_backward",
    "hop_levels", "lightgcn_rows_forward", "lightgcn_rows_backward",
    "linear_forward", "linear_backward", "xt_dot", "halves_matmul", "halves_xt_dot",
    "identity_forward", "identity_backward",
    "relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward",
    "sigmoid_forward", "sigmoid_backward", "tanh_forward", "tanh_backward",
    "dropout_forward", "dropout_backward", "ACTIVATIONS",
    "gather_forward", "gather_backward", "gather_backward_rows", "scatter_add",
    "dot_forward", "dot_backward", "normalize_forward", "normalize_backward",
    "cosine_forward", "cosine_backward", "euclidean_forward", "euclidean_backward",
]
from .attention import (AttentionGraph, attention_graph, csr_transpose,
                        edge_softmax_forward, edge_softmax_backward,
                        attention_aggregate_forward, attention_aggregate_backward,
                        gat_logits_forward, gat_logits_backward,
                        gat_layer_forward, gat_layer_backward)

__all__ += [
    "AttentionGraph", "attention_graph", "csr_transpose",
    "edge_softmax_forward", "edge_softmax_backward",
    "attention_aggregate_forward", "attention_aggregate_backward",
    "gat_logits_forward", "gat_logits_backward",
    "gat_layer_forward", "gat_layer_backward",
]
from .session import (SessionGraphs, session_graphs,
                      session_propagate_forward, session_propagate_backward,
                      gru_cell_forward, gru_cell_backward,
                      session_readout_forward, session_readout_backward)

__all__ += [
    "SessionGraphs", "session_graphs",
    "session_propagate_forward", "session_propagate_backward",
    "gru_cell_forward", "gru_cell_backward",
    "session_readout_forward", "session_readout_backward",
]
