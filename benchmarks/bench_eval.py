r"""Benchmark: full-ranking evaluation against the cost of the scores themselves.

The LightGCN protocol scores every item for every evaluated user, leaves the
user's training items out and ranks the rest. The scoring product ``U Iᵀ``
is the floor; everything after it (masking, top-k, metrics, AUC) should cost
little next to it. Measured here, in one process, round-robin (every round
runs every candidate once, so load changes hit all alike), medians:

* ``product``: the float32 product ``U[block] @ Iᵀ`` in the blocks
  ``evaluate`` uses, results thrown away: the floor;
* ``evaluate recall+ndcg``: ``mgr.evaluate(model, test, k=20,
  metrics=["recall", "ndcg"])``;
* ``evaluate all``: ``mgr.evaluate(model, test, k=20)``, every default
  metric (recall, precision, ndcg, hit, map, mrr, auc, coverage, novelty);
* ``numpy evaluator``: a plain NumPy evaluator written below
  (``np.argpartition`` for the top k, a full sort of every row for the
  AUC), timed on its own after the rounds (``--numpy-repeat`` runs, it is
  slow) and used as the reference: every metric of ``evaluate`` must equal
  its value to 1e-12.

The model is a fixed embedding model whose ``score(users)`` is
``U[users] @ Iᵀ`` in float32, with random float32 embeddings (``--dim``,
default 64): the cost of ranking does not depend on what the embeddings
learnt.

The library's own embedding models score in float64 by default, whatever
their dtype (``rank.score_matrix``), so they are timed too, against their
own floor:

* ``product float64``: ``U[block] @ Iᵀ`` on the same embeddings made
  float64 once, in the same blocks;
* ``evaluate MF recall+ndcg``: an ``MF`` holding the same float32
  embeddings (fitted for 0 epochs, then given ``U`` and ``I``), through its
  ``score``: since ``score(users, out=)``, ``evaluate`` scores every block
  into the first one;
* ``evaluate MF recall+ndcg, fresh blocks``: the same with that reuse
  switched off (``model._scores_into = False``), as before it: every block a
  fresh array, page-faulted in. Its metrics must equal the reused ones
  exactly;
* ``evaluate MF recall+ndcg, item table per block``: the same MF scoring
  each block through ``score_matrix`` (``_score_batch``), which checks and
  converts the item table to float64 again for every block, as before the
  prepared block scorer (``_scorer``). Its metrics must equal the others
  exactly;
* ``evaluate MF recall+ndcg, float32 scores`` and ``evaluate MF all,
  float32 scores``: the same MF with ``score_dtype="float32"``, which scores
  in float32 like the NumPy evaluator: judged on the targets below, against
  ``product``, and on agreement with that evaluator.

Peak extra memory is measured with ``tracemalloc`` in a separate,
untimed run of each candidate (NumPy reports its buffers to it; BLAS's own
work space is not included).

OpenBLAS's worker threads spin for about 2^28 cycles (~0.1 s) after every
call before they sleep; ``evaluate`` alternates a BLAS product with a numba
kernel on the same cores, so the spinning worker takes a core from the
kernel. ``OPENBLAS_THREAD_TIMEOUT=4``, set before Python starts, makes them
sleep at once; the notes record its value (Gowalla, 2 cores, recall+ndcg as
a ratio of the medians to the product: on an AMD EPYC, 1.66x without it in
``results/eval_gowalla_openblas_default.md``, 2026-12-04, and 1.33x with it
the same day; ``results/eval_gowalla.md`` holds the latest run with it).

Targets (issue 10 §2), as ratios to ``product`` in the same run, for the
fixed float32 model and for MF scoring in float32: recall+ndcg
within 1.5x, all metrics within 2.5x, extra memory under 1 GB, agreement
with the NumPy evaluator to 1e-12.

    OPENBLAS_THREAD_TIMEOUT=4 python benchmarks/bench_eval.py --data DIR
    python benchmarks/bench_eval.py --data DIR     # OpenBLAS's default spin
    python benchmarks/bench_eval.py --smoke --out /tmp/r              # what the tests run
    python benchmarks/bench_eval.py --plot-only       # redraw eval_gowalla.png from its JSON
"""
from __future__ import annotations

import gc
import json
import os
import time
import tracemalloc
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from _common import (LIGHTGCN_FILES, benchmark_parser, check_data, interleaved_times, read_record,
                     save_figure, write_results)

K = 20
TARGETS = {"evaluate recall+ndcg": 1.5, "evaluate all": 2.5,
           "evaluate MF recall+ndcg, float32 scores": 1.5,
           "evaluate MF all, float32 scores": 2.5}
MEMORY_TARGET_MB = 1024.0
AGREEMENT_TOL = 1e-12


# ------------------------------------------------------------------- data
def synthetic_split(n_users, n_items, n_train, n_test, seed=0):
    """Seeded train/test Interactions: items with Zipf-like popularity, disjoint pairs."""
    import minigraphrec as mgr

    rng = np.random.default_rng(seed)
    weight = 1.0 / (np.arange(n_items) + 10.0) ** 0.8
    n = n_train + n_test
    users = rng.integers(0, n_users, 2 * n)
    items = rng.permutation(n_items)[rng.choice(n_items, 2 * n, p=weight / weight.sum())]
    keys = np.unique(users * n_items + items)[:n]             # distinct pairs
    keys = rng.permutation(keys)
    tr, te = keys[:n_train], keys[n_train:]
    train = mgr.Interactions(tr // n_items, tr % n_items, n_users=n_users, n_items=n_items)
    test = mgr.Interactions(te // n_items, te % n_items, n_users=n_users, n_items=n_items)
    return train, test


def load_split(folder):
    import minigraphrec as mgr

    return mgr.datasets.load_lightgcn(Path(folder) / "train.txt", Path(folder) / "test.txt")


class DotModel:
    """A fitted embedding model: ``score(users) = U[users] @ Iᵀ`` in float32."""

    def __init__(self, U, I, R):
        self.U, self.I, self.R_ = U, I, R              # (n_users, d), (n_items, d), CSR
        self.n_users_, self.n_items_ = R.shape

    def score(self, users):
        return self.U[users] @ self.I.T                # (len(users), n_items) float32


def pairs_csr(inter, shape):
    R = sp.csr_matrix((np.ones(len(inter)), (inter.users, inter.items)), shape=shape)
    R.sum_duplicates()
    R.data[:] = 1.0
    return R


# ------------------------------------------------- the plain NumPy evaluator
def numpy_evaluate(U, I, E, T, k, batch_size):
    r"""Every default metric at ``k`` with plain NumPy, as minigraphrec.metrics defines them.

    Scores ``U[users] @ Iᵀ`` (float32, made float64), training items set to
    ``-inf``; the top k from ``np.argpartition``, ordered by score then item
    id (ties toward the smaller id, the project's rule; a tie across the
    k-th place is settled by a full stable sort of that row); AUC from a full
    sort of the candidates: midranks of the test items, Mann–Whitney.
    """
    n_users, n_items = E.shape
    T = (T - T.multiply(E)).tocsr()                       # a test pair in train can't count
    T.eliminate_zeros()
    users = np.flatnonzero(np.diff(T.indptr) > 0)
    info = np.log2(n_users / np.maximum(np.bincount(E.indices, minlength=n_items), 1))
    disc = 1.0 / np.log2(np.arange(k) + 2.0)              # (k,)
    per_user = {m: [] for m in ("recall", "precision", "ndcg", "hit", "map", "mrr", "novelty")}
    aucs = []
    shown = np.zeros(n_items, dtype=bool)
    for start in range(0, users.size, batch_size):
        batch = users[start:start + batch_size]
        S = (U[batch] @ I.T).astype(np.float64)           # (b, n_items)
        Eb, Tb = E[batch], T[batch]
        S[np.repeat(np.arange(batch.size), np.diff(Eb.indptr)), Eb.indices] = -np.inf
        part = np.argpartition(-S, k - 1, axis=1)[:, :k]  # (b, k) the k largest, any order
        vals = np.take_along_axis(S, part, axis=1)
        order = np.lexsort((part, -vals), axis=1)         # score down, then item id up
        top = np.take_along_axis(part, order, axis=1)     # (b, k)
        kth = np.take_along_axis(vals, order, axis=1)[:, -1]
        for r in np.flatnonzero((S == kth[:, None]).sum(axis=1)
                                > (np.take_along_axis(S, top, axis=1) == kth[:, None]).sum(axis=1)):
            top[r] = np.argsort(-S[r], kind="stable")[:k]     # a tie across the k-th place
        top = np.where(np.isneginf(np.take_along_axis(S, top, axis=1)), -1, top)
        test_mask = Tb.toarray().astype(bool)             # (b, n_items)
        rel = np.take_along_axis(test_mask, np.maximum(top, 0), axis=1) & (top >= 0)
        n_test = test_mask.sum(axis=1)
        n_hit = rel.sum(axis=1)
        per_user["recall"].append(n_hit / n_test)
        per_user["precision"].append(n_hit / k)
        idcg = np.cumsum(disc)[np.minimum(n_test, k) - 1]
        per_user["ndcg"].append((rel * disc).sum(axis=1) / idcg)
        per_user["hit"].append((n_hit > 0).astype(float))
        prec = np.cumsum(rel, axis=1) / np.arange(1, k + 1)
        per_user["map"].append((rel * prec).sum(axis=1) / np.minimum(n_test, k))
        per_user["mrr"].append(np.where(n_hit > 0, 1.0 / (np.argmax(rel, axis=1) + 1.0), 0.0))
        valid = top >= 0
        per_user["novelty"].append(np.where(valid, info[np.maximum(top, 0)], 0.0).sum(axis=1)
                                   / np.maximum(valid.sum(axis=1), 1))
        shown[top[valid]] = True
        # AUC over the full ranking: candidates are the items not in train
        for r in range(batch.size):
            cand = np.ones(n_items, dtype=bool)
            cand[Eb.indices[Eb.indptr[r]:Eb.indptr[r + 1]]] = False
            srt = np.sort(S[r, cand])                     # ascending
            x = S[r, test_mask[r] & cand]                 # the test items' scores
            m, n_neg = x.size, srt.size - x.size
            if m == 0 or n_neg == 0:
                aucs.append(np.nan)
                continue
            midrank = (np.searchsorted(srt, x, "left") + np.searchsorted(srt, x, "right") + 1) / 2
            aucs.append((midrank.sum() - m * (m + 1) / 2) / (m * n_neg))
    result = {f"{m}@{k}": float(np.concatenate(v).mean()) for m, v in per_user.items()}
    aucs = np.array(aucs)
    result["auc"] = float(np.nanmean(aucs))
    result[f"coverage@{k}"] = float(shown.sum() / n_items)
    result["n_users"] = int(users.size)
    return result


# ------------------------------------------------------------------ helpers
def peak_extra_mb(f):
    """Peak memory above the start that ``f()`` allocates through NumPy/Python, in MB."""
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    f()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (peak - base) / 2**20


def max_difference(got, ref):
    keys = sorted(set(ref) - {"n_users"})
    missing = [key for key in keys if key not in got]
    if missing:
        raise KeyError(f"evaluate lacks {missing}")
    return max(abs(got[key] - ref[key]) for key in keys)


def main():
    parser = benchmark_parser(
        "evaluate() against the float32 scoring product and NumPy",
        smoke="a synthetic 600 x 3000 split instead of --data or the 20000 x 30000 one, 2 rounds",
        repeat_help="interleaved rounds of the timed evaluators; the median is reported "
                    "(the NumPy evaluator: --numpy-repeat)")
    parser.add_argument("--data", type=Path, default=None,
                        help="LightGCN-format folder (train.txt, test.txt), e.g. Gowalla; "
                             "default: synthetic data")
    parser.add_argument("--dim", type=int, default=64, help="embedding dimension (default 64)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="users per block (default: evaluate's own default)")
    parser.add_argument("--numpy-repeat", type=int, default=1,
                        help="runs of the slow NumPy evaluator (default 1)")
    parser.add_argument("--plot-only", nargs="?", const="eval_gowalla", metavar="NAME",
                        help="redraw <out>/NAME.png from NAME.json (default NAME "
                             "eval_gowalla); run nothing")
    args = parser.parse_args()
    if args.plot_only:
        return replot(read_record(args.out, args.plot_only), args.plot_only, args.out)
    if args.data is not None and not args.smoke:       # --smoke runs on its own data
        check_data(args.data, LIGHTGCN_FILES, "a LightGCN-format folder")

    import minigraphrec as mgr
    from minigraphrec.metrics import _EVAL_BLOCK_SCORES

    if args.smoke:
        train, test = synthetic_split(600, 3000, 12_000, 3_000)
        repeat, name, source = 2, "eval_smoke", "synthetic 600 x 3000 (smoke)"
    elif args.data is None:
        train, test = synthetic_split(20_000, 30_000, 600_000, 150_000)
        repeat, name, source = args.repeat, "eval_synthetic", "synthetic 20000 x 30000"
    else:
        train, test = load_split(args.data)
        repeat, name, source = args.repeat, f"eval_{args.data.name}", args.data.name
    n_users, n_items = train.n_users, train.n_items
    E = train.to_csr()
    T = pairs_csr(test, E.shape)
    rng = np.random.default_rng(0)
    scale = 1.0 / np.sqrt(args.dim)
    U = (scale * rng.standard_normal((n_users, args.dim))).astype(np.float32)
    I = (scale * rng.standard_normal((n_items, args.dim))).astype(np.float32)
    model = DotModel(U, I, E)
    batch = args.batch_size or max(1, _EVAL_BLOCK_SCORES // n_items)
    users = np.flatnonzero(np.diff(T.indptr) > 0)

    def product():
        for start in range(0, users.size, batch):
            S = None                                      # one block alive at a time
            S = U[users[start:start + batch]] @ I.T       # (b, n_items) float32
        return S

    U64, I64 = U.astype(np.float64), I.astype(np.float64)

    def product64():
        for start in range(0, users.size, batch):
            S = None
            S = U64[users[start:start + batch]] @ I64.T   # (b, n_items) float64
        return S

    mf = mgr.MF(dim=args.dim, random_state=0).fit(train, epochs=0)
    mf.user_embeddings_, mf.item_embeddings_ = U, I       # the same float32 embeddings
    mf_fresh = mgr.MF(dim=args.dim, random_state=0).fit(train, epochs=0)
    mf_fresh.user_embeddings_, mf_fresh.item_embeddings_ = U, I
    mf_fresh._scores_into = False                         # every block a fresh array
    mf_per_block = mgr.MF(dim=args.dim, random_state=0).fit(train, epochs=0)
    mf_per_block.user_embeddings_, mf_per_block.item_embeddings_ = U, I
    mf_per_block._scorer = lambda: mf_per_block._score_batch   # item table checked per block
    mf32 = mgr.MF(dim=args.dim, score_dtype="float32", random_state=0).fit(train, epochs=0)
    mf32.user_embeddings_, mf32.item_embeddings_ = U, I
    recall_ndcg = ["recall", "ndcg"]

    candidates = {
        "product": product,
        "evaluate recall+ndcg": lambda: mgr.evaluate(model, test, k=K, metrics=recall_ndcg,
                                                     batch_size=batch),
        "evaluate all": lambda: mgr.evaluate(model, test, k=K, batch_size=batch),
        "product float64": product64,
        "evaluate MF recall+ndcg": lambda: mgr.evaluate(mf, test, k=K, metrics=recall_ndcg,
                                                        batch_size=batch),
        "evaluate MF recall+ndcg, fresh blocks": lambda: mgr.evaluate(
            mf_fresh, test, k=K, metrics=recall_ndcg, batch_size=batch),
        "evaluate MF recall+ndcg, item table per block": lambda: mgr.evaluate(
            mf_per_block, test, k=K, metrics=recall_ndcg, batch_size=batch),
        "evaluate MF recall+ndcg, float32 scores": lambda: mgr.evaluate(
            mf32, test, k=K, metrics=recall_ndcg, batch_size=batch),
        "evaluate MF all, float32 scores": lambda: mgr.evaluate(mf32, test, k=K,
                                                                batch_size=batch),
    }
    floors = {"evaluate MF recall+ndcg": "product float64",
              "evaluate MF recall+ndcg, fresh blocks": "product float64",
              "evaluate MF recall+ndcg, item table per block": "product float64"}
    t0 = time.perf_counter()
    first = {"evaluate all": candidates["evaluate all"]()}       # compiles or loads the kernels
    compile_s = time.perf_counter() - t0
    load_before = os.getloadavg()[0]
    print(f"timing {len(candidates)} candidates, {repeat} interleaved rounds", flush=True)
    timed = interleaved_times(candidates, repeat, progress=True)
    load_after = os.getloadavg()[0]
    numpy_times = []
    for _ in range(max(1, args.numpy_repeat)):
        t0 = time.perf_counter()
        ref = numpy_evaluate(U, I, E, T, K, batch)
        numpy_times.append(time.perf_counter() - t0)
    timed["numpy evaluator"] = (float(np.median(numpy_times)), numpy_times)
    got_rn = candidates["evaluate recall+ndcg"]()
    diffs = {"evaluate recall+ndcg": max(abs(got_rn[key] - ref[key]) for key in got_rn
                                         if key != "n_users"),
             "evaluate all": max_difference(first["evaluate all"], ref),
             "numpy evaluator": 0.0}
    mf32_rn = candidates["evaluate MF recall+ndcg, float32 scores"]()
    diffs["evaluate MF recall+ndcg, float32 scores"] = max(
        abs(mf32_rn[key] - ref[key]) for key in mf32_rn if key != "n_users")
    diffs["evaluate MF all, float32 scores"] = max_difference(
        candidates["evaluate MF all, float32 scores"](), ref)
    mf_reused = candidates["evaluate MF recall+ndcg"]()
    mf_fresh_result = candidates["evaluate MF recall+ndcg, fresh blocks"]()
    if mf_reused != mf_fresh_result:
        raise SystemExit(f"MF's metrics differ with and without the reused block: "
                         f"{mf_reused} != {mf_fresh_result}")
    mf_per_block_result = candidates["evaluate MF recall+ndcg, item table per block"]()
    if mf_reused != mf_per_block_result:
        raise SystemExit(f"MF's metrics differ with the item table prepared once and per "
                         f"block: {mf_reused} != {mf_per_block_result}")
    memory = {name_: peak_extra_mb(f) for name_, f in candidates.items()}
    memory["numpy evaluator"] = peak_extra_mb(lambda: numpy_evaluate(U, I, E, T, K, batch)) \
        if args.smoke else float("nan")                          # slow: measured in smoke only

    rows = []
    for what, (median, times) in timed.items():
        target = TARGETS.get(what)
        reference = floors.get(what, "product")
        ratio = median / timed[reference][0]
        # the ratio within each round (same load), where the candidate ran in the rounds
        per_round = (float(np.median(np.array(times) / np.array(timed[reference][1])))
                     if len(times) == repeat else None)
        agree = diffs.get(what, 0.0 if what == "product" else float("nan"))
        mem = memory[what]
        met = None
        if target is not None:
            met = bool(ratio <= target and agree <= AGREEMENT_TOL and mem < MEMORY_TARGET_MB)
        rows.append({
            "what": what, "data": source, "users": int(users.size), "items": n_items,
            "dim": args.dim, "k": K, "block_users": batch,
            "seconds_median": median, "seconds_all": [round(t, 4) for t in times],
            "ratio_to": reference, "ratio_to_product": ratio, "median_ratio_per_round": per_round,
            "target_ratio": target,
            "max_abs_diff_vs_numpy": agree, "peak_extra_MB": mem, "targets_met": met,
        })
    timeout = os.environ.get("OPENBLAS_THREAD_TIMEOUT")
    spin = (f"OPENBLAS_THREAD_TIMEOUT={timeout}" if timeout else "OPENBLAS_THREAD_TIMEOUT unset "
            "(OpenBLAS's default: workers spin ~2^28 cycles after each call)")
    notes = (f"Round-robin medians of {repeat} runs (NumPy evaluator: {len(numpy_times)} run(s), "
             f"after the rounds). 1-min load average {load_before:.2f} before the rounds, "
             f"{load_after:.2f} after. ratio_to_product: ratio of the medians (the targets "
             f"are judged on it); median_ratio_per_round: median over rounds of the ratio "
             f"within a round; ratio_to names the product each is divided by (MF scores "
             f"in float64: its floor is the float64 product on the same embeddings; its "
             f"metrics are not compared with the float32 NumPy evaluator, but those of the "
             f"reused block, the fresh blocks and the item table per block were checked "
             f"equal; MF with score_dtype float32 scores in float32 like the NumPy "
             f"evaluator and is judged on the same targets). First evaluate call (kernel "
             f"compile or cache load) "
             f"{compile_s:.2f} s. Targets: recall+ndcg <= 1.5x product, all metrics <= 2.5x, "
             f"extra memory < 1 GB, |evaluate - NumPy| <= 1e-12 on every metric. "
             f"Peak extra memory by tracemalloc (NumPy buffers, not BLAS work space); the NumPy "
             f"evaluator's only in --smoke. {spin}. Metrics of the NumPy evaluator: "
             + ", ".join(f"{key} {value:.6g}" for key, value in ref.items()))
    json_path, md_path = write_results(
        name, rows, columns=["what", "seconds_median", "ratio_to", "ratio_to_product",
                             "median_ratio_per_round", "target_ratio",
                             "targets_met", "peak_extra_MB", "max_abs_diff_vs_numpy",
                             "block_users"],
        out_dir=args.out, notes=notes)
    for row in rows:
        # NaN in these two columns means "not compared" / "not measured": printed as n/a
        diff, mem = row["max_abs_diff_vs_numpy"], row["peak_extra_MB"]
        print(f"{row['what']:40s} {row['seconds_median']:8.3f} s  x{row['ratio_to_product']:.2f}"
              f"  diff {'n/a' if np.isnan(diff) else f'{diff:.1e}'}"
              f"  mem {'n/a' if np.isnan(mem) else f'{mem:.0f} MB'}  met {row['targets_met']}")
    print("wrote", json_path, md_path)
    plot_times(rows, name, args.out, f"{source}, {users.size} users x {n_items} items, "
                                     f"k = {K}, {repeat} rounds",
               record=json.loads(Path(json_path).read_text()))
    bad = [what for what, d in diffs.items() if d > AGREEMENT_TOL]
    if bad:
        raise SystemExit(f"evaluate disagrees with the NumPy evaluator beyond 1e-12: {bad}")


def replot(record, name, out_dir):
    """``plot_times`` on a results record, its title rebuilt from the rows (data, users,
    items, k; the rounds are the product's runs)."""
    rows = record["rows"]
    first = rows[0]
    rounds = len(next(r for r in rows if r["what"] == "product")["seconds_all"])
    return plot_times(rows, name, out_dir,
                      f"{first['data']}, {first['users']} users x {first['items']} items, "
                      f"k = {first['k']}, {rounds} rounds", record=record)


def plot_times(rows, name, out_dir, title, record=None):
    """``<name>.png``: every candidate's median seconds (log scale), float32 scoring in blue,
    float64 in grey, each labelled with its ratio to its own product; the targets as lines.
    ``record``, the results JSON drawn from, names the machine in a footer."""
    from minigraphrec import plot
    rows = rows[::-1]                                       # the first row on top
    fig, ax = plot.subplots(figsize=(8.8, 4.6))
    seconds = [r["seconds_median"] for r in rows]
    float64 = [r["ratio_to"] == "product float64" or r["what"] == "product float64"
               or (r["what"].startswith("evaluate MF") and "float32" not in r["what"])
               for r in rows]
    ax.barh(range(len(rows)), seconds, color=["0.6" if f else "tab:blue" for f in float64])
    for i, r in enumerate(rows):
        label = (f"{r['ratio_to_product']:.2f}x {r['ratio_to']}" if r["what"] != r["ratio_to"]
                 else "the floor")
        ax.text(r["seconds_median"] * 1.06, i, label, va="center", fontsize=8, zorder=3,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
    product = next(r["seconds_median"] for r in rows if r["what"] == "product")
    for ratio, style in ((1.5, "--"), (2.5, ":")):
        ax.axvline(ratio * product, color="tab:red", linestyle=style, linewidth=1,
                   label=f"{ratio:g}x the float32 product (target)")
    ax.set_yticks(range(len(rows)), [r["what"] for r in rows], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(min(seconds) / 1.5, max(seconds) * 4)
    ax.set_xlabel("seconds, median over rounds (log scale); blue: float32 scores, "
                  "grey: float64")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    save_figure(fig, name, out_dir, record=record)


if __name__ == "__main__":
    main()
