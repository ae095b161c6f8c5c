r"""Benchmark: next-item prediction with SR-GNN and the session baselines, and SR-GNN vs PyTorch.

Data (``--datasets``):

* ``ml100k``: the GroupLens MovieLens-100K folder (``--data DIR``, required
  unless ``--smoke`` or ``--datasets synthetic``), every rating an event; each user's events ordered by time
  (:func:`minigraphrec.sequences.user_sequences`), the last one held out
  (:func:`~minigraphrec.sequences.leave_last_out`): one test example per user, the whole
  earlier history as its prefix. A user never rates a film twice, so each prefix's own
  items are excluded from the ranking (``exclude_seen=True``).
* ``synthetic``: :func:`minigraphrec.datasets.synthetic_sessions` (sessions drifting
  through item communities, default size, data seed 0), split by time
  (:func:`~minigraphrec.sequences.split_sessions_by_time`, the latest 20 % of sessions as
  test, catalogue = training items); every prefix of every test session predicts its next
  item (the session papers' protocol), repeats allowed (``exclude_seen=False``).

Models: ``SessionPopularity``, ``MarkovChain``, ``SessionItemKNN`` (their defaults), and
``SRGNN`` with the paper's hyperparameters (d = 100, one gated step, hybrid readout, Adam
lr 0.001 x 0.1 every 3 epochs, L2 1e-5, batch 100) for ``--epochs`` epochs, sequences cut to
their last ``--max-len`` items; every training prefix is an example. Metrics
(:func:`~minigraphrec.sequences.evaluate_next_item`, full ranking): HR@20 (the papers' P@20),
MRR@20, NDCG@20; ``fit_s`` is the wall time of ``fit``.

With torch installed (``benchmarks/srgnn_torch.py``, a PyTorch SR-GNN of the same
architecture and parameter layout):

1. **gradients**: from the same float64 parameters, the first training batch's loss and
   every parameter's gradient of ``SRGNN.loss_and_grad`` against torch autograd, for the
   padded layout with graphs built session by session (the authors' way) and for the packed
   layout; the maximum relative error ``max|ours - torch| / max|torch|`` over the entries
   of each gradient must be below 1e-10 (asserted);
2. **speed**: one epoch of training steps (loss, gradients, Adam) of ours and of each torch
   layout, float32, from the same initial parameters over the same batches, interleaved
   batch by batch (the order alternates) so that the machine's load hits all alike; the
   ratio of the epoch totals and the median of per-batch ratios, with the thread counts;
3. **accuracy**: the torch model (padded layout) trained like ``SRGNN.fit`` (same initial
   parameters, same batch order, same learning-rate schedule) and evaluated alike.

    python benchmarks/bench_sequential.py --data DIR            # both data sets, every model
    python benchmarks/bench_sequential.py --data DIR --datasets ml100k --epochs 3 --max-len 20
    python benchmarks/bench_sequential.py --smoke --out /tmp/r  # what the tests run

``--plot-only NAME [STEM ...]`` redraws ``<out>/NAME.png`` from the rows of ``STEM.json``
for each STEM (default: ``NAME.json`` alone), joined in that order, and runs nothing. The
committed figures joined from several runs are redrawn so:

    python benchmarks/bench_sequential.py --plot-only sequential_layout \
        sequential_layout_maxlen20 sequential_layout_maxlen50
    python benchmarks/bench_sequential.py --plot-only sequential_ml100k_maxlen \
        sequential_ml100k_maxlen10 sequential_ml100k sequential_ml100k_maxlen50

The layout figure (message-step times) carries a footer naming the machine, threads and
date of its files (the first file's, when they all name the same CPU; none when they do
not); the accuracy figures carry none.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from _common import (ML100K_FILES, benchmark_parser, check_data, read_record, require_data,
                     save_figure, threads_text, use_threads, write_results)

TOL = 1e-10


def load(name, args):
    """``(train, test_prefixes, test_targets, exclude_seen, description)``."""
    from minigraphrec.datasets import load_movielens_100k, synthetic_sessions
    from minigraphrec.sequences import (leave_last_out, prefix_examples,
                                        split_sessions_by_time, user_sequences)
    if name == "ml100k":
        data = load_movielens_100k(args.data)
        train, prefixes, targets = leave_last_out(user_sequences(data))
        return (train, prefixes, targets, True,
                f"MovieLens-100K: {data.n_users} users, {data.n_items} items, {len(data)} "
                f"events; per-user time order, last event held out ({len(targets)} test "
                f"examples), seen items excluded")
    size = dict(n_sessions=200, n_items=50, n_communities=4) if args.smoke else {}
    sessions = synthetic_sessions(random_state=0, **size)
    train, test, stats = split_sessions_by_time(sessions, test_fraction=0.2)
    prefixes, targets = prefix_examples(test)
    return (train, prefixes, targets, False,
            f"synthetic_sessions({', '.join(f'{k}={v}' for k, v in size.items()) or 'defaults'}"
            f", random_state=0): {len(sessions)} sessions, {sessions.items.shape[0]} events; "
            f"split by time, latest 20% of sessions as test ({stats['n_train_sessions']} "
            f"train / {stats['n_test_sessions']} test sessions, {train.n_items} items, "
            f"{len(targets)} test prefixes), repeats allowed")


def accuracy_rows(name, train, prefixes, targets, exclude_seen, args):
    """Fit and evaluate every model; one row each."""
    import minigraphrec as mgr
    from minigraphrec.models.sequential import MarkovChain, SessionItemKNN, SessionPopularity
    from minigraphrec.sequences import evaluate_next_item
    models = [("SessionPopularity", SessionPopularity()), ("MarkovChain", MarkovChain()),
              ("SessionItemKNN", SessionItemKNN()),
              ("SRGNN", mgr.SRGNN(epochs=args.epochs, max_len=args.max_len,
                                  random_state=args.seed))]
    rows, fitted = [], {}
    for label, model in models:
        t0 = time.perf_counter()
        model.fit(train)
        fit_s = time.perf_counter() - t0
        m = evaluate_next_item(model, prefixes, targets, k=20, exclude_seen=exclude_seen)
        row = {"dataset": name, "model": label, "hit@20": m["hit@20"], "mrr@20": m["mrr@20"],
               "ndcg@20": m["ndcg@20"], "fit_s": fit_s, "n_examples": m["n_examples"]}
        if label == "SRGNN":
            row.update(epochs=args.epochs, max_len=args.max_len,
                       final_loss=model.history_[-1]["loss"] if model.history_ else None,
                       median_epoch_s=statistics.median(r["time"] for r in model.history_))
        rows.append(row)
        fitted[label] = model
        print(f"{name:9s} {label:18s} HR@20 {row['hit@20']:.4f}  MRR@20 {row['mrr@20']:.4f}  "
              f"NDCG@20 {row['ndcg@20']:.4f}  fit {fit_s:.1f} s", flush=True)
    return rows, fitted


def _replay(seed, n_examples, n_epochs, model):
    """The initial parameters and each epoch's example order of ``SRGNN.fit`` (seed ``seed``)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    params = model._init_params(rng)
    return params, [rng.permutation(n_examples) for _ in range(n_epochs)]


def gradient_check(name, train, args):
    """Float64 loss and gradients of the first batch, ours vs torch autograd (asserted)."""
    import numpy as np
    import minigraphrec as mgr
    from minigraphrec.sequences import prefix_examples
    from srgnn_torch import TorchSRGNN
    ours = mgr.SRGNN(dtype="float64", max_len=args.max_len, random_state=args.seed)
    ours.fit(train, epochs=0)
    prefixes, targets = prefix_examples(train, max_len=args.max_len)
    _, orders = _replay(args.seed, len(targets), 1, ours)
    idx = orders[0][:ours.batch_size]
    batch = mgr.SessionBatch(prefixes.subset(idx), targets[idx])
    loss, grads = ours.loss_and_grad(batch)
    rows = []
    for layout, fast in (("padded", False), ("packed", True)):
        ref = TorchSRGNN(ours.params, layout=layout, dtype="float64", fast_inputs=fast)
        t_loss, t_grads = ref.loss_and_grad(batch.sessions, batch.targets)
        errors = {k: float(np.abs(grads[k] - t_grads[k]).max() / np.abs(t_grads[k]).max())
                  for k in t_grads}
        worst = max(errors, key=errors.get)
        loss_err = abs(loss - t_loss) / abs(t_loss)
        row = {"dataset": name, "torch_layout": layout, "loss": loss, "torch_loss": t_loss,
               "loss_rel_err": loss_err, "max_grad_rel_err": errors[worst], "worst_param": worst,
               "grad_rel_err": errors}
        print(f"{name:9s} float64 check vs torch ({layout}): loss {loss:.12f} vs "
              f"{t_loss:.12f} (rel {loss_err:.1e}); max gradient rel. error "
              f"{errors[worst]:.1e} ({worst})", flush=True)
        assert loss_err < TOL and errors[worst] < TOL, row
        rows.append(row)
    return rows


def speed_epoch(name, train, args, threads):
    """One training epoch of ours and of torch (both layouts), interleaved batch by batch."""
    import minigraphrec as mgr
    from minigraphrec.optim import Adam
    from minigraphrec.sequences import prefix_examples
    from srgnn_torch import TorchSRGNN
    ours = mgr.SRGNN(max_len=args.max_len, random_state=args.seed).fit(train, epochs=0)
    prefixes, targets = prefix_examples(train, max_len=args.max_len)
    _, orders = _replay(args.seed, len(targets), 1, ours)
    optimizer = Adam(lr=ours.lr, weight_decay=ours.l2, backend=ours.backend)
    refs = {layout: TorchSRGNN(ours.params, layout=layout) for layout in ("padded", "packed")}
    optims = {layout: ref.optimizer(ours.lr, ours.l2) for layout, ref in refs.items()}

    def ours_step(batch):
        loss, grads = ours.loss_and_grad(batch)
        optimizer.step(ours.params, grads)
        return loss

    order = orders[0]
    epoch_batches = n_batches = -(-len(order) // ours.batch_size)
    if args.speed_batches:
        n_batches = min(n_batches, args.speed_batches)
    names = ["ours", "torch padded", "torch packed"]
    times = {k: [] for k in names}
    warm = 2                                       # first batches: numba compile, torch warm-up
    for i in range(n_batches + warm):
        j = i % n_batches
        idx = order[j * ours.batch_size:(j + 1) * ours.batch_size]
        batch = mgr.SessionBatch(prefixes.subset(idx), targets[idx])
        steps = [("ours", lambda: ours_step(batch)),
                 ("torch padded", lambda: refs["padded"].train_step(
                     optims["padded"], batch.sessions, batch.targets)),
                 ("torch packed", lambda: refs["packed"].train_step(
                     optims["packed"], batch.sessions, batch.targets))]
        for k, step in (steps if i % 2 == 0 else steps[::-1]):
            t0 = time.perf_counter()
            step()
            if i >= warm:
                times[k].append(time.perf_counter() - t0)
    load = os.getloadavg()[0]
    rows = []
    for ref in ("torch padded", "torch packed"):
        per_batch = [a / b for a, b in zip(times["ours"], times[ref])]
        row = {"dataset": name, "reference": ref, "n_batches": n_batches,
               "epoch_batches": epoch_batches,
               "ours_epoch_s": sum(times["ours"]), "torch_epoch_s": sum(times[ref]),
               "ratio_ours_over_torch": sum(times["ours"]) / sum(times[ref]),
               "median_batch_ratio": statistics.median(per_batch),
               "ours_median_batch_ms": 1e3 * statistics.median(times["ours"]),
               "torch_median_batch_ms": 1e3 * statistics.median(times[ref]),
               "max_len": args.max_len, "threads": threads, "load_1min_end": load}
        rows.append(row)
        print(f"{name:9s} epoch ({n_batches} batches): ours {row['ours_epoch_s']:.1f} s, "
              f"{ref} {row['torch_epoch_s']:.1f} s, ratio {row['ratio_ours_over_torch']:.3f} "
              f"(median per batch {row['median_batch_ratio']:.3f})", flush=True)
    return rows


def batches_text(row):
    """``982 batches (one epoch)``, or ``200 batches (about 20 % of an epoch of 982)`` when
    ``--speed-batches`` timed part of one; ``200 batches`` in rows that did not record the
    epoch's."""
    n, full = row["n_batches"], row.get("epoch_batches")
    if full is None:
        return f"{n} batches"
    if n >= full:
        return f"{n} batches (one epoch)"
    return f"{n} batches (about {100 * n / full:.0f} % of an epoch of {full})"


def layout_rows(name, train, args, n_batches=20, repeat=5):
    """Message passing of one step, forward and backward, in the packed sparse layout vs padded
    dense (the authors'), on the same training batches: the op alone, interleaved; per batch
    the fastest of ``repeat`` runs (ms-long calls on a loaded machine are often preempted)."""
    import numpy as np
    from minigraphrec.ops.session import (padded_adjacency, session_graphs,
                                          session_propagate_backward,
                                          session_propagate_forward)
    from minigraphrec.sequences import prefix_examples
    prefixes, targets = prefix_examples(train, max_len=args.max_len)
    order = np.random.default_rng(args.seed).permutation(len(targets))
    rng = np.random.default_rng(0)
    d, times, real, padded = 100, {"packed sparse": [], "padded dense": []}, 0, 0
    for b in range(min(n_batches, -(-len(order) // 100))):
        G = session_graphs(prefixes.subset(order[b * 100:(b + 1) * 100]), dtype=np.float32)
        D_in, D_out, nodes = padded_adjacency(G)
        N, (B, L) = G.node_items.shape[0], nodes.shape
        real, padded = real + N, padded + B * L
        X = rng.standard_normal((N, d)).astype(np.float32)
        Xp = np.zeros((B, L, d), dtype=np.float32)
        Xp[nodes >= 0] = X[nodes[nodes >= 0]]

        def packed():
            for A in (G.A_in, G.A_out):
                Y, c = session_propagate_forward(A, X)
                session_propagate_backward(c, Y)

        def dense():
            for A in (D_in, D_out):
                Y, c = session_propagate_forward(A, Xp)
                session_propagate_backward(c, Y)
        for _ in range(repeat):
            for k, f in (("packed sparse", packed), ("padded dense", dense)):
                t0 = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t0)
    # per batch, the fastest of the repeats (the run least disturbed by other processes)
    best = {k: [min(v[i:i + repeat]) for i in range(0, len(v), repeat)] for k, v in times.items()}
    row = {"dataset": name, "max_len": args.max_len, "n_batches": len(best["packed sparse"]),
           "real_node_fraction": real / padded,
           "packed_sparse_ms": 1e3 * statistics.fmean(best["packed sparse"]),
           "padded_dense_ms": 1e3 * statistics.fmean(best["padded dense"]),
           "ratio_packed_over_padded": sum(best["packed sparse"]) / sum(best["padded dense"])}
    print(f"{name:9s} message step (fwd+bwd, in and out, d {d}): packed sparse "
          f"{row['packed_sparse_ms']:.2f} ms, padded dense {row['padded_dense_ms']:.2f} ms per "
          f"batch (ratio {row['ratio_packed_over_padded']:.3f}); real nodes "
          f"{row['real_node_fraction']:.0%} of the padded rows", flush=True)
    return [row]


def torch_accuracy(name, train, prefixes, targets, exclude_seen, args):
    """The torch SR-GNN (padded) trained exactly as ``SRGNN.fit`` trains, then evaluated."""
    import minigraphrec as mgr
    from minigraphrec.sequences import evaluate_next_item, prefix_examples
    from srgnn_torch import TorchSRGNN
    ours = mgr.SRGNN(max_len=args.max_len, random_state=args.seed).fit(train, epochs=0)
    ex_prefixes, ex_targets = prefix_examples(train, max_len=args.max_len)
    params, orders = _replay(args.seed, len(ex_targets), args.epochs, ours)
    ref = TorchSRGNN(params, layout="padded")
    optimizer = ref.optimizer(ours.lr, ours.l2)
    t0 = time.perf_counter()
    for epoch, order in enumerate(orders, start=1):
        for group in optimizer.param_groups:
            group["lr"] = ours.lr * ours.lr_decay ** ((epoch - 1) // ours.lr_decay_every)
        for s in range(0, len(order), ours.batch_size):
            idx = order[s:s + ours.batch_size]
            ref.train_step(optimizer, ex_prefixes.subset(idx), ex_targets[idx])
    fit_s = time.perf_counter() - t0

    class _Cut:                                    # the same max_len cut as SRGNN.score_sessions
        def score_sessions(self, sessions):
            from minigraphrec.models.srgnn import _last_items
            if args.max_len is not None:
                sessions = _last_items(sessions, args.max_len)
            return ref.score_sessions(sessions)

    m = evaluate_next_item(_Cut(), prefixes, targets, k=20, exclude_seen=exclude_seen)
    row = {"dataset": name, "model": "SRGNN (PyTorch, padded)", "hit@20": m["hit@20"],
           "mrr@20": m["mrr@20"], "ndcg@20": m["ndcg@20"], "fit_s": fit_s,
           "n_examples": m["n_examples"], "epochs": args.epochs, "max_len": args.max_len}
    print(f"{name:9s} {'SRGNN (PyTorch)':18s} HR@20 {row['hit@20']:.4f}  MRR@20 "
          f"{row['mrr@20']:.4f}  NDCG@20 {row['ndcg@20']:.4f}  fit {fit_s:.1f} s", flush=True)
    return row


def footer_record(records):
    """The record whose machine, threads and date the layout figure's footer names: the first
    of ``records`` (the files whose rows are drawn), its ``threads`` (numba, BLAS as set by
    ``--threads``) as the measured ones; None (no footer) when the files name different CPUs."""
    cpus = {(r.get("machine") or {}).get("cpu") for r in records}
    if not records or len(cpus) > 1:
        print("no footer: the files were measured on different machines:",
              ", ".join(sorted(map(str, cpus))))
        return None
    first = records[0]
    set_to = first.get("threads") or {}
    machine = dict(first.get("machine") or {})
    if "measured_threads" not in machine and isinstance(set_to.get("numba"), int):
        blas = set_to.get("blas")
        machine["measured_threads"] = {"numba": set_to["numba"],
                                       "blas": {"BLAS": blas} if isinstance(blas, int) else {}}
    return {**first, "machine": machine}


def plot_sequential(rows, name, out_dir, record=None):
    """Model rows: HR@20 and MRR@20 per model (a bar per data set); rows of several runs may be
    joined (SR-GNN labelled by its ``max_len`` when they differ; a baseline met twice is drawn
    once). Layout rows (``--parts layout``): one message step's time, packed vs padded, with
    a footer naming the machine of ``record`` (:func:`footer_record`) when given. One PNG."""
    import numpy as np
    from minigraphrec import plot
    names = {"ml100k": "MovieLens-100K (last event of each user)",
             "synthetic": "synthetic sessions (every test prefix)"}
    if rows and "packed_sparse_ms" in rows[0]:
        rows = sorted(rows, key=lambda r: (r["dataset"], r["max_len"]))
        fig, ax = plot.subplots(figsize=(max(7.5, 1.8 * len(rows) + 2.5), 4.4))
        x = np.arange(len(rows))
        for j, (key, label, color) in enumerate((
                ("packed_sparse_ms", "packed block-diagonal sparse (ours)", "#4C72B0"),
                ("padded_dense_ms", "padded dense (the authors')", "#DD8452"))):
            ax.bar(x + (j - 0.5) * 0.38, [r[key] for r in rows], 0.38, color=color,
                   label=label)
        for xi, r in zip(x, rows):
            ax.annotate(f"{r['packed_sparse_ms']:.2f} vs {r['padded_dense_ms']:.2f} ms\n"
                        f"packed/padded {r['ratio_packed_over_padded']:.2f}",
                        (xi, max(r["packed_sparse_ms"], r["padded_dense_ms"])),
                        xytext=(0, 4), textcoords="offset points", ha="center", fontsize=8)
        ax.set_yscale("log")
        low = min(min(r["packed_sparse_ms"], r["padded_dense_ms"]) for r in rows)
        ax.set_ylim(10 ** np.floor(np.log10(low / 1.5)),       # a labelled decade below
                    max(max(r["packed_sparse_ms"], r["padded_dense_ms"]) for r in rows) * 6)
        ax.yaxis.set_minor_formatter("")                 # decades only: no crowded labels
        ax.set_xlim(-0.75, len(rows) - 0.25)
        ax.set_xticks(x)
        ax.set_xticklabels([f"{r['dataset']}, max_len {r['max_len']}\n(real nodes "
                            f"{r['real_node_fraction']:.0%} of padded)" for r in rows])
        ax.set_xlabel("training batches of 100 sequences (data set, last items kept)")
        ax.set_ylabel("ms per batch (log scale)")
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(axis="y", alpha=0.3)
        ax.set_title("one message step: A_in and A_out, forward + backward, d 100, float32,\n"
                     "per batch the fastest of 5 runs, mean over batches", fontsize=9)
        data = " and ".join(dict.fromkeys(names.get(r["dataset"], r["dataset"]).split(" (")[0]
                                          for r in rows))
        fig.suptitle(f"SR-GNN session graphs, packed vs padded, on {data}")
        return save_figure(fig, name, out_dir, record=record)

    several = len({r.get("max_len") for r in rows if r["model"] == "SRGNN"}) > 1

    def label(r):
        if r["model"] == "SRGNN" and several:
            return f"SRGNN\nmax_len {r['max_len']}"
        return (r["model"].replace(" (", "\n(").replace("Session", "Session\n", 1)
                .replace("MarkovChain", "Markov\nChain"))
    seen, kept = set(), []
    for r in rows:                                  # a baseline met in several runs: once
        key = (r["dataset"], label(r))
        if key not in seen:
            seen.add(key)
            kept.append(r)
    datasets = list(dict.fromkeys(r["dataset"] for r in kept))
    labels = list(dict.fromkeys(label(r) for r in kept))
    by = {(r["dataset"], label(r)): r for r in kept}
    wide = 1.9 * len(labels) + 1.5 + 0.6 * len(labels) * (len(datasets) - 1)
    fig, axes = plot.subplots(1, 2, figsize=(max(9.6, wide), 4.6))
    x = np.arange(len(labels))
    width = 0.8 / len(datasets)
    colors = ["#4C72B0", "#55A868", "#DD8452"]
    for ax, key, ylabel in ((axes[0], "hit@20", "HR@20 (the papers' P@20)"),
                            (axes[1], "mrr@20", "MRR@20")):
        for j, ds in enumerate(datasets):
            xs = x + (j - (len(datasets) - 1) / 2) * width
            vals = [by[(ds, lab)][key] if (ds, lab) in by else np.nan for lab in labels]
            ax.bar(xs, vals, width * 0.95, color=colors[j % len(colors)],
                   label=names.get(ds, ds))
            for xi, v in zip(xs, vals):
                if not np.isnan(v):
                    ax.annotate(f"{v:.3f}", (xi, v), xytext=(0, 2), textcoords="offset points",
                                ha="center", va="bottom", fontsize=7)
        ax.set_ylim(0, max(r[key] for r in kept) * 1.15)
        ax.set_xticks(x)
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_xlabel("model")
        ax.set_ylabel(f"test {ylabel}")
        ax.grid(axis="y", alpha=0.3)
    if len(datasets) > 1:
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center",
                   ncol=len(datasets), fontsize=8)
    epochs = sorted({r["epochs"] for r in kept if r.get("epochs")})
    data = " and ".join(names.get(ds, ds) if len(datasets) == 1
                        else names.get(ds, ds).split(" (")[0] for ds in datasets)
    fig.suptitle(f"Next-item prediction on {data}: full ranking, k = 20" + (
        f", SR-GNN {'/'.join(map(str, epochs))} epoch{'s' * (epochs != [1])}" if epochs
        else ""))
    return save_figure(fig, name, out_dir)


def main():
    parser = benchmark_parser(
        __doc__.splitlines()[0], repeat=False,
        smoke="the synthetic sessions only (200 sessions, 50 items), 1 epoch, 3 timed batches")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="the unpacked MovieLens-100K folder, ml-100k/ with u.data (required for --datasets ml100k, the default, but with --smoke)")
    parser.add_argument("--datasets", nargs="+", default=["ml100k", "synthetic"],
                        choices=["ml100k", "synthetic"],
                        help="ml100k (needs --data) and synthetic sessions (default both)")
    parser.add_argument("--epochs", type=int, default=4, help="SRGNN epochs (default 4)")
    parser.add_argument("--max-len", type=int, default=20,
                        help="SRGNN: keep the last MAX_LEN items of each sequence (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="SRGNN seed (init and batch order)")
    parser.add_argument("--threads", type=int, default=1,
                        help="numba, BLAS and torch threads alike (default 1)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference")
    parser.add_argument("--speed-batches", type=int, default=0,
                        help="time only the first N batches of the epoch (default 0: the whole "
                             "epoch; an ML-100K epoch at --max-len 20 has 982)")
    parser.add_argument("--torch-accuracy", action=argparse.BooleanOptionalAction, default=True,
                        help="also train and evaluate the torch SR-GNN (default yes)")
    parser.add_argument("--parts", nargs="+", default=["models", "torch", "layout"],
                        choices=["models", "torch", "layout"],
                        help="what to run: the models' accuracy, the torch comparison, the "
                             "packed vs padded message-passing timing (default all)")
    parser.add_argument("--name", default="sequential", help="results file stem")
    parser.add_argument("--plot-only", nargs="+", metavar=("NAME", "STEM"),
                        help="redraw <out>/NAME.png from the rows of <out>/STEM.json for each "
                             "STEM (default NAME.json), joined; run nothing")
    args = parser.parse_args()
    if args.plot_only:
        name, stems = args.plot_only[0], args.plot_only[1:] or args.plot_only[:1]
        records = [read_record(args.out, stem, "give --out the folder of earlier runs")
                   for stem in stems]
        rows = [row for record in records for row in record["rows"]]
        return plot_sequential(rows, name, args.out, record=footer_record(records))
    if "ml100k" in args.datasets:
        require_data(args, "the unpacked MovieLens-100K folder; or --datasets synthetic")
        if args.data is not None and not args.smoke:
            check_data(args.data, ML100K_FILES, "the unpacked MovieLens-100K folder")
    if args.smoke:
        args.epochs, args.datasets = 1, ["synthetic"]
        args.speed_batches = args.speed_batches or 3
    load_start = os.getloadavg()

    from srgnn_torch import torch_status
    has_torch, torch_msg = (False, "--no-torch") if args.no_torch else torch_status()
    with use_threads(args.threads, load_torch=has_torch) as threads:
        print(f"threads {threads_text(threads)}; torch: {torch_msg}", flush=True)
        _run(args, threads, has_torch, torch_msg, load_start)


def _run(args, threads, has_torch, torch_msg, load_start):
    """Measure what ``--parts`` asks, write the results and draw them; ``threads``: the
    counts in effect (:func:`_common.use_threads`), recorded."""
    rows, checks, speeds, layouts, descriptions = [], [], [], [], []
    for name in args.datasets:
        train, prefixes, targets, exclude_seen, desc = load(name, args)
        descriptions.append(desc)
        print(desc, flush=True)
        if "layout" in args.parts:
            layouts += layout_rows(name, train, args)
        if "models" in args.parts:
            acc, _ = accuracy_rows(name, train, prefixes, targets, exclude_seen, args)
            rows += acc
        if has_torch and "torch" in args.parts:
            checks += gradient_check(name, train, args)
            speeds += speed_epoch(name, train, args, threads)
            if args.torch_accuracy:
                rows.append(torch_accuracy(name, train, prefixes, targets, exclude_seen, args))

    load_end = os.getloadavg()
    notes = (
        f"{'; '.join(descriptions)}. SRGNN: the paper's hyperparameters (d 100, 1 step, "
        f"hybrid readout, Adam lr 0.001 x0.1 every 3 epochs, L2 1e-5, batch 100), "
        f"{args.epochs} epochs, "
        f"max_len {args.max_len}, seed {args.seed}, float32, every training prefix an "
        f"example; baselines at their defaults. Metrics: full ranking, HR@20 = the session "
        f"papers' P@20. Threads: {threads_text(threads)}. torch: {torch_msg}. Load average "
        f"(1, 5, 15 min) at "
        f"the start {load_start[0]:.2f}, {load_start[1]:.2f}, {load_start[2]:.2f}; at the end "
        f"{load_end[0]:.2f}, {load_end[1]:.2f}, {load_end[2]:.2f} (2 CPUs shared).")
    columns = ["dataset", "model", "hit@20", "mrr@20", "ndcg@20", "fit_s", "n_examples"]
    if not rows:                                   # no model was run: the layout table
        rows, columns = layouts, ["dataset", "max_len", "n_batches", "real_node_fraction",
                                  "packed_sparse_ms", "padded_dense_ms",
                                  "ratio_packed_over_padded"]
    stem = args.name + ("_smoke" if args.smoke else "")
    after = []                                     # the Markdown's sections after the table
    if checks:
        after.append(f"\nFloat64 loss and gradients of the first training batch vs PyTorch "
                     f"autograd (max over entries |ours - torch| / max |torch|; asserted < "
                     f"{TOL:g}):\n\n")
        for c in checks:
            after.append(f"- {c['dataset']}, torch {c['torch_layout']} layout: loss rel. error "
                         f"{c['loss_rel_err']:.1e}, max gradient rel. error "
                         f"{c['max_grad_rel_err']:.1e} ({c['worst_param']})\n")
    if layouts and rows is not layouts:
        after.append("\nOne message step (A_in and A_out, forward and backward, d 100, float32) "
                     "on 20 training batches, packed block-diagonal sparse vs padded dense, "
                     "mean over batches of the fastest of 5 interleaved runs:\n\n")
        for r in layouts:
            after.append(f"- {r['dataset']}, max_len {r['max_len']}: packed "
                         f"{r['packed_sparse_ms']:.2f} ms, padded {r['padded_dense_ms']:.2f} ms "
                         f"per batch (ratio {r['ratio_packed_over_padded']:.3f}); real nodes "
                         f"{r['real_node_fraction']:.0%} of the padded rows\n")
    if speeds:
        after.append("\nTraining steps (loss, gradients, Adam; float32) over one epoch, or its "
                     "first --speed-batches batches, interleaved batch by batch with the torch "
                     "SR-GNN, same initial parameters and batches:\n\n")
        for s in speeds:
            after.append(f"- {s['dataset']}, vs {s['reference']}: ours {s['ours_epoch_s']:.1f} s"
                         f", torch {s['torch_epoch_s']:.1f} s over {batches_text(s)}: "
                         f"ratio ours/torch {s['ratio_ours_over_torch']:.3f} (median per batch "
                         f"{s['median_batch_ratio']:.3f}); max_len {s['max_len']}, threads "
                         f"{threads_text(s['threads'])}, load {s['load_1min_end']:.1f} at the "
                         "end\n")
    json_path, md_path = write_results(
        stem, rows, columns, out_dir=args.out, notes=notes, md_after="".join(after),
        threads=threads,
        after_rows={"gradient_check_vs_torch": checks, "epoch_time_vs_torch": speeds,
                    "message_step_layouts": layouts,
                    "threads": threads, "args": {k: str(v) for k, v in vars(args).items()
                                                 if k not in ("data", "out")}})
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    plot_sequential(rows, stem, args.out,
                    record=footer_record([json.loads(json_path.read_text())]))


if __name__ == "__main__":
    main()
