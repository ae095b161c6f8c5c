r"""Benchmark: the numba kernels without a script of their own, each against its NumPy reference.

Every kernel is timed through its public wrapper, once with
``backend="numba"`` and once with ``backend="numpy"`` (the reference the
kernel is tested against), in the same run and round-robin (the reference
and every numba thread count take turns, so load changes hit all alike, in
an order rotated round by round);
the median of ``--repeat`` runs is reported with the ratio numpy / numba.
The numba backend's first call (compilation, or loading from numba's
cache, or nothing if already compiled in this process: ``first_call``
says which) is timed apart. Each row also records whether the two backends
agree on that workload, the median of the per-round ratios
(``ratio_per_round``: both sides timed under the same load), and the
kernel's effective memory bandwidth: the bytes it must read and write (each
array once; listed in the notes of the results) over its median time,
beside the machine's streaming bandwidth measured at the start of the same
run (a STREAM triad ``a = b + s c`` in a parallel numba loop over 128 MB
float64 arrays, at each thread count, 24 bytes per element).

0. ``spmm`` -- :func:`minigraphrec.ops.spmm` on LightGCN's propagation
   matrix ``Â = D^{-1/2} A D^{-1/2}`` (float32) times 64 float32 columns,
   against SciPy's serial ``Â @ X`` and, where torch is installed,
   ``torch.sparse.mm`` on a CSR tensor built from the same arrays (int32
   indices) at each thread count (``torch.set_num_threads``), all
   round-robin. Agreement: numba against SciPy bit for bit; torch's largest
   relative difference. Target (issue 10 §7): on Gowalla with 2 threads,
   numba at least 2x SciPy as the median of the per-round ratios.
1. ``bpr`` -- :func:`minigraphrec.ops.sample_bpr`: one epoch of BPR triples
   (as many as training pairs), RNG draws included (they are the same on
   both backends; only the rank -> item map differs). Same seed -> the two
   backends must return identical ``(users, pos, neg)``. A second row times
   that map alone: ``minigraphrec.kernels.sampling.nth_absent`` against
   ``minigraphrec.ops.sampling.nth_absent_reference`` on the same queries.
2. ``adam`` -- :class:`minigraphrec.optim.Adam` ``.step`` on one
   (n_nodes, 64) float32 table (n_nodes = 70,839, Gowalla's users + items):
   ``Adam(backend="numba")`` against ``Adam(backend="numpy")``, both in
   their steady state (moments allocated). Agreement: the parameters after
   5 steps from the same start with the same gradients (max abs diff; the
   docstring promises the same bits).
3. ``top_k`` -- :func:`minigraphrec.rank.top_k`: 512 users x 40,981 items
   of standard-normal scores (float32 and float64), k = 20, with a sparse
   exclusion matrix of ~27 seen items per user; agreement = identical
   items and scores.
4. ``gat`` -- one :func:`minigraphrec.ops.attention.gat_layer_forward` +
   :func:`~minigraphrec.ops.attention.gat_layer_backward` (the segment
   kernels of :mod:`minigraphrec.kernels.segment` against the
   NumPy/SciPy reference), 2 heads x 32 dims, input width 64, float32, no
   dropout, identity activation, on the bipartite user-item graph with
   self-loops as :class:`minigraphrec.models.gat.GAT` builds it (prepared
   once with ``attention_graph``, not timed). Agreement: the largest
   ``max |numba - numpy| / max |numpy|`` over the outputs ``H_out``, ``dH``,
   ``dW``, ``da_src``, ``da_dst`` (the backends agree to rounding, not bit
   for bit). ``H @ W`` and its gradient are NumPy/BLAS on both sides.

Graphs: a seeded synthetic one with Gowalla's shape (30,000 users, 40,000
items, 810,000 pairs drawn, ~806k after merging repeats; users uniform,
item popularity Zipf-like, as in ``bench_spmm.py``), and with ``--data
DIR`` a LightGCN-format ``DIR/train.txt`` too (spmm, BPR, top-k with the first
512 users' training items excluded, and GAT on that graph). ``--smoke``
uses tiny sizes and 2 runs. Results go to ``results/kernels.{json,md}``, or
``kernels_<names>`` when ``--kernels`` picks a subset.

    python benchmarks/bench_kernels.py                                  # synthetic
    python benchmarks/bench_kernels.py --data DIR --threads 1 2
    python benchmarks/bench_kernels.py --data DIR \
        --threads 1 2 --kernels spmm --repeat 15        # with torch.sparse (any venv with torch)
    python benchmarks/bench_kernels.py --kernels gat --repeat 3         # one kernel
    python benchmarks/bench_kernels.py --smoke --out /tmp/r             # what the tests run
    python benchmarks/bench_kernels.py --plot-only kernels_spmm    # redraw a PNG from its JSON
"""
from __future__ import annotations

import json
import os
import time
from functools import partial
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from _common import (benchmark_parser, check_data, first_call_time, interleaved_times,
                     portable_path, read_record, recorded_option, refuse_disagreement, save_figure,
                     write_results)
from bench_spmm import normalized_adjacency, ratio_text, ratio_ticks, synthetic_R

KERNELS = ("spmm", "bpr", "adam", "topk", "gat")
# full size / --smoke size of each workload
GRAPH = {"full": (30_000, 40_000, 810_000), "smoke": (300, 400, 3_000)}   # users, items, draws
ADAM_ROWS = {"full": 70_839, "smoke": 500}
TOPK = {"full": (512, 40_981), "smoke": (64, 500)}                         # users, items
ADAM_DIM, ADAM_STEPS_CHECKED = 64, 5
TOPK_K, TOPK_SEEN = 20, 27              # k; mean seen items per user (Gowalla: 810,128 / 29,858)
GAT_D_IN, GAT_HEADS, GAT_D_OUT = 64, 2, 32
#: the largest max |numba - NumPy| / max |NumPy| over the GAT layer's outputs taken as
#: agreement: the two sum each edge's terms in another order (1.6e-6 in float32 on Gowalla)
GAT_TOLERANCE = {"float32": 1e-4, "float64": 1e-12}
SPMM_DIM = 64
STREAM_N = {"full": 1 << 24, "smoke": 1 << 18}     # float64 elements per array (128 MB full)
STREAM_REPEAT = 11
SPMM_TARGET = 2.0                                   # numba / SciPy on Gowalla, 2 threads


# ------------------------------------------------------------------ helpers
def dispatchers(*modules):
    """The numba dispatchers (jitted functions) defined in or imported into ``modules``."""
    from numba.core.dispatcher import Dispatcher
    found = {}
    for module in modules:
        for obj in vars(module).values():
            if isinstance(obj, Dispatcher):
                found[id(obj)] = obj
    return list(found.values())


def first_numba_call(f, jitted):
    """``(seconds, kind)`` of ``f()``; kind: compile, cache load or warm (already compiled)."""
    sigs = sum(len(d.signatures) for d in jitted)
    hits = sum(sum(d.stats.cache_hits.values()) for d in jitted)
    seconds = first_call_time(f)
    new_sigs = sum(len(d.signatures) for d in jitted) - sigs
    new_hits = sum(sum(d.stats.cache_hits.values()) for d in jitted) - hits
    if new_sigs == 0:
        kind = "warm"
    elif new_hits == 0:
        kind = "compile"
    elif new_hits >= new_sigs:
        kind = "cache load"
    else:
        kind = "compile + cache load"
    return seconds, kind


def _with_threads(numba, threads, f):
    numba.set_num_threads(threads)
    return f()


def time_backends(numba, numpy_f, numba_f, threads, repeat):
    """Round-robin timing: ``{"numpy": (median, runs), n_threads: (median, runs), ...}``."""
    candidates = {"numpy": numpy_f}
    for n in threads:
        candidates[n] = partial(_with_threads, numba, n, numba_f)
    timed = interleaved_times(candidates, repeat)
    numba.set_num_threads(max(threads))
    return timed


def make_rows(base, timed, threads, first, first_kind, agreement, n_bytes=None, stream=None):
    """One row per numba thread count; ``agreement(n_threads) -> (text, dict)``.

    ``timed`` may also hold ``("torch", n)`` entries (torch.sparse at ``n``
    threads), reported in the row of ``n`` numba threads. ``n_bytes``: the
    bytes the kernel must read and write (see the module docstring), giving
    each side's effective bandwidth; ``stream``: ``{n_threads: GB/s}`` of the
    machine's streaming bandwidth measured in this run, to set it beside.
    """
    rows = []
    t_np, runs_np = timed["numpy"]
    for n in threads:
        t_nb, runs_nb = timed[n]
        text, extra = agreement(n)
        row = {**base, "threads": n, "numba_s": t_nb, "numpy_s": t_np,
               "ratio": t_np / t_nb,
               "ratio_per_round": float(np.median(np.array(runs_np) / np.array(runs_nb))),
               "numba_min_s": min(runs_nb), "numpy_min_s": min(runs_np),
               "first_call_s": first, "first_call": first_kind, "agreement": text, **extra}
        if ("torch", n) in timed:
            t_th, runs_th = timed["torch", n]
            row.update(torch_s=t_th, torch_ratio=t_np / t_th,
                       torch_ratio_per_round=float(np.median(np.array(runs_np)
                                                             / np.array(runs_th))),
                       numba_vs_torch=t_th / t_nb)
        if n_bytes is not None:
            row.update(bytes=int(n_bytes), numba_GBps=n_bytes / t_nb / 1e9,
                       numpy_GBps=n_bytes / t_np / 1e9)
            if "torch_s" in row:
                row["torch_GBps"] = n_bytes / row["torch_s"] / 1e9
            if stream and n in stream:
                row.update(stream_GBps=stream[n], numba_of_stream=row["numba_GBps"] / stream[n])
        rows.append(row)
        first, first_kind = "", ""                         # reported once per workload
        bw = f", {row['numba_GBps']:.3g} GB/s" if n_bytes is not None else ""
        th = f", torch {row['torch_s']:.4g} s" if "torch_s" in row else ""
        print(f"  {base['kernel']} [{base['workload']}, {base['dtype']}] threads {n}: numba "
              f"{t_nb:.4g} s{bw}, numpy {t_np:.4g} s{th}, ratio {t_np / t_nb:.3g} "
              f"(per round {row['ratio_per_round']:.3g}); {text}", flush=True)
    return rows


def rel_diff(got, ref):
    """``max |got - ref| / max |ref|`` in float64 (0 for empty or all-zero ``ref``)."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    diff = float(np.max(np.abs(got - ref))) if ref.size else 0.0
    return diff / scale if scale > 0 else diff


def on_threads(numba, n, f):
    """``f()`` run with ``n`` numba threads."""
    numba.set_num_threads(n)
    return f()


# ------------------------------------------------------- streaming bandwidth
def bench_stream(n, args, numba):
    """The machine's streaming bandwidth: STREAM-style triad and copy, at each thread count.

    ``a = b + s c`` and ``a = b`` over float64 arrays of ``n`` elements (far
    larger than any cache), parallel numba loops (compiled here, not cached),
    round-robin with NumPy's ``np.copyto(a, b)`` (one thread); the median of
    ``max(repeat, 11)`` runs. Bytes counted as STREAM does: 24 per element
    for the triad, 16 for the copy (the write-allocate read of ``a`` that
    most CPUs also make is not counted). Returns ``(rows, {threads: triad GB/s})``.
    """
    from numba import njit, prange

    @njit(parallel=True)
    def triad(a, b, c, s):
        for i in prange(a.shape[0]):
            a[i] = b[i] + s * c[i]

    @njit(parallel=True)
    def copy(a, b):
        for i in prange(a.shape[0]):
            a[i] = b[i]

    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)
    triad(a, b, c, 3.0)                                    # compile, not timed
    copy(a, b)
    candidates = {"numpy": lambda: np.copyto(a, b)}
    for t in args.threads:
        candidates["triad", t] = partial(_with_threads, numba, t, lambda: triad(a, b, c, 3.0))
        candidates["copy", t] = partial(_with_threads, numba, t, lambda: copy(a, b))
    timed = interleaved_times(candidates, max(args.repeat, STREAM_REPEAT))
    numba.set_num_threads(max(args.threads))
    t_np, _ = timed["numpy"]
    rows, stream = [], {}
    mb = a.nbytes / 1e6
    for t in args.threads:
        for what, per in (("triad", 24), ("copy", 16)):
            sec, runs = timed[what, t]
            gbps = per * n / sec / 1e9
            row = {"kernel": f"stream {what} (numba loop)",
                   "workload": f"float64 arrays of {n} ({mb:.0f} MB each)", "dtype": "float64",
                   "threads": t, "numba_s": sec, "numba_min_s": min(runs),
                   "bytes": per * n, "numba_GBps": gbps}
            if what == "copy":
                row.update(numpy_s=t_np, numpy_GBps=16 * n / t_np / 1e9, ratio=t_np / sec,
                           agreement="numpy: np.copyto, 1 thread")
            else:
                stream[t] = gbps
            rows.append(row)
            print(f"  stream {what} threads {t}: {gbps:.3g} GB/s", flush=True)
    return rows, stream


def _import_torch():
    """torch, or None when it is not installed (the spmm rows then have no torch columns)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


# --------------------------------------------------------------- workloads
def bench_spmm(name, R, args, numba):
    """LightGCN's propagation product ``Â X``: numba, SciPy and (if installed) torch.sparse."""
    import minigraphrec.kernels.spmm as kspmm
    from minigraphrec.ops import spmm

    dtype = np.float32
    A = normalized_adjacency(sp.csr_matrix(R)).astype(dtype)     # (n, n) CSR
    n = A.shape[0]
    X = np.random.default_rng(args.seed).standard_normal((n, SPMM_DIM)).astype(dtype)
    print(f"spmm [{name}]: {n} nodes, {A.nnz} stored entries, {SPMM_DIM} columns", flush=True)
    run_nb = partial(spmm, A, X, backend="numba")
    first, kind = first_numba_call(run_nb, dispatchers(kspmm))
    ref = A @ X                                              # SciPy, the reference
    candidates = {"numpy": lambda: A @ X}
    for t in args.threads:
        candidates[t] = partial(_with_threads, numba, t, run_nb)
    torch = None if args.no_torch else _import_torch()
    torch_diff = None
    if torch is not None:
        import warnings
        with warnings.catch_warnings():           # "CSR support is in beta", "checks disabled"
            warnings.simplefilter("ignore", UserWarning)
            A_t = torch.sparse_csr_tensor(torch.from_numpy(A.indptr),
                                          torch.from_numpy(A.indices),
                                          torch.from_numpy(A.data), size=A.shape)
        X_t = torch.from_numpy(X)

        def run_torch(t):
            torch.set_num_threads(t)
            return torch.sparse.mm(A_t, X_t)

        torch_diff = rel_diff(run_torch(max(args.threads)).numpy(), ref)   # also warms up
        for t in args.threads:
            candidates["torch", t] = partial(run_torch, t)
    timed = interleaved_times(candidates, args.repeat)
    numba.set_num_threads(max(args.threads))

    def agree(n_threads):
        got = on_threads(numba, n_threads, run_nb)
        same = bool(np.array_equal(got, ref))
        text = "identical to SciPy" if same else f"max rel diff {rel_diff(got, ref):.2g}"
        extra = {"identical": same}
        if torch_diff is not None:
            text += f"; torch max rel diff {torch_diff:.2g}"
            extra["torch_max_rel_diff"] = torch_diff
        return text, extra

    base = {"kernel": "spmm (Â X)", "workload": f"{name}: {n} nodes, {A.nnz} entries, "
                                              f"{SPMM_DIM} columns", "dtype": np.dtype(dtype).name}
    n_bytes = A.indptr.nbytes + A.indices.nbytes + A.data.nbytes + 2 * X.nbytes   # A, X; out
    rows = make_rows(base, timed, args.threads, first, kind, agree, n_bytes, args.stream)
    for row in rows:
        if row["threads"] == 2 and not name.startswith("synthetic"):   # the target: Gowalla
            row["target"] = f">= {SPMM_TARGET:g}x SciPy (median per-round ratio)"
            row["target_met"] = row["ratio_per_round"] >= SPMM_TARGET
    return rows


def bench_bpr(name, R, args, numba):
    """BPR triples for one epoch; then the rank -> item map alone."""
    import minigraphrec.kernels.sampling as ksampling
    from minigraphrec.ops import sample_bpr
    from minigraphrec.ops.sampling import nth_absent_reference

    R = sp.csr_matrix(R)
    R.sum_duplicates()
    n = R.nnz
    print(f"bpr [{name}]: {R.shape[0]} users, {R.shape[1]} items, {n} triples", flush=True)
    jitted = dispatchers(ksampling)
    run_nb = partial(sample_bpr, R, random_state=args.seed, backend="numba")
    run_np = partial(sample_bpr, R, random_state=args.seed, backend="numpy")
    first, kind = first_numba_call(run_nb, jitted)
    ref = run_np()
    timed = time_backends(numba, run_np, run_nb, args.threads, args.repeat)

    def agree(n_threads):
        got = on_threads(numba, n_threads, run_nb)
        same = all(np.array_equal(a, b) for a, b in zip(got, ref))
        return ("identical triples" if same else "TRIPLES DIFFER"), {"identical": same}

    base = {"kernel": "sample_bpr", "workload": f"{name}: {n} triples", "dtype": "int64"}
    n_bytes = R.indptr.nbytes + R.indices.nbytes + 3 * n * 8     # R read, 3 triples written
    rows = make_rows(base, timed, args.threads, first, kind, agree, n_bytes, args.stream)

    # the kernel alone: the same kind of queries, drawn here
    rng = np.random.default_rng(args.seed)
    deg = np.diff(R.indptr).astype(np.int64)
    active = np.flatnonzero(deg)
    q_rows = active[rng.integers(0, active.size, size=n)]                  # (n,)
    q_ranks = rng.integers(0, R.shape[1] - deg[q_rows])                    # (n,)
    indptr, indices = R.indptr, R.indices          # as sample_bpr passes them (SciPy's dtype)

    def map_nb():
        return ksampling.nth_absent(indptr, indices, q_rows, q_ranks, np.empty(n, np.int64))

    def map_np():
        return nth_absent_reference(indptr, indices, R.shape[1], q_rows, q_ranks)

    first, kind = first_numba_call(map_nb, jitted)
    ref_map = map_np()
    timed = time_backends(numba, map_np, map_nb, args.threads, args.repeat)

    def agree_map(n_threads):
        same = bool(np.array_equal(on_threads(numba, n_threads, map_nb), ref_map))
        return ("identical" if same else "DIFFER"), {"identical": same}

    base = {"kernel": "nth_absent (rank -> item map only)", "workload": f"{name}: {n} queries",
            "dtype": "int64"}
    n_bytes = indptr.nbytes + indices.nbytes + 3 * n * 8          # R, 2 queries read, 1 written
    return rows + make_rows(base, timed, args.threads, first, kind, agree_map, n_bytes,
                            args.stream)


def bench_adam(n_rows, args, numba):
    """One Adam step on an (n_rows, 64) float32 table."""
    import minigraphrec.kernels.adam as kadam
    from minigraphrec.optim import Adam

    dtype = np.float32
    print(f"adam: ({n_rows}, {ADAM_DIM}) {np.dtype(dtype).name}", flush=True)
    rng = np.random.default_rng(args.seed)
    p0 = (0.1 * rng.standard_normal((n_rows, ADAM_DIM))).astype(dtype)
    grads = [(1e-2 * rng.standard_normal((n_rows, ADAM_DIM))).astype(dtype)
             for _ in range(ADAM_STEPS_CHECKED)]

    # the first call of the numba kernel in this process, on its own optimiser and table
    jitted = dispatchers(kadam)
    opt_nb, params_nb = Adam(lr=1e-3, backend="numba"), {"E0": p0.copy()}
    opt_np, params_np = Adam(lr=1e-3, backend="numpy"), {"E0": p0.copy()}
    g = {"E0": grads[0]}
    first, kind = first_numba_call(lambda: opt_nb.step(params_nb, g), jitted)
    opt_np.step(params_np, g)                               # allocate m, v and scratch
    # the reference: ADAM_STEPS_CHECKED steps from p0, for the agreement check
    opt_ref, ref_params = Adam(lr=1e-3, backend="numpy"), {"E0": p0.copy()}
    for gr in grads:
        opt_ref.step(ref_params, {"E0": gr})
    ref_p, ref_m, ref_v = ref_params["E0"], opt_ref.m["E0"], opt_ref.v["E0"]
    timed = time_backends(numba, lambda: opt_np.step(params_np, g),
                          lambda: opt_nb.step(params_nb, g), args.threads, args.repeat)

    def agree(n_threads):
        opt, params = Adam(lr=1e-3, backend="numba"), {"E0": p0.copy()}
        numba.set_num_threads(n_threads)
        for gr in grads:
            opt.step(params, {"E0": gr})
        diff = float(np.max(np.abs(params["E0"].astype(np.float64) - ref_p)))
        same = bool(np.array_equal(params["E0"], ref_p) and np.array_equal(opt.m["E0"], ref_m)
                    and np.array_equal(opt.v["E0"], ref_v))
        text = (f"after {ADAM_STEPS_CHECKED} steps max |dp| {diff:.3g}"
                + ("; p, m, v identical" if same else "; NOT identical"))
        return text, {"identical": same, "max_abs_diff": diff}

    base = {"kernel": "Adam.step", "workload": f"({n_rows}, {ADAM_DIM}) table",
            "dtype": np.dtype(dtype).name}
    n_bytes = 7 * p0.nbytes                                  # p, g, m, v read; p, m, v written
    return make_rows(base, timed, args.threads, first, kind, agree, n_bytes, args.stream)


def seen_matrix(n_users, n_items, rng):
    """Binary CSR (n_users, n_items), ~TOPK_SEEN uniform random items per user."""
    m = n_users * min(TOPK_SEEN, n_items // 2)
    X = sp.csr_matrix((np.ones(m), (rng.integers(0, n_users, m), rng.integers(0, n_items, m))),
                      shape=(n_users, n_items))
    X.data[:] = 1.0
    return X


def bench_topk(name, n_users, n_items, exclude, args, numba):
    """``top_k`` on (n_users, n_items) standard-normal scores, float32 and float64."""
    import minigraphrec.kernels.topk as ktopk
    from minigraphrec.rank import top_k

    print(f"top_k [{name}]: {n_users} x {n_items} scores, k {TOPK_K}, "
          f"{exclude.nnz} excluded", flush=True)
    jitted = dispatchers(ktopk)
    rows = []
    for dtype in (np.float32, np.float64):
        S = np.random.default_rng(args.seed).standard_normal((n_users, n_items)).astype(dtype)
        run_nb = partial(top_k, S, TOPK_K, exclude=exclude, backend="numba")
        run_np = partial(top_k, S, TOPK_K, exclude=exclude, backend="numpy")
        first, kind = first_numba_call(run_nb, jitted)
        ref = run_np()
        timed = time_backends(numba, run_np, run_nb, args.threads, args.repeat)

        def agree(n_threads, ref=ref, run_nb=run_nb):
            items, scores = on_threads(numba, n_threads, run_nb)
            same = bool(np.array_equal(items, ref[0]) and np.array_equal(scores, ref[1]))
            return ("identical items and scores" if same else "DIFFER"), {"identical": same}

        base = {"kernel": "top_k", "workload": f"{name}: {n_users} x {n_items}, k {TOPK_K}",
                "dtype": np.dtype(dtype).name}
        n_bytes = (S.nbytes + exclude.indptr.nbytes + exclude.indices.nbytes    # read
                   + n_users * TOPK_K * (8 + S.itemsize))                      # written
        rows += make_rows(base, timed, args.threads, first, kind, agree, n_bytes, args.stream)
    return rows


def bench_gat(name, R, args, numba):
    """One GAT layer forward + backward on the bipartite graph of ``R`` with self-loops."""
    import minigraphrec.kernels.segment as ksegment
    from minigraphrec.graph import bipartite_adjacency, normalize_adjacency
    from minigraphrec.ops.attention import (attention_graph, gat_layer_backward,
                                            gat_layer_forward)

    dtype = np.float32
    t0 = time.perf_counter()
    A = normalize_adjacency(bipartite_adjacency(R), "none", self_loops=True)   # (n, n) A + I
    graph = attention_graph(A)
    prep = time.perf_counter() - t0
    n = graph.n_nodes
    print(f"gat [{name}]: {n} nodes, {graph.indices.shape[0]} edges (self-loops included), "
          f"{GAT_HEADS} heads x {GAT_D_OUT}; graph prepared in {prep:.2f} s", flush=True)
    rng = np.random.default_rng(args.seed)
    H = rng.standard_normal((n, GAT_D_IN)).astype(dtype)
    W = (rng.standard_normal((GAT_D_IN, GAT_HEADS * GAT_D_OUT)) / 8).astype(dtype)
    a_src = (rng.standard_normal((GAT_HEADS, GAT_D_OUT)) / 6).astype(dtype)
    a_dst = (rng.standard_normal((GAT_HEADS, GAT_D_OUT)) / 6).astype(dtype)
    dH_out = rng.standard_normal((n, GAT_HEADS * GAT_D_OUT)).astype(dtype)

    def layer(backend):
        out, cache = gat_layer_forward(graph, H, W, a_src, a_dst, backend=backend)
        dH, dW, da_src, da_dst, _ = gat_layer_backward(cache, dH_out)
        return {"H_out": out, "dH": dH, "dW": dW, "da_src": da_src, "da_dst": da_dst}

    first, kind = first_numba_call(partial(layer, "numba"), dispatchers(ksegment))
    ref = layer("numpy")
    timed = time_backends(numba, partial(layer, "numpy"), partial(layer, "numba"),
                          args.threads, args.repeat)

    def agree(n_threads):
        got = on_threads(numba, n_threads, partial(layer, "numba"))
        diffs = {k: rel_diff(got[k], ref[k]) for k in ref}
        worst = max(diffs, key=diffs.get)
        return (f"max rel diff {diffs[worst]:.2g} ({worst})",
                {"max_rel_diff": diffs[worst], "rel_diffs": diffs,
                 "within_tolerance": diffs[worst] <= GAT_TOLERANCE[np.dtype(dtype).name]})

    base = {"kernel": "GAT layer fwd+bwd",
            "workload": f"{name}: {n} nodes, {graph.indices.shape[0]} edges, "
                        f"{GAT_HEADS}x{GAT_D_OUT}",
            "dtype": np.dtype(dtype).name, "graph_prep_s": prep}
    item = np.dtype(dtype).itemsize
    n_edges = graph.indices.shape[0]
    n_bytes = (2 * (graph.indptr.nbytes + graph.indices.nbytes)   # the graph, both passes
               + 2 * n_edges * GAT_HEADS * item                  # attention written, read back
               + 2 * H.nbytes + dH_out.nbytes                    # H (forward, dW), dH_out
               + n * GAT_HEADS * GAT_D_OUT * item + H.nbytes)    # H_out, dH written
    return make_rows(base, timed, args.threads, first, kind, agree, n_bytes, args.stream)


# -------------------------------------------------------------------- main
def main():
    parser = benchmark_parser(
        __doc__.splitlines()[0],
        smoke="small synthetic sizes instead of the full ones, 2 runs (a --data graph is "
              "still read)")
    parser.add_argument("--data", type=Path, help="folder with a LightGCN-format train.txt "
                        "(e.g. the LightGCN repository's Gowalla folder): BPR, top-k and GAT on it too")
    parser.add_argument("--threads", type=int, nargs="+",
                        help="numba thread counts to time (default: numba's default)")
    parser.add_argument("--kernels", nargs="+", choices=KERNELS, default=list(KERNELS),
                        help="which kernels (default all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every draw (default 0)")
    parser.add_argument("--no-torch", action="store_true",
                        help="leave torch.sparse out of the spmm rows even if installed")
    parser.add_argument("--plot-only", nargs="?", const="kernels", metavar="NAME",
                        help="redraw <out>/NAME.png from NAME.json (default NAME kernels; "
                             "kernels_spmm for that run); run nothing")
    args = parser.parse_args()
    if args.plot_only:
        record = read_record(args.out, args.plot_only)
        return plot_ratios(record["rows"], args.plot_only, args.out,
                           data=recorded_option(record, "--data"), record=record)
    if args.data is not None:                           # read even with --smoke
        check_data(args.data, ("train.txt",), "a folder with a LightGCN-format train.txt")
    if args.smoke:
        args.repeat = 2
    if args.repeat < 1:
        parser.error(f"--repeat must be >= 1, got {args.repeat}")

    import numba
    max_threads = numba.config.NUMBA_NUM_THREADS
    if args.threads is None:
        args.threads = [max_threads]
    bad = [t for t in args.threads if not 1 <= t <= max_threads]
    if bad:
        parser.error(f"--threads must be in 1..{max_threads} (NUMBA_NUM_THREADS), got {bad}")
    args.threads = sorted(set(args.threads))

    size = "smoke" if args.smoke else "full"
    n_users, n_items, n_draws = GRAPH[size]
    graphs = [(f"synthetic-{n_users}x{n_items}", synthetic_R(n_users, n_items, n_draws,
                                                            seed=args.seed))]
    if args.data is not None:
        from minigraphrec.datasets import load_lightgcn
        graphs.append((args.data.name, load_lightgcn(args.data / "train.txt").to_csr()))

    rows = []
    t_start = time.perf_counter()
    load_before = os.getloadavg()[0]
    print("streaming bandwidth", flush=True)
    stream_rows, args.stream = bench_stream(STREAM_N[size], args, numba)
    rows += stream_rows
    if "spmm" in args.kernels:
        for name, R in graphs:
            rows += bench_spmm(name, R, args, numba)
    if "bpr" in args.kernels:
        for name, R in graphs:
            rows += bench_bpr(name, R, args, numba)
    if "adam" in args.kernels:
        rows += bench_adam(ADAM_ROWS[size], args, numba)
    if "topk" in args.kernels:
        tu, ti = TOPK[size]
        rows += bench_topk("synthetic", tu, ti,
                           seen_matrix(tu, ti, np.random.default_rng(args.seed)), args, numba)
        for name, R in graphs[1:]:
            tu = min(tu, R.shape[0])
            rows += bench_topk(f"{name} (first {tu} users' train items excluded)", tu,
                               R.shape[1], sp.csr_matrix(R[:tu]), args, numba)
    if "gat" in args.kernels:
        for name, R in graphs:
            rows += bench_gat(name, R, args, numba)
    print(f"done in {time.perf_counter() - t_start:.1f} s", flush=True)

    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = None
    torch = None if args.no_torch or "spmm" not in args.kernels else _import_torch()
    torch_text = (f"torch {torch.__version__} (torch.sparse.mm on a CSR tensor with SciPy's int32 "
                  f"indices, torch.set_num_threads = the row's thread count; "
                  f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')})"
                  if torch is not None else "torch not installed or --no-torch: no torch columns")
    columns = ["kernel", "workload", "dtype", "threads", "numba_s", "numpy_s", "ratio",
               "ratio_per_round", "torch_s", "torch_ratio", "torch_ratio_per_round",
               "numba_GBps", "numpy_GBps", "torch_GBps", "stream_GBps", "numba_of_stream",
               "first_call_s", "agreement"]
    notes = (f"Median of {args.repeat} runs, the NumPy/SciPy reference, each numba thread count "
             "and (spmm) torch at each thread count timed round-robin, their order rotated "
             "round by round; ratio = numpy_s / "
             "numba_s (above 1: numba faster), ratio_per_round = the median over rounds of that "
             "ratio within a round (the spmm target is judged on it), torch_ratio = numpy_s / "
             "torch_s, torch_ratio_per_round = the median over rounds of that ratio within a "
             "round (the figure numba's ratio_per_round compares with; numba_vs_torch in the "
             "JSON = torch_s / numba_s, of the medians). spmm: numpy_s is SciPy's serial "
             "A @ X; " + torch_text + ". "
             "Bandwidth: *_GBps = the bytes the kernel must read and write, each array once "
             "(spmm: A's indptr, indices, data, X and the output; sample_bpr: R's indptr and "
             "indices, 3 int64 per triple written; nth_absent: R, 2 query arrays read, 1 "
             "written; Adam: p, g, m, v read, p, m, v written; top_k: the scores and the "
             "exclusion CSR read, k ids and scores per row written; GAT: the graph and the "
             "per-edge attention twice, H twice, dH_out, H_out and dH), divided by the median "
             "time; gathers that miss the cache move more than that, so it is a lower bound on "
             "the traffic. stream_GBps: the STREAM triad measured in this run at the row's "
             "thread count (24 bytes per element, write-allocate not counted); numba_of_stream "
             "= numba_GBps / stream_GBps. "
             "first_call_s: the numba backend's first call for that workload and dtype, which "
             "compiles the kernels, loads them from numba's cache, or finds them compiled "
             "already in this process (first_call in the JSON says which). sample_bpr includes "
             "its RNG draws on both sides; the nth_absent row times the rank -> item map alone. "
             "GAT: H @ W and its gradient run in NumPy/BLAS on both sides. "
             f"Seed {args.seed}; numba threading layer {layer}; 1-min load average "
             f"{load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end.")
    stem = "kernels" if set(args.kernels) == set(KERNELS) else "kernels_" + "_".join(args.kernels)
    stem += "_smoke" if args.smoke else ""
    json_path, md_path = write_results(stem, rows, columns, out_dir=args.out, notes=notes)
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    plot_ratios(rows, stem, args.out,
                data=portable_path(str(args.data)) if args.data is not None else None,
                record=json.loads(Path(json_path).read_text()))
    refuse_disagreement(rows, json_path.name)


def plot_ratios(rows, name, out_dir, data=None, record=None):
    """``<name>.png``: every kernel's NumPy/SciPy time over numba's (and torch.sparse's, where
    timed) as the median per-round ratio, one bar from 1x per thread count, the spmm target
    as a line over the spmm rows; log scale. The STREAM rows give the title's bandwidth.
    ``data``: how to name the ``--data`` graph (e.g. ``DATA/gowalla``); ``record``, the results
    JSON drawn from, names the machine in a footer."""
    from minigraphrec import plot
    timed = [r for r in rows if "ratio_per_round" in r]
    stream = {r["threads"]: r["numba_GBps"] for r in rows
              if r["kernel"].startswith("stream triad")}
    data_name = None if data is None else Path(data).name

    def label(r):
        graph = r["workload"].split(":")[0]
        graph = graph if graph.startswith("(") else graph.split(" (")[0]
        graph = data if data is not None and graph == data_name else graph
        return f"{r['kernel'].split(' (')[0]}, {graph}, {r['dtype']}"

    threads = sorted({r["threads"] for r in timed})
    shade = max(0, 3 - len(threads))                # one thread count: the darkest colour
    sides = [("numba", "ratio_per_round", ["#9ecae1", "#4292c6", "#08519c"]),
             ("torch.sparse", "torch_ratio_per_round", ["#fdd0a2", "#fd8d3c", "#d94801"])]
    bars, groups, y = [], [], 0.0                 # (y, value, colour, legend text); group rows
    for g in dict.fromkeys(label(r) for r in timed):
        first = y
        for side, key, colors in sides:
            for i, t in enumerate(threads):
                r = next((r for r in timed if label(r) == g and r["threads"] == t), None)
                if r is not None and key in r:
                    bars.append((y, r[key], colors[min(i + shade, 2)],
                                 f"{side}, {t} thread{'s' * (t > 1)}"))
                    y += 1
        groups.append((g, first, y - 1))
        y += 0.6
    values = [v for _, v, _, _ in bars]
    lo, hi = min(values + [1.0]) / 1.3, max(values + [SPMM_TARGET]) * 1.6
    fig, ax = plot.subplots(figsize=(8.4, 1.6 + 0.2 * y))
    for yb, v, color, text in bars:
        ax.barh(yb, v - 1, left=1, height=0.85, color=color, label=text)
        ax.text(max(v, 1) * 1.03, yb, ratio_text(v, SPMM_TARGET), va="center",    # right of 1x
                ha="left", fontsize=7, zorder=3,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
    spmm = [(a, b) for g, a, b in groups if g.startswith("spmm")]
    if spmm and 2 in threads:
        ax.vlines(SPMM_TARGET, spmm[0][0] - 0.5, spmm[-1][1] + 0.5, color="tab:red",
                  linestyle="--", linewidth=1.2,
                  label=f"spmm target: >= {SPMM_TARGET:g}x SciPy on 2 threads")
    ax.axvline(1, color="0.5", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ratio_ticks(ax.xaxis, lo, hi)
    ax.set_yticks([(a + b) / 2 for _, a, b in groups], [g for g, _, _ in groups], fontsize=8)
    ax.set_ylim(y - 1.1, -0.5)                                  # the first row on top
    ax.set_xlabel("reference time / kernel time (median per-round ratio, log scale)")
    handles, texts = ax.get_legend_handles_labels()
    seen = dict(zip(texts, handles))
    fig.legend(seen.values(), seen.keys(), loc="outside lower center", ncols=min(3, len(seen)),
               fontsize=8)
    bw = ", ".join(f"{gb:.3g} GB/s ({t} thread{'s' * (t > 1)})"
                   for t, gb in sorted(stream.items()))
    graphs = "synthetic graphs" + (f" and {data}" if data is not None else "")
    fig.suptitle(f"numba kernels (and torch.sparse) vs the NumPy/SciPy reference: {graphs}\n"
                 f"machine's STREAM triad bandwidth in the same run: {bw}", fontsize=9)
    save_figure(fig, name, out_dir, record=record)


if __name__ == "__main__":
    main()
