r"""numba kernels: fast twins of NumPy/SciPy references, on raw arrays only.

Nothing here validates its inputs or imports from the rest of the package;
the user-facing wrappers (in :mod:`minigraphrec.ops`, :mod:`minigraphrec.rank`
and the models) check, dispatch on ``backend="numpy" | "numba"``
and hold the readable reference each kernel is tested against. Every kernel
is deterministic (no racing reductions; the result does not depend on the
thread count) and compiled with ``cache=True``.

Modules (import them explicitly; importing this package compiles nothing):

* :mod:`~minigraphrec.kernels.spmm` -- CSR times dense, rows in parallel.
* :mod:`~minigraphrec.kernels.sampling` -- the r-th item absent from a CSR
  row, for negative sampling.
* :mod:`~minigraphrec.kernels.topk` -- bounded-heap top-k.
* :mod:`~minigraphrec.kernels.segment` -- per-row (segment) reductions over
  edges, for graph attention.
* :mod:`~minigraphrec.kernels.propagate_rows` -- propagation restricted to a
  set of rows.
* :mod:`~minigraphrec.kernels.adam` -- one fused Adam update, elementwise in parallel.
* :mod:`~minigraphrec.kernels.eval_rank` -- one pass per score row for evaluation: seen
  items masked, the top-k heap and the exact AUC counts; ``auc_rows``, the per-row AUC.
* :mod:`~minigraphrec.kernels.csr_topk` -- the k largest stored values of each CSR row
  (kNN similarity pruning).
* :mod:`~minigraphrec.kernels.dense` -- ``Xᵀ dZ`` over tall arrays, in fixed row blocks.
* :mod:`~minigraphrec.kernels.ngcf` -- NGCF's fused elementwise steps on the batch's rows.
* :mod:`~minigraphrec.kernels.gat_rows` -- GAT's logits, softmax, dropout and aggregation
  for the rows a batch needs.
* :mod:`~minigraphrec.kernels.session` -- the GRU cell's fused elementwise passes (SR-GNN).
* :mod:`~minigraphrec.kernels.pcg64` -- NumPy's PCG64 uniforms at any stream position
  (dropout masks drawn on a batch's rows only, equal to NumPy's full draw).
* :mod:`~minigraphrec.kernels.quantize` -- int8 dot products and row sums with int32
  accumulation (:func:`minigraphrec.quantize`).
* :mod:`~minigraphrec.kernels.spgemm` -- sparse times sparse into a dense result,
  ``A[rows] @ B`` (ContentBased's profile cosines, :func:`minigraphrec.ops.sparse.spgemm_dense`).
* :mod:`~minigraphrec.kernels.knn_similarity` -- each row's dot products with every other
  row and its ``k`` best neighbours, without the sparse product (ItemKNN, UserKNN).
* :mod:`~minigraphrec.kernels.markov` -- MarkovChain's smoothed successor scores, every
  score written once.
* :mod:`~minigraphrec.kernels.mid_rank` -- the mid-rank of chosen items in their score rows,
  without sorting the rows (membership inference).
* :mod:`~minigraphrec.kernels.normalize` -- Hybrid's per-user score normalisation blended
  into a running sum, and the top-k of every blend its weight tuning tries.
* :mod:`~minigraphrec.kernels.target_rank` -- the rank of one target item per score row
  (next-item evaluation).
"""
