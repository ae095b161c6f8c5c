r"""Benchmark: real-time updates and unlearning of the trained embedding models (issue 11 §2, §3).

Three measurements, one script:

1. **Day-by-day fold-in against a full retrain** (MovieLens-100K, ``--data``).
   The events sorted by time; the earlier 90 % (``1 - --tail``) train the first
   model (compact ids: only the users and items seen so far). The later 10 %
   are cut into days (24 h from the first of them). At step ``t`` the day
   ``t`` events join

   * the *fold-in* model by ``partial_fit(day_t, epochs=--update-epochs)``
     (the graph and its normalisation updated, new rows from their
     neighbours, a few epochs over the touched users only), carried on from
     step to step;
   * the *retrain* model, fitted from scratch (same hyperparameters, same
     seed, ``--epochs`` / ``--mf-epochs``) on everything up to day ``t``, in
     the fold-in's id order.

   Every model runs the same steps (``--days``, default every day that has a
   later day) on the same events, so at each step both models of both kinds
   know the same users and are tested on the same users. Two test sets per
   step (users and items the model knows; training items excluded):
   *every later event* of the tail (the headline: each user with a later
   event is tested at every step until their last event, about 85 users a
   step on ML-100K at first), and the *next day*'s events alone (MovieLens
   users rate in a burst after signing up, so most of a day's events come
   from users the model has never seen: 5 to 15 users a step). Recall@20 per
   user, averaged over the steps that tested the user, then over users; the
   comparison is the paired difference (fold-in minus retrain) by user, with
   its standard error over users, "resolved" when it exceeds two standard
   errors. Times are the wall times of ``partial_fit`` and of the retrain's
   ``fit``. Target (issue 11): the fold-in's Recall@20 within 5 % of the
   retrain's, at a small fraction of its time.

2. **Unlearning** (MovieLens-100K): a model trained on the earlier
   ``1 - --tail`` of the events (90 % by default, the fold-in's first model)
   forgets ``--forget-items`` training items of each of ``--forget-users``
   users (chosen with NumPy's ``default_rng(1)``; the models use seed 0) with
   ``forget(interactions=..., method="fine_tune")``. Residual influence: the
   forgotten items' rank for their user (1 = top, among the items outside the
   user's remaining history, the same fixed set in every state: the user's
   other forgotten items compete in all three) in the model before, after the
   fine-tune, and in a model retrained from scratch on what remains
   (``forget(method="retrain")``, the exact oracle). As a control, the same
   ranks for as many of those users' kept training items.

3. **Latency of ``recommend_history``** on Gowalla (``--gowalla``): one call
   for the training history of each of five training users (seeded choice),
   passed as a new user's history (no held-out user), LightGCN (propagation of the new row) and
   MF (fold-in), against ``recommend`` of the same training user in the same
   rounds (interleaved, medians). The parameters are those of
   ``fit(train, epochs=0)``: the cost does not depend on their values.

Sized for a budget of under about 15 minutes on a 2-core machine shared with
other jobs (the budget is in the result notes; the recorded fold-in part alone,
``--parts foldin``, took 537 s: ``results/realtime_ml100k.md``, Intel Xeon,
2026-12-07, 1-minute load 0.49 at the start and 4.15 at the end; no run of all
three parts at this budget is recorded): all 22 day steps of ML-100K's later
10 % for both models, LightGCN 60 epochs and 3 layers per full fit, MF 15
epochs (in an ad-hoc pilot of 2026-12-07, not recorded in ``results/``, the
first model's Recall@20 on every later event: LightGCN 0.134 with the earlier
budget of 15 epochs and 2 layers, 0.138 at 40 epochs and 3 layers, 0.177 at 60
and at 80; MF 0.161 at 15 epochs, 0.158 at 40, 0.157 at 80), ``dim=32``,
batches of 2048, lr 0.01; numba
and BLAS run on one thread (``mgr.threads(1)``), which is faster than two when
the cores are shared. ``--parts`` runs a subset of the three measurements.

    python benchmarks/bench_realtime.py --data DIR \
        --gowalla GOWALLA_DIR
    python benchmarks/bench_realtime.py --data DIR --parts foldin   # the fold-in alone
    python benchmarks/bench_realtime.py --smoke --out /tmp/r       # < 20 s, synthetic
"""
from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

import numpy as np

from _common import (ML100K_FILES, benchmark_parser, check_data, interleaved_times,
                     require_data, save_figure, thread_counts, write_results)

K = 20
TARGET = 0.05                        # fold-in Recall@20 within 5 % (relative) of the retrain's
DAY = 86400.0


# ------------------------------------------------------------------- data
def load_events(args):
    """(events Interactions: binary, raw ids, timestamps; name)."""
    import minigraphrec as mgr
    if args.smoke:
        d = mgr.datasets.synthetic(n_users=150, n_items=200, mean_interactions=12,
                                   random_state=0)
        span = d.timestamps.max() - d.timestamps.min()
        ts = (d.timestamps - d.timestamps.min()) / span * 40 * DAY     # 40 days of events
        name = "synthetic-150x200"
    else:
        d = mgr.datasets.load_movielens_100k(args.data)
        ts, name = d.timestamps, "DATA/" + Path(args.data).name
    return mgr.Interactions(d.users, d.items, n_users=d.n_users, n_items=d.n_items,
                            timestamps=ts, user_ids=d.user_ids, item_ids=d.item_ids), name


def compact(events, rows):
    """The events ``rows`` as Interactions over only the users and items they hold (raw ids kept)."""
    import minigraphrec as mgr
    users, items = events.users[rows], events.items[rows]
    u, u_inv = np.unique(users, return_inverse=True)
    i, i_inv = np.unique(items, return_inverse=True)
    return mgr.Interactions(u_inv, i_inv, user_ids=events.user_ids[u],
                            item_ids=events.item_ids[i], timestamps=events.timestamps[rows])


def in_model_space(model, part):
    """``part`` (raw ids) aligned to the model's ids; unknown users or items dropped."""
    return part.align(model.user_ids_, model.item_ids_, on_unknown="drop", source="day")


def user_recalls(model, test):
    """``{user: Recall@20}`` on ``test`` (model ids): the share of the user's test items in
    ``recommend(user, 20)`` (training items excluded), as ``mgr.evaluate`` counts it."""
    if len(test) == 0:
        return {}
    T = test.to_csr()
    T = (T - T.multiply(model.R_)).tocsr()                # a training pair cannot be hit
    T.eliminate_zeros()
    users = np.flatnonzero(np.diff(T.indptr) > 0)
    if users.size == 0:
        return {}
    top, _ = model.recommend(users, k=K)
    return {int(u): float(np.isin(T[u].indices, top[r]).sum() / T[u].nnz)
            for r, u in enumerate(users)}


def epochs_of(name, args):
    """Epochs of a full fit of ``name``: ``--epochs`` for LightGCN, ``--mf-epochs`` for MF."""
    return args.epochs if name == "LightGCN" else args.mf_epochs


def make_model(name, args, seed=0):
    import minigraphrec as mgr
    common = dict(dim=args.dim, lr=args.lr, batch_size=args.batch_size, reg=1e-4,
                  epochs=epochs_of(name, args), random_state=seed)
    if name == "LightGCN":
        return mgr.LightGCN(n_layers=args.layers, **common)
    return mgr.MF(**common)


# -------------------------------------------------------------- 1. fold-in
#: the two test sets of a step ``t``: every later event of the tail (the headline: every user
#: the model knows who has a later event is tested) and the next day's events alone
TESTS = (("later", "every later event"), ("next", "next day"))


def later_days(events, tail):
    """``(order, cut, day_of, days)``: the events in time order (stable), the index where the
    later ``tail`` share begins, the day (from its first event, 24 h) of each later event, and
    the days that hold one."""
    t = events.timestamps
    order = np.argsort(t, kind="stable")
    cut = int(round((1 - tail) * len(events)))
    if not 0 < cut < len(events):
        raise ValueError(f"--tail {tail}: leaves no training or no later event "
                         f"({len(events)} events)")
    day_of = np.floor((t[order[cut:]] - t[order[cut]]) / DAY).astype(int)
    return order, cut, day_of, np.unique(day_of)


def step_count(days, args):
    """Steps of the run, the same for every model: ``--days`` (default: every day of the tail
    that has a later day), at most ``len(days) - 1``."""
    n = len(days) - 1
    return n if args.days is None else min(args.days, n)


def paired_by_user(per_step):
    """The paired comparison of ``{step: {"fold-in": {user: recall}, "retrain": {...}}}``, paired
    by user: each user's fold-in and retrain recall averaged over the steps that tested them
    (the same steps for both: the two models know the same users), then over users. Returns
    ``(users, user_steps, fold, retrain, diff, se)``: ``diff`` the mean over users of (fold-in
    minus retrain), ``se`` its standard error (sample standard deviation over users /
    sqrt(users)); a user tested at many steps counts once, so the steps' correlation does not
    shrink it."""
    fold, retrain = {}, {}
    user_steps = 0
    for r in per_step.values():
        assert r["fold-in"].keys() == r["retrain"].keys()
        user_steps += len(r["fold-in"])
        for u in r["fold-in"]:
            fold.setdefault(u, []).append(r["fold-in"][u])
            retrain.setdefault(u, []).append(r["retrain"][u])
    users = sorted(fold)
    f = np.array([np.mean(fold[u]) for u in users])
    g = np.array([np.mean(retrain[u]) for u in users])
    d = f - g
    se = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan")
    mean = (lambda x: float(x.mean()) if x.size else float("nan"))
    return len(users), user_steps, mean(f), mean(g), mean(d), se


def foldin_vs_retrain(events, model_name, args):
    import minigraphrec as mgr
    order, cut, day_of, days = later_days(events, args.tail)
    n_steps = step_count(days, args)
    base = compact(events, order[:cut])
    start = time.perf_counter()
    fold = make_model(model_name, args).fit(base)
    first_fit = time.perf_counter() - start
    steps = []
    per_step = {key: {} for key, _ in TESTS}             # test -> step -> what -> {user: recall}
    for s in range(n_steps):
        today = events.subset(order[cut:][day_of == days[s]])
        tests = {"next": events.subset(order[cut:][day_of == days[s + 1]]),
                 "later": events.subset(order[cut:][day_of > days[s]])}
        start = time.perf_counter()
        fold.partial_fit(today, epochs=args.update_epochs)
        t_fold = time.perf_counter() - start
        data = fold._training_interactions()                  # everything so far, fold's ids
        start = time.perf_counter()
        retrain = make_model(model_name, args).fit(data)
        t_retrain = time.perf_counter() - start
        row = {"model": model_name, "step": s + 1, "day": int(days[s]),
               "new_events": len(today), "users": fold.n_users_, "items": fold.n_items_,
               "seconds_partial_fit": t_fold, "seconds_retrain": t_retrain}
        for key, _ in TESTS:
            recalls = {what: user_recalls(m, in_model_space(m, tests[key]))
                       for what, m in (("fold-in", fold), ("retrain", retrain))}
            assert recalls["fold-in"].keys() == recalls["retrain"].keys()     # same id space
            if recalls["fold-in"]:                        # the same numbers as mgr.evaluate
                ref = mgr.evaluate(fold, in_model_space(fold, tests[key]), k=K,
                                   metrics=["recall"])
                assert ref["n_users"] == len(recalls["fold-in"])
                assert abs(ref[f"recall@{K}"]
                           - np.mean(list(recalls["fold-in"].values()))) < 1e-12
            per_step[key][s] = recalls
            n = len(recalls["fold-in"])
            row[f"test_users {key}"] = n
            for what, r in recalls.items():
                row[f"recall@{K} {what} {key}"] = (float(np.mean(list(r.values()))) if n
                                                   else float("nan"))
        steps.append(row)
        print(f"{model_name} step {s + 1}/{n_steps}: +{len(today)} events, partial_fit "
              f"{t_fold:.2f} s, retrain {t_retrain:.2f} s; R@20 fold-in/retrain: later "
              f"{row[f'recall@{K} fold-in later']:.4f}/{row[f'recall@{K} retrain later']:.4f} "
              f"({row['test_users later']} users), next day "
              f"{row[f'recall@{K} fold-in next']:.4f}/{row[f'recall@{K} retrain next']:.4f} "
              f"({row['test_users next']} users)", flush=True)
    t_fold = float(np.sum([r["seconds_partial_fit"] for r in steps]))
    t_retrain = float(np.sum([r["seconds_retrain"] for r in steps]))
    summaries = []
    for key, label in TESTS:
        users, user_steps, r_fold, r_retrain, diff, se = paired_by_user(per_step[key])
        summaries.append({
            "model": model_name, "test": label, "step": "all",
            "steps": n_steps, "new_events": int(sum(r["new_events"] for r in steps)),
            "test_users": users, "user_steps": user_steps,
            f"recall@{K} fold-in": r_fold, f"recall@{K} retrain": r_retrain,
            "relative_gap": (r_retrain - r_fold) / r_retrain if r_retrain else float("nan"),
            "paired_diff": diff, "paired_diff_se": se,
            "resolved": resolved(diff, se),
            "users_to_resolve": users_needed(users, diff, se),
            "seconds_partial_fit": t_fold, "seconds_retrain": t_retrain,
            "time_ratio": t_fold / t_retrain, "first_fit_seconds": first_fit,
            "target_met": target_verdict(r_fold, r_retrain, se)})
    return steps, summaries


def testable_users(events, tail):
    """``(steps, users)`` of a run over the later ``tail`` share with every step: the steps
    (days that have a later day) and the distinct users the 'every later event' test would
    evaluate (known at a step, with an event after it), counted from the data alone."""
    order, cut, day_of, days = later_days(events, tail)
    users = events.users[order]
    known = set(users[:cut].tolist())
    later_users = users[cut:]
    tested = set()
    for s in range(len(days) - 1):
        known |= set(later_users[day_of == days[s]].tolist())
        tested |= set(later_users[day_of > days[s]].tolist()) & known
    return len(days) - 1, len(tested)


def resolved(diff, se):
    """``"yes"`` when the paired difference is more than two standard errors from 0."""
    return "yes" if np.isfinite(se) and abs(diff) > 2 * se else "no"


def users_needed(users, diff, se):
    """Test users (paired by user, at this run's spread per user) for ``|diff|`` to reach
    two standard errors: ``users * (2 se / diff)^2``, the standard error falling as
    1/sqrt(users); None where the difference is 0 or the standard error unknown."""
    if not np.isfinite(se) or diff == 0:
        return None
    return int(np.ceil(users * (2 * se / diff) ** 2))


def target_verdict(r_fold, r_retrain, se):
    """Is the fold-in within ``TARGET`` (relative) of the retrain, as far as the test users
    can tell? ``"yes"`` when the gap ``r_retrain - r_fold`` plus two standard errors ``se`` of
    the paired difference is within ``TARGET * r_retrain``; ``"no"`` when the gap minus two
    standard errors is beyond it; otherwise ``"not resolvable"``: the standard error is too
    large for the test to decide."""
    if not r_retrain or not np.isfinite(se):
        return "not resolvable"
    gap, bound = r_retrain - r_fold, TARGET * r_retrain
    if gap + 2 * se <= bound:
        return "yes"
    if gap - 2 * se > bound:
        return "no"
    return "not resolvable"


# ------------------------------------------------------------ 2. unlearning
def ranks_of(model, users, items, history):
    """Rank (1 = best) of ``items[k]`` for ``users[k]`` among the items outside the user's
    row of ``history`` (the item itself excepted).

    ``history`` is the same fixed set for every model compared (the remaining history: the
    training pairs minus the forgotten ones), not each model's own ``R_``: before forgetting,
    ``R_`` still holds a user's other forgotten items, which would be hidden from the ranking
    there and compete with it after the forget, so the before and after ranks would count
    different items.

    Parameters
    ----------
    model : fitted model with ``score(users)`` of shape ``(n, n_items)``
    users, items : (n,) int arrays, the pairs ranked
    history : (n_users, n_items) scipy.sparse.csr_matrix, the items excluded per user
    """
    S = model.score(users)                                               # (n, n_items)
    if S.shape[1] != history.shape[1]:
        raise ValueError(f"ranks_of: the model scores {S.shape[1]} items, the history has "
                         f"{history.shape[1]}")
    out = np.empty(users.shape[0])
    for r, (u, i) in enumerate(zip(users, items)):
        s = S[r].copy()
        seen = history[u].indices
        s[seen[seen != i]] = -np.inf
        out[r] = 1 + np.sum(s > s[i])
    return out


def remaining_history(R, pairs):
    """``R`` (n_users, n_items) CSR without the ``(user, item)`` rows of ``pairs`` (m, 2): the
    training pairs a forget keeps, the one exclusion set of every state compared."""
    import scipy.sparse as sp
    drop = sp.csr_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=R.shape)
    kept = (R - R.multiply(drop)).tocsr()
    kept.eliminate_zeros()
    return kept


def unlearning(events, model_name, args):
    """Rank rows of the forgotten and control pairs before the forget, after its fine-tune
    and after a retrain; the model trained on the earlier ``1 - args.tail`` of the events."""
    order, cut, _, _ = later_days(events, args.tail)
    base = compact(events, order[:cut])
    model = make_model(model_name, args).fit(base)
    rng = np.random.default_rng(1)
    counts = np.diff(model.R_.indptr)
    users = rng.choice(np.flatnonzero(counts >= 4 * args.forget_items), args.forget_users,
                       replace=False)
    forget, control = [], []
    for u in np.sort(users):
        items = rng.permutation(model.R_[u].indices)
        forget += [(u, i) for i in items[:args.forget_items]]
        control += [(u, i) for i in items[args.forget_items:2 * args.forget_items]]
    forget, control = np.array(forget), np.array(control)
    history = remaining_history(model.R_, forget)         # the same exclusions in every state
    before_c = ranks_of(model, control[:, 0], control[:, 1], history)
    tuned = copy.deepcopy(model)
    start = time.perf_counter()
    tuned.forget(interactions=forget, epochs=args.update_epochs, method="fine_tune")
    t_tune = time.perf_counter() - start
    oracle = copy.deepcopy(model)
    start = time.perf_counter()
    oracle.forget(interactions=forget, method="retrain")
    t_retrain = time.perf_counter() - start
    assert not tuned.R_[forget[:, 0], forget[:, 1]].any()   # users keep their ids (none removed)
    assert (tuned.R_ != history).nnz == 0 and (oracle.R_ != history).nnz == 0
    rows = []
    for what, m, secs in (("before", model, 0.0), ("fine_tune", tuned, t_tune),
                          ("retrain", oracle, t_retrain)):
        f = ranks_of(m, forget[:, 0], forget[:, 1], history)
        c = (ranks_of(m, control[:, 0], control[:, 1], history) if what != "before"
             else before_c)
        rows.append({"model": model_name, "what": what, "pairs": len(forget),
                     "median_rank_forgotten": float(np.median(f)),
                     "mean_rank_forgotten": float(np.mean(f)),
                     "top20_share_forgotten": float(np.mean(f <= K)),
                     "median_rank_kept_control": float(np.median(c)),
                     "seconds": secs})
    return rows


# --------------------------------------------------------------- 3. latency
def latency(args):
    import minigraphrec as mgr
    if args.smoke:
        train = mgr.datasets.synthetic(n_users=300, n_items=400, mean_interactions=12,
                                       random_state=0)
        train = mgr.Interactions(train.users, train.items)
        name = "synthetic-300x400"
    else:
        if args.gowalla is None:
            return []
        train = mgr.datasets.load_lightgcn(Path(args.gowalla) / "train.txt")
        name = "DATA/" + Path(args.gowalla).name
    rng = np.random.default_rng(2)
    R = train.to_csr()
    users = rng.choice(np.flatnonzero(np.diff(R.indptr) > 0), 2 if args.smoke else 5,
                       replace=False)
    rows = []
    for model_name, model in (("LightGCN", mgr.LightGCN(dim=64, n_layers=3, random_state=0)),
                              ("MF", mgr.MF(dim=64, random_state=0))):
        model.fit(train, epochs=0)
        model.recommend_history(R[users[0]].indices, k=K)     # compile / warm up
        for u in users:
            history = R[u].indices
            timed = interleaved_times({
                "recommend_history": lambda: model.recommend_history(history, k=K),
                "recommend (one training user)": lambda: model.recommend([u], k=K),
            }, 3 if args.smoke else args.repeat)
            rows.append({"model": model_name, "data": name, "user": int(u),
                         "history": int(history.size),
                         "ms_recommend_history": 1e3 * timed["recommend_history"][0],
                         "ms_recommend_user": 1e3 * timed["recommend (one training user)"][0]})
    return rows


# ------------------------------------------------------------------- plot
def plot_steps(steps, summaries, out_dir, name, data_name, record=None):
    """Three panels: each step's Recall@20 on every later event, fold-in and retrain, over
    grey bars of the number of users it tests (the late steps test few: their swings are
    noise, not a trend); the paired difference (fold-in minus retrain, by user) with two
    standard errors and the 5 % target band, per model and test set; each step's seconds,
    partial_fit and retrain. ``record``, the results JSON drawn from, names the machine in a
    footer."""
    from matplotlib.ticker import MaxNLocator

    from minigraphrec import plot
    fig, (ax1, ax2, ax3) = plot.subplots(1, 3, figsize=(15, 4.2),
                                         gridspec_kw={"width_ratios": [1.2, 0.9, 1.0]})
    colors = {"LightGCN": "tab:blue", "MF": "tab:green"}
    for model_name, color in colors.items():
        rows = [r for r in steps if r["model"] == model_name]
        if not rows:
            continue
        x = [r["step"] for r in rows]
        for ax, (a, b) in ((ax1, (f"recall@{K} fold-in later", f"recall@{K} retrain later")),
                           (ax3, ("seconds_partial_fit", "seconds_retrain"))):
            ax.plot(x, [r[a] for r in rows], "o-", color=color, ms=4,
                    label=f"{model_name} partial_fit (fold-in)")
            ax.plot(x, [r[b] for r in rows], "s--", color=color, mfc="none", ms=4,
                    label=f"{model_name} full retrain")
    counts = {r["step"]: r["test_users later"] for r in steps if "test_users later" in r}
    if counts:                                      # the users each step's recall averages
        ax_n = ax1.twinx()
        x = sorted(counts)
        bars = ax_n.bar(x, [counts[k] for k in x], width=0.6, color="0.88", zorder=0)
        ax_n.bar_label(bars, fontsize=5.5, color="0.45", padding=1)
        ax_n.set_ylim(0, 3.2 * max(counts.values()))          # the bars in the lower third
        ax_n.set_ylabel("test users of the step (grey bars)", fontsize=8, color="0.4")
        ax_n.tick_params(axis="y", labelsize=7, colors="0.4")
        ax1.set_zorder(ax_n.get_zorder() + 1)               # the lines over the bars
        ax1.patch.set_visible(False)
    labels = []
    tops = []
    for j, s in enumerate(summaries):
        color = colors[s["model"]]
        bound = TARGET * s[f"recall@{K} retrain"]
        ax2.fill_between([j - 0.3, j + 0.3], -bound, bound, color=color, alpha=0.15, lw=0,
                         label=f"±{TARGET:.0%} of the retrain's recall" if j == 0 else None)
        ax2.errorbar([j], [s["paired_diff"]], yerr=[2 * s["paired_diff_se"]], fmt="o",
                     color=color, capsize=4)
        tops.append(max(abs(s["paired_diff"]) + 2 * s["paired_diff_se"], bound))
        labels.append(f"{s['model']}\n{s['test']}\n{s['test_users']} users\n"
                      f"resolved: {s['resolved']}")
    ax2.axhline(0, color="0.4", lw=0.8)
    ax2.set_xticks(range(len(summaries)))
    ax2.set_xticklabels(labels, fontsize=7)
    ax2.set_xlim(-0.6, len(summaries) - 0.4)
    ax2.set_ylabel(f"fold-in minus retrain Recall@{K}\n(paired by user, ± 2 SE)")
    if tops:                           # room above the bars for the legend, none hidden
        ax2.set_ylim(-1.1 * max(tops), 1.45 * max(tops))
    ax2.legend(fontsize=7, loc="upper left")
    ax1.set_xlabel("step (day folded in; tested on every later event)")
    ax1.set_ylabel(f"Recall@{K}, every later event")
    ax3.set_xlabel("step (day folded in)")
    ax3.set_ylabel("seconds per update (log scale)")
    ax3.set_yscale("log")
    lo, hi = ax3.get_ylim()
    ax3.set_ylim(lo, hi * 30)                      # room for the legend above the lines
    ax1.legend(fontsize=7)
    ax3.legend(fontsize=7, ncol=2, loc="upper center")
    for ax in (ax1, ax3):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(f"{data_name}, temporal split: fold-in by partial_fit vs a full retrain per day")
    save_figure(fig, name, out_dir, record=record)


def main():
    parser = benchmark_parser(
        "partial_fit day by day vs full retrain; forget; recommend_history",
        smoke="a synthetic 150 x 200 set instead of ML-100K (2 steps, 3 epochs, dim 16) and the "
              "latency on a synthetic 300 x 400 graph, 3 rounds",
        repeat_help="rounds of the recommend_history latency timing (--gowalla); the median is "
                    "reported")
    parser.add_argument("--data", type=Path, default=None, metavar="DIR",
                        help="the unpacked MovieLens-100K folder (u.data, u.user, u.item; "
                             "required but with --smoke)")
    parser.add_argument("--gowalla", type=Path, default=None, metavar="DIR",
                        help="LightGCN-format Gowalla folder (train.txt), for the latency of "
                             "recommend_history (default: that part is skipped)")
    parser.add_argument("--days", type=int, default=None,
                        help="steps (days folded in), the same for every model (default: every "
                             "day of the tail that has a later day, 22 on ML-100K)")
    parser.add_argument("--tail", type=float, default=0.1,
                        help="share of the events (the latest) folded in day by day; the "
                             "earlier ones train the first model, of the fold-in and of the "
                             "unlearning part (default 0.1)")
    parser.add_argument("--epochs", type=int, default=60,
                        help="epochs of every full fit of LightGCN (default 60)")
    parser.add_argument("--mf-epochs", type=int, default=15,
                        help="epochs of every full fit of MF (default 15)")
    parser.add_argument("--layers", type=int, default=3,
                        help="LightGCN's propagation layers (default 3)")
    parser.add_argument("--parts", default="foldin,unlearning,latency",
                        help="comma-separated, from foldin, unlearning, latency: the parts to "
                             "run and write (default all three; latency needs --gowalla "
                             "but with --smoke)")
    parser.add_argument("--update-epochs", type=int, default=3,
                        help="epochs of partial_fit and of forget's fine-tune")
    parser.add_argument("--dim", type=int, default=32,
                        help="embedding size of the fold-in and forget models (default 32)")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam learning rate (default 0.01)")
    parser.add_argument("--batch-size", type=int, default=2048,
                        help="BPR triples per batch (default 2048)")
    parser.add_argument("--models", default="LightGCN,MF",
                        help="comma-separated, from LightGCN, MF (default LightGCN,MF)")
    parser.add_argument("--forget-users", type=int, default=30,
                        help="users whose training items are forgotten (default 30)")
    parser.add_argument("--forget-items", type=int, default=5,
                        help="training items forgotten per such user (default 5)")
    args = parser.parse_args()
    unknown = [m for m in args.models.split(",") if m not in ("LightGCN", "MF")]
    if unknown:
        parser.error(f"--models: unknown {', '.join(map(repr, unknown))}; "
                     "choose from LightGCN, MF")
    parts = args.parts.split(",")
    unknown = [m for m in parts if m not in ("foldin", "unlearning", "latency")]
    if unknown or not parts:
        parser.error(f"--parts: unknown {', '.join(map(repr, unknown))}; "
                     "choose from foldin, unlearning, latency")
    if not 0 < args.tail < 1:
        parser.error(f"--tail: {args.tail} is not between 0 and 1")
    if args.days is not None and args.days < 1:
        parser.error(f"--days: {args.days} is not a positive number of steps")
    require_data(args, "the unpacked MovieLens-100K folder", files=ML100K_FILES)
    if args.gowalla is not None and not args.smoke:
        check_data(args.gowalla, ("train.txt",), "a LightGCN-format folder", option="--gowalla")
    if args.smoke:
        args.days, args.epochs, args.mf_epochs, args.update_epochs = 2, 3, 3, 1
        args.forget_users, args.forget_items, args.dim = 5, 2, 16
        args.batch_size = 512
        args.models = "LightGCN,MF"

    import minigraphrec as mgr

    suffix = "_smoke" if args.smoke else "_ml100k"
    load0 = os.getloadavg()[0]
    started = time.perf_counter()
    with mgr.threads(1):
        measured_threads = thread_counts()             # recorded: the block ends before writing
        events, data_name = load_events(args)
        steps, summaries, forget_rows = [], [], []
        if "foldin" in parts:
            for model_name in args.models.split(","):
                s, summary = foldin_vs_retrain(events, model_name, args)
                steps += s
                summaries += summary
        if "unlearning" in parts:
            for model_name in args.models.split(","):
                forget_rows += unlearning(events, model_name, args)
        lat = latency(args) if "latency" in parts else []
    wall = time.perf_counter() - started
    load1 = os.getloadavg()[0]
    _, _, _, days = later_days(events, args.tail)
    n_steps = step_count(days, args)
    budget = ("Smoke run" if args.smoke else
              "Budget (a run of under ~15 min on a 2-core machine shared with other jobs)")
    fits = (f"LightGCN {args.epochs} epochs and {args.layers} layers per full fit, MF "
            f"{args.mf_epochs} epochs, {args.update_epochs} epochs per partial_fit / forget "
            f"fine-tune, dim {args.dim}, batch {args.batch_size}, lr {args.lr}, reg 1e-4, "
            f"model seed 0, one thread (mgr.threads(1)).")
    caps = (f"{budget}: "
            f"{n_steps} day steps for every model (of the {len(days) - 1} days of the later "
            f"{args.tail:.0%} that have a later day), {fits}")
    paths = []
    if "foldin" in parts:
        need = "; ".join(
            f"{s['model']}: {s['users_to_resolve']} users" for s in summaries
            if s["test"] == TESTS[0][1] and s["resolved"] == "no"
            and s["users_to_resolve"] is not None)
        per_step = sum(s["seconds_partial_fit"] + s["seconds_retrain"] for s in summaries
                       if s["test"] == TESTS[0][1]) / max(n_steps, 1)
        larger = []
        for tail in (0.2, 0.3, 0.5):
            if tail > args.tail:
                k, u = testable_users(events, tail)
                larger.append(f"tail {tail:.0%}: {k} steps, {u} users, about "
                              f"{k * per_step / 60:.2g} min")
        reach = (f" More test users need a longer tail (this data, every model, at this run's "
                 f"{per_step:.3g} s per step for all models together: "
                 + "; ".join(larger) + ")" if larger else "")
        notes = (
            f"Data: {data_name}. {caps} Wall time {wall:.0f} s; "
            f"1-min load average {load0:.2f} at the start, {load1:.2f} at the "
            f"end (2 cores shared with other jobs: absolute seconds are inflated, the "
            f"fold-in/retrain time ratio is measured in the same run). Both models run the "
            f"same steps on the same events, and know the same users at each step, so they "
            f"test the same users. Test sets of step t: 'every later event' (the headline): "
            f"the tail's events after day t, of every user and item the model knows "
            f"(a user with a later event is tested at every step until their last event); "
            f"'next day': day t + 1's events alone (5-15 users a step on ML-100K: most of a "
            f"day's events come from users the model has never seen). Training items "
            f"excluded. Recall@{K}: each user's recall averaged over the steps that tested "
            f"them, then over users (test_users distinct users, user_steps (step, user) "
            f"pairs). paired_diff: the mean over users of fold-in minus retrain (each user's "
            f"own steps), paired_diff_se its standard error over users (paired by user: the "
            f"spread of the users' differences / sqrt(users)); it counts the test users' "
            f"sampling, not the training seed's. resolved: |paired_diff| > 2 "
            f"paired_diff_se. users_to_resolve: the test users that would resolve this "
            f"paired_diff at this spread per user (users x (2 SE / diff)^2)"
            + (f" ({need})" if need else "") + f".{reach}. Target: fold-in within {TARGET:.0%} "
            f"(relative) of the retrain; target_met: 'yes' when the gap (retrain minus "
            f"fold-in recall) plus two standard errors is within {TARGET:.0%} of the "
            f"retrain's recall, 'no' when the gap minus two standard errors is beyond it, "
            f"'not resolvable' otherwise.")
        cols = ["model", "test", "step", "day", "new_events", "test_users", "user_steps",
                f"recall@{K} fold-in", f"recall@{K} retrain", "relative_gap", "paired_diff",
                "paired_diff_se", "resolved", "users_to_resolve", "target_met",
                "seconds_partial_fit", "seconds_retrain", "time_ratio"]
        md_steps = [{**r, "test": "later / next", "test_users": f"{r['test_users later']} / "
                     f"{r['test_users next']}",
                     f"recall@{K} fold-in": f"{r[f'recall@{K} fold-in later']:.4g} / "
                                            f"{r[f'recall@{K} fold-in next']:.4g}",
                     f"recall@{K} retrain": f"{r[f'recall@{K} retrain later']:.4g} / "
                                            f"{r[f'recall@{K} retrain next']:.4g}"}
                    for r in steps]
        paths.append(write_results(f"realtime{suffix}", summaries + steps, columns=cols,
                                   out_dir=args.out, notes=notes, threads=measured_threads,
                                   md_rows=summaries + md_steps))
        plot_steps(steps, summaries, args.out, f"realtime{suffix}", data_name,
                   record=json.loads(Path(paths[-1][0]).read_text()))
    if "unlearning" in parts:
        paths.append(write_results(
            f"unlearning_embedding{suffix}", forget_rows,
            columns=["model", "what", "pairs", "median_rank_forgotten", "mean_rank_forgotten",
                     "top20_share_forgotten", "median_rank_kept_control", "seconds"],
            out_dir=args.out,
            notes=(f"Data: {data_name} (the earlier {1 - args.tail:.0%}). {args.forget_users} "
                   f"users x {args.forget_items} training items forgotten (chosen with "
                   f"default_rng(1)). Rank 1 = top among the items outside the user's remaining "
                   f"history (the training pairs minus the forgotten ones: the same set in every "
                   f"state, so a user's other forgotten items compete in all three). before: "
                   f"the trained model; "
                   f"fine_tune: forget(method='fine_tune', epochs={args.update_epochs}); retrain: "
                   f"forget(method='retrain') = a fit from scratch without them (the oracle). "
                   f"Control: as many kept training items of the same users. "
                   f"{'Smoke run' if args.smoke else 'Settings'}: {fits}"),
            threads=measured_threads))
        from bench_unlearning import plot_unlearning_embedding
        plot_unlearning_embedding(forget_rows, f"unlearning_embedding{suffix}", args.out,
                                  title=f"{data_name}: forgetting {args.forget_users} users' "
                                        f"{args.forget_items} training items each",
                                  record=json.loads(Path(paths[-1][0]).read_text()))
    if lat:
        paths.append(write_results(
            "recommend_history_latency" + ("_smoke" if args.smoke else "_gowalla"), lat,
            columns=["model", "data", "user", "history", "ms_recommend_history",
                     "ms_recommend_user"],
            out_dir=args.out,
            notes=("recommend_history(history, k=20) of a training user's history vs "
                   "recommend([user], k=20), interleaved, median of "
                   f"{3 if args.smoke else args.repeat} rounds, one thread. LightGCN dim 64, "
                   "3 layers (propagation of the new row); MF dim 64 (fold-in, "
                   "fold_in_steps Adam steps). Parameters from fit(train, epochs=0): the cost "
                   f"does not depend on their values. Load {load1:.2f}."),
            threads=measured_threads))
    for s in summaries:
        print(f"{s['model']} ({s['test']}, {s['test_users']} users): Recall@{K} fold-in "
              f"{s[f'recall@{K} fold-in']:.4f} vs retrain {s[f'recall@{K} retrain']:.4f} "
              f"(gap {s['relative_gap']:+.1%}); paired diff {s['paired_diff']:+.4f} ± "
              f"{s['paired_diff_se']:.4f} (resolved: {s['resolved']}, target met: "
              f"{s['target_met']}); time {s['seconds_partial_fit']:.1f} s vs "
              f"{s['seconds_retrain']:.1f} s (x{s['time_ratio']:.4f})")
    for r in forget_rows:
        print(f"{r['model']} {r['what']:9s} median rank forgotten {r['median_rank_forgotten']:.0f}"
              f" (top-20 {r['top20_share_forgotten']:.0%}), kept {r['median_rank_kept_control']:.0f}")
    for r in lat:
        print(f"{r['model']} history {r['history']}: recommend_history "
              f"{r['ms_recommend_history']:.1f} ms, recommend {r['ms_recommend_user']:.1f} ms")
    for json_path, md_path in paths:
        print("wrote", json_path, md_path)


if __name__ == "__main__":
    main()
