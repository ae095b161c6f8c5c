# %% [markdown]
# # Efficiency: smaller graphs, parallel kernels, less propagation, no training
#
# The article's FAQ Q4 (§9) names three ways to make graph recommendation
# cheaper: optimise the graph structure (pruning and de-duplication, also
# §3), compute in parallel, and compress the model. This tutorial measures
# the first two and two further savings the library relies on:
#
# 1. what de-duplication and $k$-core pruning remove from a duplicated,
#    long-tailed log, and what that does to the time of one propagation
#    $\hat A X$;
# 2. four numba kernels of the training and evaluation loops (`spmm`,
#    `sample_bpr`, `top_k`, Adam) beside the NumPy references they must
#    equal: asserted identical, then timed;
# 3. batch-local propagation: how many rows a LightGCN batch really needs,
#    hop by hop, against the whole graph (tutorial 02, section 5, proves
#    why it is exact; here we count what it saves on a larger graph);
# 4. a training-free graph filter (GF-CF) and a closed-form model (EASE)
#    against trained LightGCN: Recall@20 against seconds of fitting, on one
#    thread, and what GF-CF's number of singular vectors does to the order;
# 5. scores in float32 instead of float64: the rounding error against its
#    bound, the rankings it changes, and the time it saves.
#
# Model compression (quantisation) is in tutorial 12, with the other open
# problems. Data: the embedded `mgr.datasets.synthetic(...)` generator
# (planted communities, Zipf popularity); section 1 adds repeated events to
# it. Set `MINIGRAPHREC_ML100K=/path/to/ml-100k` to run sections 1-3 on
# MovieLens-100K's 100,000 ratings (with the same synthetic repeats added)
# and section 4 on its 80/20 split instead. Every count and accuracy the
# prose quotes comes from the default run on the synthetic data, which the
# seeds fix; with ML-100K read the printed output. Timings depend on the
# machine and on its load: the script prints every time and ratio it
# measures, and where the prose quotes one it says so and gives the range
# over our own runs of this script (two busy cores of an AMD EPYC, one
# thread); figures from the benchmarks name their result file.
#
# Run it as a script (`python tutorials/11_efficiency.py`) or cell by cell.

# %% parameters
import os

ml100k_folder = os.environ.get("MINIGRAPHREC_ML100K")   # optional real data
seed = 0
# sections 1-3: a larger synthetic log (or ML-100K's), with repeated events
n_users, n_items = 4000, 6000
mean_interactions = 30
repeat_exponent = 2.5    # repeats per (user, item) pair ~ Zipf(2.5), capped
max_repeats = 50
min_degree = 10          # the k-core of NGCF's and LightGCN's data sets (10 and 10)
dim = 64                 # embedding width of the timed products
repeats = 7              # timed rounds per measurement; the median is reported
calls_per_round = 5      # section 1: a product takes milliseconds, so time 5 calls per round
K = 3                    # LightGCN layers
batch_sizes = (64, 256, 1024, 2048)
# section 4: the default synthetic data and tutorial 02's quick LightGCN
filter_users, filter_items = 1000, 1500
lightgcn_dim, lightgcn_epochs, lightgcn_lr = 32, 20, 0.01
gfcf_factors = (16, 64, 256)   # GF-CF's k: 64 as in tutorial 08, 256 the authors' default
ease_l2 = 100.0          # the synthetic() docstring's EASE setting
# sphinx_gallery_start_ignore
if os.environ.get("MINIGRAPHREC_TUTORIAL_TINY") == "1":   # the smaller run of the tests
    n_users, n_items, repeats = 400, 600, 3
    filter_users, filter_items, lightgcn_epochs = 300, 450, 10
# sphinx_gallery_end_ignore

# %%
import time
import timeit

import numba
import numpy as np
import scipy.sparse as sp

import minigraphrec as mgr
from minigraphrec import graph, ops, plot
from minigraphrec.ops import hop_levels, lightgcn_rows_forward


def interleaved_medians(candidates, n=repeats, number=1):
    """Median seconds per call of each callable over ``n`` rounds.

    Each round calls every candidate ``number`` times in a row and keeps the mean of those
    calls; the median is over the rounds. Round-robin, so that a change in the machine's
    load hits all candidates alike (``timeit.repeat`` would run all rounds of one candidate
    before the next). The calls are timed by the standard library's ``timeit``
    (``time.perf_counter``, with the garbage collector paused). A call of a few
    milliseconds is easily doubled by the scheduler: time several per round (``number``).
    """
    timers = {name: timeit.Timer(f) for name, f in candidates.items()}
    rounds = [{name: t.timeit(number=number) / number for name, t in timers.items()}
              for _ in range(n)]
    return {name: float(np.median([r[name] for r in rounds])) for name in candidates}


def first_call_seconds(f):
    """Wall time of one call: numba's compile (or cache load) on a first call."""
    return timeit.Timer(f).timeit(number=1)


def on_threads(n_threads, f):
    """``f()`` with numba limited to ``n_threads`` threads (restored afterwards)."""
    before = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        return f()
    finally:
        numba.set_num_threads(before)


print(f"numba threads: {numba.get_num_threads()}, load average: {os.getloadavg()[0]:.2f}")

# %% [markdown]
# ## 1. De-duplication and pruning (§3, FAQ Q4.1)
# A real log repeats pairs: a song is played again, a product viewed three
# times before it is bought. We take the synthetic log (one event per
# distinct pair) and repeat each pair $\min(Z, 50)$ times with
# $Z \sim \text{Zipf}(2.5)$, $Z \ge 1$: most pairs once or twice, a few dozen
# times (a long tail, as play counts have), at most 50. A naive graph keeps one edge per
# event; its adjacency $A$ then stores every repeat, and the product
# $A X$ visits each of them:
#
# $$(A X)_{v} = \sum_{\text{events } e \text{ at } v} X_{\text{other end of } e}
#   = \sum_{w} c_{vw} X_w ,$$
#
# where $c_{vw}$ counts the events between $v$ and $w$. So
# `graph.deduplicate(keep="count")` (one row per pair, weight = its count)
# gives the same product with one stored entry per pair: nothing is lost.
# Then `graph.k_core` removes every user with fewer than `min_degree` = 10
# distinct items and every item with fewer than 10 users, repeatedly
# (removing an item can push its users below 10). That does change the model: the pruned users
# and items are gone from the graph.
#
# We time $A X$ at each stage and, as a control, on the raw log's $A$ with
# every repeat moved to a random column: as many stored entries as the raw
# log, but (almost) no neighbour twice in a row.

# %%
if ml100k_folder:                     # one rating per (user, item) pair
    ml100k = mgr.datasets.load_movielens_100k(ml100k_folder)
    base, data_name = ml100k, "MovieLens-100K"
else:
    base = mgr.datasets.synthetic(n_users=n_users, n_items=n_items,
                                  mean_interactions=mean_interactions, random_state=seed)
    data_name = "synthetic"
rng = np.random.default_rng(seed)
n_repeats = np.minimum(rng.zipf(repeat_exponent, len(base)), max_repeats)  # (pairs,) min(Z, 50)
event_rows = rng.permutation(np.repeat(np.arange(len(base)), n_repeats))   # (events,) shuffled
raw = base.subset(event_rows)                      # the log as it would arrive
print(raw)
print("repeats per pair: median", int(np.median(n_repeats)), ", max", int(n_repeats.max()),
      f", {np.mean(n_repeats > 1):.0%} of pairs repeated")


def adjacency_one_entry_per_event(data):
    r"""Bipartite ``A`` (users first) with one stored entry per event, duplicates kept.

    ``sp.csr_matrix((data, indices, indptr))`` stores what it is given; a
    COO-to-CSR conversion would merge the duplicates.
    """
    n_u = data.n_users
    rows = np.concatenate([data.users, n_u + data.items])           # (2 events,)
    cols = np.concatenate([n_u + data.items, data.users])           # (2 events,)
    order = np.argsort(rows, kind="stable")
    n = n_u + data.n_items
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])   # (n + 1,)
    return sp.csr_matrix((np.ones(rows.size), cols[order], indptr), shape=(n, n))


def repoint_repeats(A, rng):
    r"""``A`` with each repeated entry of a row moved to a random column (a timing control).

    Same shape, row lengths and number of stored entries as ``A``; a column now appears
    twice in a row only by chance. Not a graph of anything.
    """
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))        # (nnz,) row of each entry
    order = np.lexsort((A.indices, rows))                              # by row, then column
    r, c = rows[order], A.indices[order]
    repeat = np.zeros(A.nnz, dtype=bool)                               # (nnz,)
    repeat[order[1:]] = (r[1:] == r[:-1]) & (c[1:] == c[:-1])          # not its pair's first
    cols = A.indices.copy()
    cols[repeat] = rng.integers(0, A.shape[1], int(repeat.sum()))
    return sp.csr_matrix((A.data.copy(), cols, A.indptr.copy()), shape=A.shape)


A_raw = adjacency_one_entry_per_event(raw)                           # (n, n), nnz = 2 events
dedup = graph.deduplicate(raw, keep="count")                         # one row per pair
A_dedup = graph.bipartite_adjacency(dedup.to_csr(weighted=True))     # weights = counts
core = graph.k_core(dedup, min_user=min_degree, min_item=min_degree) # ids compacted
A_core = graph.bipartite_adjacency(core.to_csr(weighted=True))

assert len(dedup) == len(base) and np.array_equal(np.sort(dedup.weights), np.sort(n_repeats))
X = np.random.default_rng(seed).standard_normal((A_raw.shape[0], dim))      # (n, d) float64
AX_raw = ops.spmm(A_raw, X)                        # every event visited
AX_dedup = ops.spmm(A_dedup, X)                    # every pair once, times its count
assert np.allclose(AX_raw, AX_dedup, rtol=1e-12, atol=1e-12)
print("A X with one entry per event == A X with one weighted entry per pair")

A_control = repoint_repeats(A_raw, np.random.default_rng(seed))       # raw log's size, no repeats
assert A_control.nnz == A_raw.nnz

core_name = f"{min_degree}-core"
stages = {"raw log": (raw, A_raw), "de-duplicated": (dedup, A_dedup), core_name: (core, A_core)}
matrices = {name: A for name, (data, A) in stages.items()} | {"control": A_control}
products = {}
for name, A in matrices.items():
    # (n, n) float32, as in training; built from A's arrays, as SciPy 1.10's A.astype would
    # sum A's repeated entries in place and leave the raw log's A de-duplicated
    A32 = sp.csr_matrix((A.data.astype(np.float32), A.indices, A.indptr), shape=A.shape)
    X_s = np.random.default_rng(seed).standard_normal((A.shape[0], dim)).astype(np.float32)
    products[name] = lambda A32=A32, X_s=X_s: ops.spmm(A32, X_s, backend="numpy")
spmm_seconds = interleaved_medians(products, number=calls_per_round)   # SciPy's serial A @ X
stage_stats = {}
for name, (data, A) in stages.items():
    stage_stats[name] = {"events": len(data), "users": int(np.unique(data.users).size),
                         "items": int(np.unique(data.items).size), "stored": A.nnz,
                         "spmm_s": spmm_seconds[name]}
    s = stage_stats[name]
    print(f"{name:14s} {s['events']:8d} rows, {s['users']:5d} users, {s['items']:5d} items, "
          f"{s['stored']:8d} stored entries, A X {1e3 * s['spmm_s']:7.2f} ms")
print(f"{'control':14s} the raw log's A, repeats moved: {A_control.nnz:8d} stored entries, "
      f"A X {1e3 * spmm_seconds['control']:7.2f} ms")
entries_saved_dedup = 1 - A_dedup.nnz / A_raw.nnz
entries_saved_core = 1 - A_core.nnz / A_raw.nnz
print(f"de-duplication removes {entries_saved_dedup:.0%} of the stored entries, "
      f"with the {core_name} {entries_saved_core:.0%}")
time_ratios = {                                   # the ratios the prose below discusses
    "raw log / de-duplicated": spmm_seconds["raw log"] / spmm_seconds["de-duplicated"],
    "control / raw log": spmm_seconds["control"] / spmm_seconds["raw log"],
    f"{core_name} / de-duplicated": spmm_seconds[core_name] / spmm_seconds["de-duplicated"]}
print("time ratios: " + ", ".join(f"{name} {r:.2f}" for name, r in time_ratios.items())
      + f" (stored entries: raw log / de-duplicated {A_raw.nnz / A_dedup.nnz:.2f})")

# %% [markdown]
# On the default run (4,000 users, 6,000 items) the log has 216,493 events
# for 120,200 distinct pairs: the repeats are 44% of the stored entries,
# and removing them costs nothing. The 10-core then keeps every user (they
# average 30 items) but only 2,407 of the 5,955 items that have a user:
# the long tail of rarely taken items goes, with a smaller share of the
# entries (each tail item has few). Whether that is a saving depends on the
# goal: those items can no longer be recommended from the graph at all
# (tutorial 12 turns to them).
#
# The time of SciPy's serial product follows the stored entries, but not in
# proportion; the script prints the ratios. In five runs of ours (two cores
# of an AMD EPYC, busy with other work, load average 2 to 8), the raw log's
# product took 1.3 to 2.1 times as long as the de-duplicated one, for 1.8
# times the stored entries. The control, as many entries as the raw log but
# without repeats, took 1.05 to 1.4 times as long as the raw log. So a
# repeat is cheaper than a new neighbour, though not free: it still costs a
# multiply-add and an index read, but the row of $X$ it adds was read
# moments before for the same output row and is likely still in the CPU's
# cache, while a distinct neighbour's row may have to come from memory. The
# 10-core, with fewer distinct entries and fewer rows, was the fastest
# (0.67 to 0.83 times the de-duplicated log). Timings vary with the
# machine, its caches and its load, from run to run too, so these ratios
# are rough; read your machine's in the printed output.

# %%
fig, (ax_entries, ax_time) = plot.subplots(1, 2)
names = list(matrices)
labels = [*stage_stats, "control:\nraw log's entries,\nno repeats"]
is_control = [name == "control" for name in names]
ax_entries.bar(labels, [matrices[n].nnz / 1e6 for n in names],
               color=["tab:gray" if c else "tab:blue" for c in is_control],
               hatch=["//" if c else "" for c in is_control])
ax_entries.set_ylabel("stored entries of A (millions)")
ax_entries.set_title("graph size")
ax_time.bar(labels, [1e3 * spmm_seconds[n] for n in names],
            color=["tab:gray" if c else "tab:orange" for c in is_control],
            hatch=["//" if c else "" for c in is_control])
ax_time.set_ylabel(f"A X, d = {dim}, float32, SciPy (ms per call)")
ax_time.set_title(f"propagation time (median of {repeats} rounds of {calls_per_round} calls)",
                  fontsize=10)
for ax in (ax_entries, ax_time):
    ax.tick_params(axis="x", labelsize=8)
print("wrote", plot.save_figure(fig, "11_pruning"))

# %% [markdown]
# ## 2. Parallel kernels beside their references (FAQ Q4.2)
# Every hot loop of training and evaluation has a numba kernel, and beside
# it the plain NumPy/SciPy form it must equal, chosen with
# `backend="numpy"` (`minigraphrec/kernels/` holds them all;
# `benchmarks/bench_kernels.py` times more of them). Four of them:
#
# | kernel | reference |
# |---|---|
# | `ops.spmm(A, X)` | SciPy's `A @ X` |
# | `ops.sample_bpr(R)` | a vectorised `searchsorted` mapping random ranks to absent items |
# | `rank.top_k(S, k, exclude)` | mark excluded items $-\infty$, stable `argsort`, cut at $k$ |
# | `Adam(backend=...)` | a dozen in-place NumPy passes of the update rule |
#
# On one graph (the de-duplicated log above, as the LightGCN
# $\hat A = D^{-1/2} A D^{-1/2}$ in float32) each pair is first asserted
# to return identical arrays (`np.array_equal`: the same bits, as the
# library promises on x86-64), then timed. A numba function compiles on its
# first call (or loads its machine code from numba's on-disk cache), so
# that first call is timed apart and the steady-state time is the median
# of a few calls after it. The kernels split rows (or array elements)
# across `numba.get_num_threads()` threads; when that is more than one,
# each is also timed on one thread, to separate the parallel speed-up from
# the compiled loop's own (with `NUMBA_NUM_THREADS=1` there is one column).
# (The article's "parallel computation" means distributed training over
# many machines; the same idea on one machine is threads over cores.)

# %%
R = dedup.to_csr()                                                    # (n_users, n_items) binary
A_hat = graph.build_graph(dedup).astype(np.float32)                   # (n, n) D^-1/2 A D^-1/2
n = A_hat.shape[0]
X32 = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
n_score_users = min(256, dedup.n_users)
U = np.random.default_rng(seed + 1).standard_normal((n_score_users, dim))
V = np.random.default_rng(seed + 2).standard_normal((dedup.n_items, dim))
S_scores = U @ V.T                                                    # (256, n_items) float64
seen = R[:n_score_users]                                              # excluded: seen items
E0_adam = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
adam_grads = [np.random.default_rng(seed + t).standard_normal((n, dim)).astype(np.float32)
              for t in range(3)]


def adam_run(backend, steps):
    """``steps`` Adam updates of a copy of E0 with fixed gradients; returns the table."""
    params = {"E0": E0_adam.copy()}
    opt = mgr.Adam(lr=0.01, backend=backend)
    for t in range(steps):
        opt.step(params, {"E0": adam_grads[t % len(adam_grads)]})
    return params["E0"]


kernels = {
    "spmm": lambda backend: ops.spmm(A_hat, X32, backend=backend),
    "sample_bpr": lambda backend: ops.sample_bpr(R, random_state=seed, backend=backend),
    "top_k": lambda backend: mgr.rank.top_k(S_scores, 20, exclude=seen, backend=backend),
    "adam": lambda backend: adam_run(backend, steps=3),
}

threads = numba.get_num_threads()
kernel_stats = {}
for name, call in kernels.items():
    first = first_call_seconds(lambda: call("numba"))                # compile / cache load
    got, want = call("numba"), call("numpy")
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    identical = len(got) == len(want) and all(np.array_equal(g, w) for g, w in zip(got, want))
    assert identical, f"{name}: numba and numpy disagree"
    candidates = {"numpy": lambda: call("numpy"), "numba": lambda: call("numba")}
    if threads > 1:                                   # else "numba" already runs on 1 thread
        candidates["numba, 1 thread"] = lambda: on_threads(1, lambda: call("numba"))
    t = interleaved_medians(candidates)
    t_1 = t.get("numba, 1 thread", t["numba"])        # (s) numba on one thread
    kernel_stats[name] = {"first_call_s": first, "numpy_s": t["numpy"], "numba_s": t["numba"],
                          "numba_1_thread_s": t_1, "identical": identical,
                          "speedup": t["numpy"] / t["numba"], "speedup_1_thread": t["numpy"] / t_1}
    s = kernel_stats[name]
    on_1_thread = (f", on 1 thread {1e3 * s['numba_1_thread_s']:7.2f} ms "
                   f"(x{s['speedup_1_thread']:5.1f})" if threads > 1 else "")
    print(f"{name:11s} first call {s['first_call_s']:6.3f} s | numpy {1e3 * s['numpy_s']:8.2f} ms"
          f" | numba {1e3 * s['numba_s']:7.2f} ms (x{s['speedup']:5.1f}){on_1_thread} | identical")

# %% [markdown]
# The "first call" column is numba's fixed cost (compiling takes seconds on
# a fresh install, a cache load a fraction of that); it is paid once per
# process and signature, never per batch. The steady-state ratios are what
# a training loop sees, and they vary with the machine and its load. The
# largest gain is usually top-k, where the kernel keeps a bounded heap per
# row instead of sorting every row. With several threads, the two columns
# show the other side of parallel computation: a parallel loop waits for its
# slowest thread, so on cores busy with other work two threads can lose to
# one. In one run of ours with `NUMBA_NUM_THREADS=2` (two cores, load
# average 5) they lost for three of the four kernels: Adam took 22 ms on
# two threads against 1.7 ms on one, spmm and top-k about 3 times as long;
# only `sample_bpr` gained (1.8 times faster on two).
# `benchmarks/bench_kernels.py` and `bench_spmm.py` measure these ratios on
# Gowalla-sized inputs.

# %%
fig, ax = plot.subplots(figsize=(6.4, 3.8))
names = list(kernel_stats)
x = np.arange(len(names))
if threads > 1:
    series = ((-0.2, 0.4, "speedup", f"numba, {threads} threads", "tab:blue"),
              (0.2, 0.4, "speedup_1_thread", "numba, 1 thread", "tab:gray"))
else:                                  # one thread is all numba has: one series
    series = ((0.0, 0.5, "speedup", "numba, 1 thread (the only one it has here)", "tab:blue"),)
for offset, width, key, label, color in series:
    values = [kernel_stats[k][key] for k in names]
    bars = ax.bar(x + offset, values, width=width, label=label, color=color)
    ax.bar_label(bars, labels=[f"{v:.1f}x" for v in values], fontsize=7)
ax.axhline(1.0, color="black", linewidth=0.8)
ax.set_yscale("log")
ax.set_xticks(x, names)
ax.set_ylabel("speed-up: NumPy time / numba time")
ax.set_title(f"numba kernels vs their references (median of {repeats})")
ax.legend(fontsize=8)
print("wrote", plot.save_figure(fig, "11_kernel_speedups"))

# %% [markdown]
# ## 3. Batch-local propagation: count the rows
# Tutorial 02 (section 5) shows that a batch's loss reads $E$ on its own
# nodes $S_0$ only, and that $E[S_0]$ needs $E_0$ only on $S_K$, the nodes
# within $K$ hops. In Horner form, hop $j$ of the forward pass computes
# $V_j = E_0 + \hat A V_{j-1}$ on $S_{K-j}$ only, reading the rows of
# $\hat A$ on $S_{K-1}, \dots, S_1, S_0$; the full pass reads all $n$ rows
# $K$ times. How large are those balls on this graph? We draw BPR batches of
# several sizes, grow the balls by hand (breadth-first: $S_h$ is $S_{h-1}$
# and the neighbours of its nodes), check them against the library's
# `hop_levels`, and count the stored entries the forward pass reads:
#
# $$\text{rows read} = \sum_{h=0}^{K-1} |S_h| \quad\text{vs}\quad K n, \qquad
#   \text{entries read} = \sum_{h=0}^{K-1} \sum_{v \in S_h} \deg(v)
#   \quad\text{vs}\quad K\, \mathrm{nnz}(\hat A).$$

# %%
A_hat64 = A_hat.astype(np.float64)
row_nnz = np.diff(A_hat64.indptr)                                    # (n,) entries per row
ball_fractions, batch_stats = {}, {}
for b in batch_sizes:
    users, pos, neg = ops.sample_bpr(R, n_samples=b, random_state=seed)
    nodes = np.unique(np.concatenate([users, dedup.n_users + pos, dedup.n_users + neg]))
    ball = np.zeros(n, dtype=bool)
    ball[nodes] = True                                               # S_0
    balls = [ball]
    for h in range(1, K + 1):                                        # S_h = S_{h-1} + neighbours
        ball = ball.copy()
        ball[A_hat64[np.flatnonzero(balls[-1])].indices] = True
        balls.append(ball)
    level, _ = hop_levels(A_hat64, nodes, K, backend="numpy")         # level[v] = hops from S_0
    assert all(np.array_equal(level <= h, balls[h]) for h in range(K + 1))
    sizes = [int(ball.sum()) for ball in balls]                       # |S_0|, ..., |S_K|
    rows_read = sum(sizes[:K])
    entries_read = int(sum(row_nnz[balls[h]].sum() for h in range(K)))
    ball_fractions[b] = [s / n for s in sizes]
    batch_stats[b] = {"sizes": sizes, "rows_read": rows_read, "entries_read": entries_read,
                      "rows_fraction": rows_read / (K * n),
                      "entries_fraction": entries_read / (K * A_hat64.nnz)}
    print(f"batch {b:5d}: |S_0..S_{K}| = {sizes} of {n} nodes; forward reads "
          f"{rows_read / (K * n):.0%} of the rows, {entries_read / (K * A_hat64.nnz):.0%} "
          "of the entries")

# %% [markdown]
# Exactness, on this graph: the rows of the batch-local pass (the numba
# kernels, which may take a superset of a ball once it holds half the
# graph's entries) equal the rows of the whole-graph propagation in float64.

# %%
E0 = np.random.default_rng(seed).standard_normal((n, dim))            # (n, d) float64
E_full, _ = ops.lightgcn_forward(A_hat64, E0, K)                      # (n, d) every row
E_rows, _ = lightgcn_rows_forward(A_hat64, E0, K, nodes, backend="numba")   # (|S_0|, d)
assert np.allclose(E_rows, E_full[nodes], rtol=1e-12, atol=1e-12)
t = interleaved_medians({
    "full": lambda: ops.lightgcn_forward(A_hat64, E0, K, backend="numba"),
    "rows": lambda: lightgcn_rows_forward(A_hat64, E0, K, nodes, backend="numba")})
t_full, t_rows = t["full"], t["rows"]
print(f"batch of {batch_sizes[-1]}: whole-graph forward {1e3 * t_full:.1f} ms, "
      f"batch-local {1e3 * t_rows:.1f} ms (same rows)")

# %% [markdown]
# The balls grow fast. On the default run a batch of 64 triples has 191
# distinct nodes, its 1-hop ball half the graph and its 2-hop ball 99% of
# it: popular items link almost everyone. So the saving comes from the
# balls nearest the batch, $S_0$ and $S_1$, and it shrinks as batches grow
# (the forward pass reads half the rows for 64 triples, 79% for 2,048).
# Counted in the order the forward pass runs, those are its *last* hops:
# it starts by computing $V_1$ on $S_{K-1}$, nearly the whole graph, and
# ends with $V_K$ on $S_0$ alone. "Nearest the batch" and "last" name the
# same hops, counted from opposite ends. The module docstring of
# `minigraphrec.ops.lightgcn_rows` (the batch-local kernels LightGCN
# trains with) counts the second way and reports the same shape on
# Gowalla: "the saving is the last hops", about 3.4M instead of 4.9M stored
# entries per pass with batches of 2,048. Whether the smaller pass is also
# faster depends on the machine: the batch-local kernels do extra
# bookkeeping per row, so compare the printed times.

# %%
fig, ax = plot.subplots()
for b, fractions in ball_fractions.items():
    ax.plot(range(K + 1), fractions, marker="o", label=f"batch of {b} triples")
ax.set_xlabel("hops h from the batch's nodes")
ax.set_ylabel("|S_h| / n (share of all nodes)")
ax.set_xticks(range(K + 1))
ax.set_ylim(0, 1.02)
ax.set_title("the K-hop ball a LightGCN batch needs")
ax.legend(fontsize=8)
print("wrote", plot.save_figure(fig, "11_batch_balls"))

# %% [markdown]
# ## 4. A filter that needs no training
# LightGCN's $E = \frac{1}{K+1}\sum_k \hat A^k E_0$ is a low-pass filter
# on the graph applied to random $E_0$, then trained. Shen et al. (GF-CF,
# CIKM 2021) apply such a filter directly to the user's row of $R$, with
# nothing to train:
#
# $$s_u = r_u \tilde R^\top \tilde R
#   + \alpha\, r_u D_I^{-1/2} V V^\top D_I^{1/2}, \qquad
#   \tilde R = D_U^{-1/2} R D_I^{-1/2},$$
#
# $V$ the top-$k$ right singular vectors of $\tilde R$ and $\alpha = 0.3$.
# The second term is the "ideal low-pass" filter: it keeps the $k$
# smoothest graph frequencies and drops the rest. The authors use $k = 256$
# (the library's default) on catalogues of 38,000 to 92,000 items (Gowalla,
# Yelp2018, Amazon-Book), where that is under 1% of the spectrum. On our
# 1,500 items 256 vectors are 17% of it, hardly a low-pass filter; tutorial
# 08 uses 64. We fit $k$ = 16, 64 and 256 to see what the choice does. EASE
# (Steck, WWW 2019) is a closed-form item–item model, $s_u = r_u B$ with
#
# $$B = \arg\min_{\mathrm{diag}(B) = 0} \lVert R - R B\rVert_F^2 + \lambda \lVert B\rVert_F^2
#   = I - P\,\mathrm{diagMat}(1/\mathrm{diag}\,P), \qquad P = (R^\top R + \lambda I)^{-1}.$$
#
# We fit every model on the same per-user 80/20 split of the default
# synthetic data (1,000 users, 1,500 items; tutorial 08's split) and time
# each `fit` with numba and BLAS on one thread, `with mgr.threads(1):`
# (`minigraphrec/threadpools.py`). With their default thread counts the two
# pools compete with each other and with whatever else runs for the cores:
# in our runs the CPU seconds of the dense factorisations (EASE's inverse,
# GF-CF's SVD with its default solver) then grew several-fold on a busy
# machine, and EASE, GF-CF and LightGCN traded places from run to run. On
# one thread a fit's CPU seconds (printed with its wall seconds) measure
# its work, and their order holds. GF-CF computes its $k$ vectors with
# ARPACK, as in tutorial 08: it asks only for the vectors it keeps, so its
# cost grows with $k$. Then we check GF-CF and EASE by hand for one user.

# %%
if ml100k_folder:
    data = ml100k
else:
    data = mgr.datasets.synthetic(n_users=filter_users, n_items=filter_items,
                                  random_state=seed)
train, test = mgr.split.random_split(data, test_size=0.2, random_state=seed)
contenders = {
    "Popularity": lambda: mgr.Popularity(),
    "EASE": lambda: mgr.EASE(l2=ease_l2),
    **{f"GF-CF, k = {k}": (lambda k=k: mgr.GFCF(n_factors=k, svd_solver="arpack",
                                                 dtype="float64"))
       for k in gfcf_factors},
    f"LightGCN, {lightgcn_epochs} epochs": lambda: mgr.LightGCN(
        dim=lightgcn_dim, n_layers=K, lr=lightgcn_lr, epochs=lightgcn_epochs,
        batch_size=1024, reg=1e-4, random_state=seed),
}
fitted, filter_stats = {}, {}
for name, make in contenders.items():
    model = make()
    with mgr.threads(1):                          # numba and BLAS serial: time = work
        t0, cpu0 = time.perf_counter(), time.process_time()
        fitted[name] = model.fit(train)
        fit_seconds, fit_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    recall = mgr.evaluate(model, test, k=20, metrics=["recall"])["recall@20"]
    filter_stats[name] = {"fit_s": fit_seconds, "fit_cpu_s": fit_cpu, "recall@20": recall}
    print(f"{name:22s} fit {fit_seconds:6.2f} s wall, {fit_cpu:6.2f} s CPU (1 thread)  "
          f"Recall@20 {recall:.4f}")
recall_of = {name: s["recall@20"] for name, s in filter_stats.items()}

# %% [markdown]
# GF-CF by hand for user 0, dense, for each fitted $k$: the linear term
# from $\tilde R$ directly; for the ideal term we take the model's $V$
# (a second dense SVD would only repeat LAPACK's work) after checking that
# it is what the formula asks for: $k$ orthonormal columns with
# $\tilde R^\top \tilde R V = V \Sigma^2$.

# %%
ease = fitted["EASE"]
R_train = train.to_csr().toarray()                                   # (n_users, n_items)
u = 0
d_users, d_items = R_train.sum(axis=1), R_train.sum(axis=0)          # degrees
inv_sqrt = lambda d: np.divide(1.0, np.sqrt(d), out=np.zeros_like(d), where=d > 0)
R_tilde = inv_sqrt(d_users)[:, None] * R_train * inv_sqrt(d_items)[None, :]
linear = (R_train[u] @ R_tilde.T) @ R_tilde                          # (n_items,)
for k in gfcf_factors:
    gfcf = fitted[f"GF-CF, k = {k}"]
    V_svd, sigma = gfcf.V_, gfcf.singular_values_                    # (n_items, k), (k,)
    assert V_svd.shape == (R_train.shape[1], k)
    assert np.allclose(V_svd.T @ V_svd, np.eye(k), atol=1e-10)
    assert np.allclose(R_tilde.T @ (R_tilde @ V_svd), V_svd * sigma ** 2, atol=1e-10)
    ideal = ((R_train[u] * inv_sqrt(d_items)) @ V_svd) @ (V_svd.T * np.sqrt(d_items))
    s_gfcf_by_hand = linear + gfcf.alpha * ideal                     # (n_items,), alpha 0.3
    assert np.allclose(gfcf.score([u])[0], s_gfcf_by_hand, rtol=1e-10, atol=1e-12)

# %% [markdown]
# EASE: setting the Lagrangian's gradient to zero, with multipliers $\mu$
# for the constraint, gives $(G + \lambda I) B = G - \mathrm{diagMat}(\mu)$
# with $G = R^\top R$, i.e. $(G + \lambda I)(I - B)$ is diagonal. That and
# $\mathrm{diag}(B) = 0$ pin $B$ down (the same condition as the closed
# form), so we check both on the fitted $B$, with a product instead of a
# second inverse, then the score $r_u B$.

# %%
B = ease.B_                                                          # (n_items, n_items)
C = (R_train.T @ R_train + ease_l2 * np.eye(B.shape[0])) @ (np.eye(B.shape[0]) - B)
off_diagonal = C - np.diag(np.diag(C))
assert np.all(np.diag(B) == 0)
assert np.abs(off_diagonal).max() < 1e-9 * np.abs(np.diag(C)).max()
s_ease_by_hand = R_train[u] @ B
assert np.allclose(ease.score([u])[0], s_ease_by_hand, rtol=1e-12, atol=1e-12)
print("GF-CF and EASE: user 0's scores match the formulas")

# %% [markdown]
# On the default run the three GF-CF fits span the field. With $k = 16$
# GF-CF has the best Recall@20 of all (0.4353), ahead of LightGCN after
# tutorial 02's 20 short epochs (0.4316); with $k = 64$, tutorial 08's
# choice, it falls between LightGCN and EASE (0.4163 against 0.4083); with
# the authors' $k = 256$ it is last of the four (0.3833). All are far above
# Popularity (0.1603). Fewer vectors do better here because the data are
# simple: 10 planted communities, whose signal lives in a handful of the
# smoothest frequencies, while every vector beyond them mostly adds the
# noise of which pairs happened to land in the training set. So on this
# data whether the training-free filter beats the trained model depends on
# one hyperparameter of the filter, and an order read off one $k$ says more
# about $k$ than about the models. We read these three off the test set to
# show that dependence; to choose $k$, compare on a validation split
# (tutorial 09), as one chooses LightGCN's epochs.
#
# The cost, on one thread (the CPU seconds printed above, which the figure
# plots; this order held in each of our five runs): GF-CF with 16 or 64
# vectors is the cheapest fit by far (ARPACK computes only the vectors
# asked for), EASE's inverse of a 1,500 × 1,500 matrix comes next, then
# GF-CF with 256 vectors, and LightGCN's 20 epochs cost the most.
# Besides that work, the trained model needs an optimiser, a learning rate
# and a number of epochs. The training-free models have nothing to train
# and one or two hyperparameters (EASE's λ; GF-CF's α and $k$), which, as
# $k$ shows, still have to be chosen on validation data. That makes them the
# first thing to try and the bar a trained model has to clear: on Gowalla
# the library's GF-CF (with the authors' 256 vectors, under 1% of its
# 40,981 items) reaches Recall@20 0.1849 in 43 s from reading the files
# to the last metric (`benchmarks/results/gfcf_gowalla.md`: PROPACK's SVD,
# one BLAS thread, an AMD EPYC), above the 0.1830 that the LightGCN paper
# (He et al., SIGIR 2020) reports after hundreds of epochs. Their limits:
# EASE inverts a dense item × item matrix (cubic in the catalogue;
# `max_items` guards it), GF-CF needs a truncated SVD, and neither learns
# from features.

# %%
fig, ax = plot.subplots()
cpu = {name: max(s["fit_cpu_s"], 1e-4) for name, s in filter_stats.items()}   # Popularity: ~0 s
gfcf_names = [f"GF-CF, k = {k}" for k in gfcf_factors]
ax.plot([cpu[name] for name in gfcf_names], [recall_of[name] for name in gfcf_names], "o-",
        color="tab:green", ms=7, label="GF-CF, k singular vectors")
for name, k in zip(gfcf_names, gfcf_factors):
    ax.annotate(f"k = {k}", (cpu[name], recall_of[name]), textcoords="offset points",
                xytext=(0, -13), ha="center", fontsize=8, color="tab:green")
for name, marker, color in (("Popularity", "s", "tab:gray"), ("EASE", "D", "tab:orange"),
                            (f"LightGCN, {lightgcn_epochs} epochs", "^", "tab:red")):
    ax.plot(cpu[name], recall_of[name], marker, color=color, ms=8, ls="none", label=name)
ax.set_xscale("log")
ax.set_xlim(min(cpu.values()) / 3, max(cpu.values()) * 3)
ax.set_xlabel("fit time on one thread (CPU seconds, log scale)")
ax.set_ylabel("Recall@20 (test)")
ax.set_title(f"accuracy against fitting cost\n{data_name} data, 80/20 split")
ax.margins(y=0.15)
ax.legend(loc="lower right", fontsize=8)
print("wrote", plot.save_figure(fig, "11_filters_vs_training"))

# %% [markdown]
# ## 5. Scores in float32
# Full-ranking evaluation scores every user against every item:
# $n_u \times n_i \times d$ multiply-adds, most of what `evaluate` costs
# (`benchmarks/bench_eval.py`). The embeddings are float32, but `score`
# computes in float64 by default. The product of two float32 numbers is
# exact in float64 (24 + 24 significant bits fit in 53), so the float64
# scores are the embeddings' dot products up to float64's own roundings.
# `score_dtype="float32"` runs the product in float32: half the bytes,
# and twice the numbers per SIMD instruction. The price is rounding. A
# float32 sum of $d$ products carries an error of at most
#
# $$|\hat s - s| \le \gamma_d \sum_k |a_k b_k|, \qquad
#   \gamma_d = \frac{d\,u}{1 - d\,u} \approx d\,u, \qquad u = 2^{-24}$$
#
# (the standard bound for a recursively summed dot product, Higham,
# *Accuracy and Stability of Numerical Algorithms*, 2nd ed., §3.1; $\gamma_d$
# counts the rounding of each of the $d$ products and of the additions).
# Two items whose scores differ by less than that can swap places.
#
# We score every user with section 4's LightGCN both ways, check each
# float32 score against that bound, and count the top-20 lists that change
# and what that does to Recall@20. Then we time the two products on
# random $n_u \times d$ and $n_i \times d$ tables at the parameters'
# sizes (`n_users` × `n_items` = 4,000 × 6,000, $d$ = `dim`), and print
# the bytes of each score matrix.

# %%
lightgcn = fitted[f"LightGCN, {lightgcn_epochs} epochs"]
everyone = np.arange(lightgcn.n_users_)
precision_stats = {}
for score_dtype in ("float64", "float32"):
    lightgcn.set_params(score_dtype=score_dtype)                     # no refit needed
    items, _ = lightgcn.recommend(everyone, k=20)                    # (n_users, 20)
    precision_stats[score_dtype] = {
        "scores": lightgcn.score(everyone),                          # (n_users, n_items)
        "top20": items,
        "recall@20": mgr.evaluate(lightgcn, test, k=20, metrics=["recall"])["recall@20"],
    }
lightgcn.set_params(score_dtype="float64")                           # back to the default
S64, S32 = precision_stats["float64"]["scores"], precision_stats["float32"]["scores"]
U64 = lightgcn.user_embeddings_.astype(np.float64)                   # (n_users, d)
I64 = lightgcn.item_embeddings_.astype(np.float64)                   # (n_items, d)
u_32 = 2.0 ** -24
gamma_d = lightgcn_dim * u_32 / (1 - lightgcn_dim * u_32)           # Higham's γ_d
bound = gamma_d * (np.abs(U64) @ np.abs(I64).T)                      # (n_users, n_items)
error = np.abs(S32.astype(np.float64) - S64)
error_over_bound = error[bound > 0] / bound[bound > 0]
assert S32.dtype == np.float32 and error_over_bound.max() <= 1.0
same_order = np.all(precision_stats["float64"]["top20"] == precision_stats["float32"]["top20"],
                    axis=1)
same_set = np.array([set(a) == set(b) for a, b in zip(precision_stats["float64"]["top20"],
                                                      precision_stats["float32"]["top20"])])
n_reordered, n_other_items = int((~same_order).sum()), int((~same_set).sum())
print(f"float32 scores: largest error {error.max():.2e}, "
      f"{error_over_bound.max():.3f} of the bound at most "
      f"(median {np.median(error_over_bound):.1e})")
print(f"top-20 lists of {everyone.size} users: {n_reordered} reordered, "
      f"{n_other_items} with another item in them")
print(f"Recall@20: float64 {precision_stats['float64']['recall@20']:.6f}, "
      f"float32 {precision_stats['float32']['recall@20']:.6f}")

rng = np.random.default_rng(seed)
U_big = (rng.standard_normal((n_users, dim)) / np.sqrt(dim)).astype(np.float32)
I_big = (rng.standard_normal((n_items, dim)) / np.sqrt(dim)).astype(np.float32)
product_seconds = interleaved_medians({
    score_dtype: lambda score_dtype=score_dtype: mgr.rank.score_matrix(
        U_big, I_big, dtype=score_dtype)
    for score_dtype in ("float64", "float32")})
score_bytes = {score_dtype: mgr.rank.score_matrix(U_big, I_big, dtype=score_dtype).nbytes
               for score_dtype in ("float64", "float32")}
print(f"{n_users} x {n_items} scores at d = {dim}: float64 "
      f"{product_seconds['float64'] * 1e3:.1f} ms, float32 "
      f"{product_seconds['float32'] * 1e3:.1f} ms "
      f"({product_seconds['float64'] / product_seconds['float32']:.2f}x); "
      f"{score_bytes['float64'] / 2**20:.0f} MiB against {score_bytes['float32'] / 2**20:.0f} MiB")

# %% [markdown]
# On the default run the float32 errors stayed far inside the bound: the
# median at 0.007 of it, the largest at 0.23, because roundings
# of both signs cancel and the bound assumes they never do. One of the
# 1,000 top-20 lists came out in another order, none held another item,
# and Recall@20 was the same to six digits. (BLAS libraries sum in
# different orders on different CPUs, so your float32 counts may differ a
# little; the float64 ones will not.) A swap needs two items whose float64
# scores nearly tie, and a trained model's scores rarely do near the top of
# a list. The float32 product took about half the float64 one's time in
# our five runs of this script (the printed ratio was 2.0 to 2.3), and its
# matrix holds half the bytes (92 against 183 MiB). On Gowalla (29,858 ×
# 40,981 scores, `benchmarks/results/eval_gowalla.md`, an Intel Xeon) the
# float64 product took 2.2 times as long as the float32 one (2.89 s
# against 1.29 s, medians of 7 rounds), and evaluation with float32 scores
# gave the same metrics as a NumPy evaluator scoring in float32. Your
# printed output gives this run's counts and times; the figure shows the
# distribution of errors and the two times.
#
# float64 stays the default because this library is a reference: a
# change of BLAS's summation order (another BLAS, another thread count)
# moves float64 scores only in their last bits, on the scale of
# $2^{-53} \approx 1.1 \times 10^{-16}$ relative, and float32 ones
# on the scale of $2^{-24} \approx 6 \times 10^{-8}$, enough to swap
# near-ties. Set
# `score_dtype="float32"` when you evaluate large catalogues often, and
# check a final number in float64.

# %%
fig, (ax_err, ax_time) = plot.subplots(1, 2)
positive = error_over_bound[error_over_bound > 0]
ax_err.hist(np.log10(positive), bins=50, color="tab:blue")
ax_err.axvline(0.0, color="tab:red", linestyle="--", label="the bound")
ax_err.set_xlabel("log10(|float32 score - float64 score| / Higham's bound)")
ax_err.set_ylabel("number of scores")
n_exact = int((error_over_bound == 0).sum())                         # log10(0): not drawn
ax_err.set_title(f"rounding error of LightGCN's {S64.size:,} float32 scores"
                 + (f"\n({n_exact:,} exact, left out)" if n_exact else "\n(none exact)"),
                 fontsize=9)
ax_err.legend(fontsize=8)
names = list(product_seconds)
ax_time.bar(names, [product_seconds[n] * 1e3 for n in names], color=["tab:gray", "tab:blue"])
ax_time.set_xlabel("score dtype")
ax_time.set_ylabel(f"milliseconds (median of {repeats} rounds)")
ax_time.set_title(f"time of the score product: {n_users} x {n_items} scores, d = {dim}",
                  fontsize=9)
print("wrote", plot.save_figure(fig, "11_float32_scores"))
