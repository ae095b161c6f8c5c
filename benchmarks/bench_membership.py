r"""Benchmark: do the models reveal which (user, item) pairs trained them, and does forget remove it?

The article's §8 names privacy as an open problem; this script answers with
the standard measure, a membership-inference attack
(:func:`minigraphrec.privacy.membership_inference`: the score-threshold
attack of Yeom et al., CSF 2018, on single pairs; Zhang et al., CCS 2021,
attack whole users of a recommender).

Data: MovieLens-100K (``--data DIR``; every rating an implicit positive),
split per user at random 80/20 (``random_split``, seed ``--split-seed``,
default 2020), as ``bench_accuracy_ml100k.py`` and
``bench_baselines_ml100k.py`` split it. Models: Popularity, ItemKNN and EASE
with their defaults; MF and LightGCN with the LightGCN paper's settings as
those scripts train them (64 dims, LightGCN 3 layers, Adam lr 1e-3, batches
of 2048 BPR triples, reg 1e-4, ``--epochs`` epochs, default 300, seed
2020), on one thread (``mgr.threads(1)``).

1. **Members against held-out pairs.** Non-members: every test pair.
   Members: for each user, as many of their training pairs as they have
   test pairs, drawn at random (seed ``--seed``), so that both sets hold the
   same users in the same numbers and the attack cannot win by knowing who
   is in which set. For each model the AUC and the advantage (best
   threshold's TPR - FPR) of the ``"rank"`` signal (the item's mid-rank in
   the user's score row over the whole catalogue, 1 = top) and of the raw
   ``"score"``.
2. **Forgetting** (MF and LightGCN). A fixed random 2 % of the training
   pairs (``--forget-share``, seed ``--seed``; 1,592 pairs of 616 users on
   ML-100K) are forgotten with ``forget(interactions=F)``,
   once with the default ``method="retrain"`` (a fit from scratch without
   them: the exact answer) and once with ``method="fine_tune"`` (the
   approximation: ``update_epochs`` epochs on the touched users). Random
   pairs rather than every pair of a few users: the pair-level question
   (the one ``forget(interactions=...)`` answers), spread over most users
   like the held-out pairs, and enough of them that an AUC of ½ is pinned
   to about ±0.015 (two standard errors of the null: ``se_null``). For the
   model before, after the fine-tune and after the retrain: the AUC of the
   forgotten pairs against the held-out pairs, next to that of the kept
   members (the matched members of part 1 that are not in F).

``se_null`` is the standard error of the AUC when members and non-members
are alike (Mann and Whitney: ``sqrt((n + m + 1) / (12 n m))``): a row within
two of them from ½ shows no leak that these sample sizes can see. An AUC
below ½ leaks too (the attacker turns the test around).

    python benchmarks/bench_membership.py --data DIR
    python benchmarks/bench_membership.py --smoke --out /tmp/m    # < 30 s, synthetic
"""
from __future__ import annotations

import copy
import os
import time
from pathlib import Path

import numpy as np

from _common import (ML100K_FILES, benchmark_parser, ml100k_split, require_data, save_figure,
                     thread_counts, write_results)

MODELS = ("Popularity", "ItemKNN", "EASE", "MF", "LightGCN")
TRAINED = ("MF", "LightGCN")
DIM, N_LAYERS, LR, BATCH_SIZE, REG, MODEL_SEED = 64, 3, 1e-3, 2048, 1e-4, 2020


def load_split(args):
    """``(train, test, name)``: MovieLens-100K split 80/20 per user, or a small synthetic set."""
    return ml100k_split(args, 150, 120)


def make_model(name, epochs):
    import minigraphrec as mgr
    if name in TRAINED:
        common = dict(dim=DIM, lr=LR, batch_size=BATCH_SIZE, reg=REG, loss="bpr",
                      epochs=epochs, random_state=MODEL_SEED)
        return mgr.LightGCN(n_layers=N_LAYERS, **common) if name == "LightGCN" \
            else mgr.MF(**common)
    return getattr(mgr, name)()


def pairs_of(inter):
    """The distinct (user, item) pairs of an Interactions, (n, 2) int64, sorted."""
    return np.unique(np.stack([inter.users, inter.items], axis=1), axis=0)


def matched_members(train_pairs, test_pairs, rng):
    """For each user, as many of their training pairs as they have test pairs, at random.

    Both arrays sorted by user; returns (n_test, 2) sorted. DataError-free by
    construction when each user has at least as many training as test pairs (an 80/20
    split: ``ceil(0.2 n) <= n - ceil(0.2 n)`` for n >= 2)."""
    n_users = int(max(train_pairs[:, 0].max(), test_pairs[:, 0].max())) + 1
    want = np.bincount(test_pairs[:, 0], minlength=n_users)
    starts = np.searchsorted(train_pairs[:, 0], np.arange(n_users + 1))
    chosen = []
    for u in np.flatnonzero(want):
        own = np.arange(starts[u], starts[u + 1])
        if own.size < want[u]:
            raise SystemExit(f"user {u} has {own.size} training pairs but {want[u]} test pairs")
        chosen.append(rng.choice(own, size=want[u], replace=False))
    return train_pairs[np.sort(np.concatenate(chosen))]


def forget_set(train_pairs, share, rng):
    """A random ``share`` of the training pairs (at least one), sorted."""
    n = max(1, int(round(share * train_pairs.shape[0])))
    return train_pairs[np.sort(rng.choice(train_pairs.shape[0], size=n, replace=False))]


def without(pairs, drop):
    """The rows of ``pairs`` not in ``drop`` (both (n, 2))."""
    n = int(max(pairs[:, 1].max(), drop[:, 1].max())) + 1            # a key per pair
    return pairs[~np.isin(pairs[:, 0] * n + pairs[:, 1], drop[:, 0] * n + drop[:, 1])]


def null_se(n, m):
    """Standard error of the AUC of n against m exchangeable values (no leak)."""
    return float(np.sqrt((n + m + 1) / (12.0 * n * m)))


def attack_row(fitted, member_pairs, non_member_pairs, **labels):
    """One row: both signals' AUC and advantage, the counts and the null standard error;
    and the rank signal's ROC curve."""
    from minigraphrec.privacy import membership_inference
    rank = membership_inference(fitted, member_pairs, non_member_pairs, signal="rank")
    score = membership_inference(fitted, member_pairs, non_member_pairs, signal="score")
    row = {**labels, "n_members": rank.n_members, "n_non_members": rank.n_non_members,
           "auc_rank": rank.auc, "advantage_rank": rank.advantage,
           "auc_score": score.auc, "advantage_score": score.advantage,
           "se_null": null_se(rank.n_members, rank.n_non_members)}
    return row, rank.roc_curve()


def plot_membership(rows, rocs, name, out_dir, title, share):
    """``<name>.png``: the ROC curves of the rank attack, training against held-out pairs,
    per model (left); the forgotten and the kept pairs' AUC before and after forget (right)."""
    from minigraphrec import plot
    fig, (roc_ax, bar_ax) = plot.subplots(1, 2, figsize=(12.0, 5.0))
    for (model, (fpr, tpr)), colour in zip(rocs.items(), plot_colours()):
        auc = next(r["auc_rank"] for r in rows if r["model"] == model
                   and r["members"] == "training pairs (matched)")
        roc_ax.plot(fpr, tpr, color=colour, linewidth=1.4, label=f"{model} (AUC {auc:.3f})")
    roc_ax.plot([0, 1], [0, 1], color="0.4", linestyle="--", linewidth=1,
                label="chance (AUC 0.5)")
    roc_ax.set_xlim(0, 1)
    roc_ax.set_ylim(0, 1)
    roc_ax.set_aspect("equal")
    roc_ax.set_xlabel("false-positive rate\n(held-out pairs called members)")
    roc_ax.set_ylabel("true-positive rate\n(training pairs called members)")
    roc_ax.set_title("rank attack: training vs held-out pairs", fontsize=10)
    roc_ax.legend(fontsize=8, loc="lower right")
    roc_ax.grid(alpha=0.3)

    states = ["trained", "forget fine_tune", "forget retrain"]
    kinds = [("forgotten pairs", "tab:red"), ("kept training pairs (matched)", "tab:blue")]
    models = [m for m in TRAINED if any(r["model"] == m and r["state"] != "trained"
                                        for r in rows)]
    width = 0.8 / (len(states) * len(kinds))
    se = []
    for i, model in enumerate(models):
        for s, state in enumerate(states):
            for k, (kind, colour) in enumerate(kinds):
                r = next((r for r in rows if r["model"] == model and r["state"] == state
                          and r["members"] == kind), None)
                if r is None:
                    continue
                x = i - 0.4 + (s * len(kinds) + k + 0.5) * width
                bar_ax.bar(x, r["auc_rank"], width, color=colour,
                           alpha=(0.45, 0.7, 1.0)[s],
                           label=f"{kind}" if (i, s) == (0, 0) else None)
                bar_ax.text(x, r["auc_rank"] + 0.01, f"{r['auc_rank']:.3f}", ha="center",
                            va="bottom", fontsize=6.5, rotation=90)
                if kind == "forgotten pairs":
                    se.append(r["se_null"])
        for s, state in enumerate(states):
            x = i - 0.4 + (s + 0.5) * len(kinds) * width
            bar_ax.text(x, -0.02, state.replace("forget ", "forget\n"), ha="center",
                        va="top", fontsize=7, transform=bar_ax.get_xaxis_transform())
    bar_ax.axhline(0.5, color="0.3", linestyle="--", linewidth=1, label="chance (AUC 0.5)")
    if se:
        band = 2 * max(se)
        bar_ax.axhspan(0.5 - band, 0.5 + band, color="0.75", alpha=0.5, zorder=0,
                       label="±2 null SE (forgotten vs held-out)")
    bar_ax.set_xticks(range(len(models)), [f"\n\n{m}" for m in models])
    bar_ax.set_ylim(0, 1.12)
    bar_ax.set_ylabel("AUC against the held-out pairs (rank signal)")
    bar_ax.set_title(f"forgetting a random {share:.0%} of the training pairs", fontsize=10)
    bar_ax.legend(fontsize=7.5, loc="upper right")
    bar_ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"membership inference on {title}", fontsize=11)
    return save_figure(fig, name, out_dir)


def plot_colours():
    return ["tab:gray", "tab:green", "tab:purple", "tab:orange", "tab:blue"]


def fine_tune_epochs_text(mgr):
    """``5 epochs`` (MF and LightGCN alike), or each model's ``update_epochs`` where they
    differ: the epochs ``forget(method="fine_tune")`` runs when not told."""
    epochs = {name: getattr(mgr, name).update_epochs for name in ("MF", "LightGCN")}
    if len(set(epochs.values())) == 1:
        return f"{next(iter(epochs.values()))} epochs"
    return ", ".join(f"{name} {n} epochs" for name, n in epochs.items())


def main():
    parser = benchmark_parser(
        "membership inference (training vs held-out pairs) and forgetting", repeat=False,
        smoke="a synthetic 150 x 120 set instead of ML-100K, 10 epochs")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="the unpacked MovieLens-100K folder (u.data, u.user, u.item; "
                             "required but with --smoke)")
    parser.add_argument("--epochs", type=int, default=300,
                        help="epochs of MF and LightGCN, and of their retrain (default 300)")
    parser.add_argument("--split-seed", type=int, default=2020,
                        help="seed of the 80/20 split (default 2020)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the matched members and of the forgotten pairs "
                             "(default 0)")
    parser.add_argument("--forget-share", type=float, default=0.02,
                        help="share of the training pairs forgotten (default 0.02)")
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated, from {', '.join(MODELS)} (default all)")
    args = parser.parse_args()
    names = args.models.split(",")
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        parser.error(f"--models: unknown {', '.join(map(repr, unknown))}; choose from "
                     f"{', '.join(MODELS)}")
    if not 0 < args.forget_share < 1:
        parser.error(f"--forget-share: {args.forget_share} is not between 0 and 1")
    require_data(args, "the unpacked MovieLens-100K folder", files=ML100K_FILES)
    if args.smoke:
        args.epochs = 10

    import minigraphrec as mgr

    load0 = os.getloadavg()
    started = time.perf_counter()
    rows, rocs = [], {}
    with mgr.threads(1):
        measured_threads = thread_counts()          # recorded: the block ends before writing
        train, test, data_name = load_split(args)
        train_pairs, test_pairs = pairs_of(train), pairs_of(test)
        rng = np.random.default_rng(args.seed)
        members = matched_members(train_pairs, test_pairs, rng)
        forgotten = forget_set(train_pairs, args.forget_share, rng)
        kept = without(members, forgotten)
        print(f"{data_name}: {len(train_pairs)} training pairs, {len(test_pairs)} held out; "
              f"{len(members)} matched members; {len(forgotten)} pairs to forget", flush=True)
        for name in names:
            t0 = time.perf_counter()
            model = make_model(name, args.epochs).fit(train)
            fit_s = time.perf_counter() - t0
            row, rocs[name] = attack_row(model, members, test_pairs, model=name,
                                         state="trained", members="training pairs (matched)",
                                         seconds=fit_s)
            rows.append(row)
            print(row, flush=True)
            if name not in TRAINED:
                continue
            states = [("trained", model, 0.0)]
            for method in ("fine_tune", "retrain"):
                m = copy.deepcopy(model)
                t0 = time.perf_counter()
                m.forget(interactions=forgotten, method=method)
                states.append((f"forget {method}", m, time.perf_counter() - t0))
            for state, m, seconds in states:
                for what, pairs in (("forgotten pairs", forgotten),
                                    ("kept training pairs (matched)", kept)):
                    row, _ = attack_row(m, pairs, test_pairs, model=name, state=state,
                                        members=what, seconds=seconds)
                    rows.append(row)
                    print(row, flush=True)
    wall = time.perf_counter() - started
    load1 = os.getloadavg()
    n_users_f = len(np.unique(forgotten[:, 0]))
    notes = (
        f"Data: {data_name}, {train.n_users} users x {train.n_items} items, "
        f"{len(train_pairs)} training / {len(test_pairs)} held-out pairs (per-user random "
        f"80/20 split, seed {args.split_seed}). Non-members: every held-out pair. 'training "
        f"pairs (matched)': per user as many random training pairs as the user has held out "
        f"(seed {args.seed}), {len(members)} in all. Signals: rank = the item's mid-rank "
        f"among all catalogue items in the user's score row (1 = top, the user's training "
        f"items included); score = the raw score. AUC: P(a member's signal > a held-out "
        f"pair's), ties 1/2; advantage: max over thresholds of TPR - FPR (Yeom et al. 2018). "
        f"se_null = sqrt((n + m + 1) / (12 n m)), the AUC's standard error when the two sets "
        f"are alike. Models: Popularity, ItemKNN, EASE with defaults; MF and LightGCN "
        f"{DIM} dims (LightGCN {N_LAYERS} layers), Adam lr {LR}, batch {BATCH_SIZE}, reg "
        f"{REG}, BPR, {args.epochs} epochs, seed {MODEL_SEED}. Forgetting: "
        f"{len(forgotten)} random training pairs ({args.forget_share:.0%}, seed {args.seed}; "
        f"{n_users_f} users) by forget(interactions=F): 'forget retrain' = method='retrain' "
        f"(a fit from scratch without F, the exact answer), 'forget fine_tune' = "
        f"method='fine_tune' ({fine_tune_epochs_text(mgr)} on the touched users); "
        f"'trained' = before forgetting. 'kept training pairs (matched)': the matched members "
        f"not in F ({len(kept)}). seconds: the fit (state 'trained') or the forget call. One "
        f"thread (mgr.threads(1)). Wall time {wall:.0f} s; load average (1, 5, 15 min) "
        f"{load0[0]:.2f}, {load0[1]:.2f}, {load0[2]:.2f} at the start, {load1[0]:.2f}, "
        f"{load1[1]:.2f}, {load1[2]:.2f} at the end (2 cores shared with other jobs; "
        f"the AUCs do not depend on it).")
    if args.smoke:
        notes = "SMOKE RUN on synthetic data, not a result. " + notes
    stem = "membership_smoke" if args.smoke else "membership_ml100k"
    columns = ["model", "state", "members", "n_members", "n_non_members", "auc_rank",
               "advantage_rank", "auc_score", "advantage_score", "se_null", "seconds"]
    for path in write_results(stem, rows, columns, out_dir=args.out, notes=notes,
                              threads=measured_threads):
        print("wrote", path)
    plot_membership(rows, rocs, stem, args.out,
                    f"{data_name}" + (" (SMOKE RUN, synthetic)" if args.smoke else
                                      f", {args.epochs} epochs for MF and LightGCN"),
                    args.forget_share)


if __name__ == "__main__":
    main()
