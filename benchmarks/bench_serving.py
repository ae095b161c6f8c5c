r"""Benchmark: one-user serving latency, 1 thread against 2 -- does a second thread ever slow it?

Question: what does a one-user ``model.recommend([u], k=20)`` cost, and is it ever slower with
2 threads than with 1? Every numba ``parallel=True`` call wakes numba's thread pool, and on
busy cores that costs a scheduler time slice (5-13 ms) for microseconds of work; the serial
twins below size thresholds (``kernels/topk.py`` ``PARALLEL_FROM``, ``kernels/quantize.py``,
``kernels/markov.py``, ``kernels/session.py``, ``ops/sparse.py`` ``SERIAL_BELOW``,
:class:`minigraphrec.threadpools.serial_if`) exist so that a one-user call takes on 2 threads
what it takes on 1. OpenBLAS's pool did the same to the few users' scoring products on a
large catalogue (its first run here: 4.1-29.8x on Gowalla), which
:func:`minigraphrec.threadpools.few_rows_matmul` now runs on one BLAS thread. This script
keeps both measured, so a regression shows.

Data (``--data DIR``: a folder holding ``ml-100k/`` and optionally ``gowalla/``; required
but with ``--smoke``; never shipped):

* **ML-100K** (``u.data``, every rating a positive, all of it fitted: no split, nothing is
  evaluated): Popularity, ItemKNN, UserKNN, EASE, GFCF, GFCF quantised to int8 and to
  float16 (:func:`minigraphrec.quantize`), ContentBased (the 19 genres and the year of
  ``u.item``), Hybrid (ItemKNN + UserKNN + ContentBased, uniform weights: the serving cost of
  tuned ones is the same), MF, LightGCN, GCN, NGCF, GAT (1 epoch each: the cost of serving
  does not depend on accuracy), and the session models SessionPopularity, MarkovChain,
  SessionItemKNN and SRGNN (1 epoch) fitted on each user's events cut into sessions at gaps of
  over half an hour (:func:`minigraphrec.sequences.sessions_by_gap`, ``gap=1800``), so that
  ``recommend([u])`` scores one session, the user's last. Every fit runs on 1 thread.
* **Gowalla** (with ``gowalla/train.txt`` in ``--data``): MF and LightGCN at 64 dims with
  their initial embeddings (``fit(train, epochs=0)``; LightGCN's propagated), each scored in
  ``score_dtype="float64"`` and ``"float32"`` (``set_params``); Popularity, ItemKNN, UserKNN
  and GFCF with their defaults (EASE refuses Gowalla's 40,981 items); MF, ItemKNN and GFCF
  also quantised to int8 and float16.

Per model, ``--users`` distinct users (default 200, drawn with a seeded rng, the same for
every model) are served one at a time, ``recommend(users=[u], k=20)`` (``exclude_seen``
default), ``--repeat`` passes over them, in three thread settings, interleaved in small
rounds: ``--block`` users (default 25) in a row per setting, the settings' order rotated round
by round, so that a change of load hits all alike:

* ``1 thread``: ``with mgr.threads(1)`` (numba and BLAS on one thread);
* ``2 threads``: ``with mgr.threads(2)`` (numba and BLAS on two: what ``mgr.set_threads(2)``
  gives, and a fresh process's default on a 2-CPU machine);
* ``numba 2, BLAS 1``: ``mgr.threads(2)`` with :func:`minigraphrec.threadpools.serial_blas`
  inside, to tell a slowdown of numba's pool from one of BLAS's.

Each block starts with one untimed call of its own, and after each ``2 threads`` block the
script waits ``--pause`` s (default 0.25). Interleaving call by call, as a first version did,
measured the calls' neighbours: on Gowalla (LightGCN, float64) a 1-thread call made one or two
calls after a 2-thread one took a median 6-10 ms, right after one 2.3 ms, and in a row
1.4-2 ms (ad-hoc readings, load 1.2-1.7, not recorded; probably OpenBLAS's idle workers, which
spin about 0.1 s after a threaded call, see :mod:`minigraphrec.threadpools`). Each setting is
now timed in its own steady state, as a server that keeps one setting would run. The median
of each setting is reported (its quartiles in the JSON), after an untimed warm-up (3 calls per
setting; the first call's time, with any compile or cache load, is kept apart as
``first_call_ms``). ``ratio_2t`` = median(2 threads) / median(1 thread); ``ratio_numba2``
likewise for the third setting.

**Target: ``ratio_2t`` ≤ 1.25 for every model** (a second thread never makes a one-user call
slower; 1.25 leaves room for noise on a shared machine). ``met`` says it per row.

For the embedding models a second reference, the **floor**: the work itself in plain NumPy on
the model's own final embeddings in float64 (converted once, before timing),
``s = V @ u``, the user's training items set to ``-inf``, ``np.argpartition`` top-20, sorted;
timed in blocks interleaved with the library's, on 1 thread. ``floor_ratio`` = the library's
1-thread median / the floor's: what the library adds to the product and the selection (its
checks, ``top_k``'s exclusion of seen items; until commit 36af445 also checking and converting
the whole item table to ``score_dtype`` on every call). Below 1 where the library's selection
(a numba heap) beats ``argpartition`` and its product runs in float32.
``floor_agrees``: the floor's 20 items equal the library's for every warm-up user (float64
scores only). No target for it: a record.

On ML-100K also, for scale, one batch call for all users (``recommend(all users, k=20)``) per
thread setting, 1 and 2 threads interleaved, ``--batch-repeat`` rounds, medians (a pause of
``--pause`` s after each 2-thread call; the models' parallel kernels do run there):
``batch_speedup`` = 1-thread / 2-thread time.

The 1-minute load average is recorded at the start and at the end, and per row when the
row's timing ended (``load_1min``). The source digests of the files a call runs through are
recorded (``source_digests``), since the library may change between runs.

Results: ``results/serving_ml100k.{json,md,png}`` and, with Gowalla, ``serving_gowalla.*``;
``*_smoke`` with ``--smoke`` (a synthetic 120 x 300 set for the first, 400 x 3,000 for the
second). The figure: per model, the median of each setting (log scale; the floor marked for
the embedding models) and the ratio to 1 thread against the 1.25 target.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_serving.py --data DATA  # ml-100k/, gowalla/
    python benchmarks/bench_serving.py --smoke --out /tmp/r        # what the tests run
    python benchmarks/bench_serving.py --plot-only [NAME]          # redraw NAME.png from its JSON

The measurement needs numba's pool to hold 2 threads: do not set ``NUMBA_NUM_THREADS=1``
(a real run refuses it; ``--smoke`` runs on whatever pool there is and says so).
"""
from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from _common import (ML100K_FILES, benchmark_parser, check_data, first_call_time, read_record,
                     require_data, save_figure, script_error, source_digests, thread_counts,
                     threads_text, write_results)

K = 20
TARGET = 1.25                     # median(2 threads) / median(1 thread), every model
SETTINGS = ("1 thread", "2 threads", "numba 2, BLAS 1")
SESSION_GAP = 1800                # seconds: a new session after half an hour without an event
WARMUP = 3                        # untimed calls per setting before timing
#: the files a one-user call runs through (their digests are recorded)
SOURCES = ("models/base.py", "models/embedding_base.py", "rank.py", "threadpools.py",
           "kernels/topk.py", "kernels/quantize.py", "kernels/markov.py", "kernels/session.py",
           "ops/sparse.py", "ops/session.py", "quantization.py", "models/gfcf.py",
           "models/session_base.py", "models/sequential.py", "models/srgnn.py")


def setting(name):
    """A fresh context manager for the thread setting ``name`` (of :data:`SETTINGS`)."""
    import contextlib
    import minigraphrec as mgr
    from minigraphrec.threadpools import serial_blas
    if name == "1 thread":
        return mgr.threads(1)
    if name == "2 threads":
        return mgr.threads(2)
    stack = contextlib.ExitStack()
    stack.enter_context(mgr.threads(2))
    stack.enter_context(serial_blas())
    return stack


def short_threads(counts):
    """``numba 2, BLAS 2`` for a :func:`thread_counts` dict (the BLAS libraries' counts
    joined by ``/`` where they differ)."""
    blas = "/".join(str(n) for n in sorted(set(counts["blas"].values()))) or "?"
    return f"numba {counts['numba']}, BLAS {blas}"


def setting_threads():
    """``{setting: thread_counts()}`` read inside each setting's block."""
    out = {}
    for name in SETTINGS:
        with setting(name):
            out[name] = thread_counts()
    return out


# ------------------------------------------------------------------ models
def fit_ml100k_models(data, smoke):
    """``[(name, kind, fitted model)]`` on ``data`` (Interactions with timestamps and item
    features), every fit on 1 thread."""
    import minigraphrec as mgr
    from minigraphrec.models import (EASE, GAT, GCN, GFCF, MF, NGCF, SRGNN, ContentBased,
                                     Hybrid, ItemKNN, LightGCN, Popularity, UserKNN)
    from minigraphrec.models.sequential import MarkovChain, SessionItemKNN, SessionPopularity
    from minigraphrec.sequences import sessions_by_gap
    gfcf = {"n_factors": 16} if smoke else {}
    out = []

    def add(name, kind, model, train):
        t0 = time.perf_counter()
        model.fit(train)
        print(f"fitted {name:18s} {time.perf_counter() - t0:6.2f} s", flush=True)
        out.append((name, kind, model))
        return model

    sessions = sessions_by_gap(data, gap=SESSION_GAP)
    with mgr.threads(1):
        add("Popularity", "classic", Popularity(), data)
        add("ItemKNN", "classic", ItemKNN(), data)
        add("UserKNN", "classic", UserKNN(), data)
        add("EASE", "closed-form", EASE(), data)
        g = add("GFCF", "closed-form", GFCF(**gfcf), data)
        for dtype in ("int8", "float16"):
            t0 = time.perf_counter()
            out.append((f"GFCF {dtype}", "quantised", mgr.quantize(g, dtype)))
            print(f"quantised GFCF {dtype:8s} {time.perf_counter() - t0:6.2f} s", flush=True)
        add("ContentBased", "content", ContentBased(), data)
        add("Hybrid", "hybrid", Hybrid([ItemKNN(), UserKNN(), ContentBased()]), data)
        for name, cls in (("MF", MF), ("LightGCN", LightGCN), ("GCN", GCN), ("NGCF", NGCF),
                          ("GAT", GAT)):
            add(name, "embedding", cls(epochs=1, random_state=0), data)
        for name, cls in (("SessionPopularity", SessionPopularity),
                          ("MarkovChain", MarkovChain), ("SessionItemKNN", SessionItemKNN)):
            add(name, "session", cls(), sessions)
        add("SRGNN", "session", SRGNN(epochs=1, random_state=0), sessions)
    return out, sessions


# ------------------------------------------------------------------ timing
def floor_function(model):
    """The floor of a one-user call on ``model``'s final embeddings, in plain NumPy, float64:
    ``u -> top-20 items`` (``V @ u``, seen items masked, ``argpartition``, sorted)."""
    V = np.ascontiguousarray(model.item_embeddings_, dtype=np.float64)        # (n_items, d)
    U = np.ascontiguousarray(model.user_embeddings_, dtype=np.float64)        # (n_users, d)
    indptr, indices = model.R_.indptr, model.R_.indices

    def floor(u):
        s = V @ U[u]                                                          # (n_items,)
        s[indices[indptr[u]:indptr[u + 1]]] = -np.inf
        top = np.argpartition(s, s.size - K)[-K:]                             # (K,) unordered
        return top[np.argsort(-s[top], kind="stable")]
    return floor


def time_one_user(model, users, rounds, block, pause, floor=None):
    """Medians (ms) of one-user ``recommend`` per thread setting (and of ``floor`` on 1 thread)
    over ``rounds`` passes over ``users``, in blocks of ``block`` users per setting (each
    block after one untimed call of its own; the settings' order rotated block by block; a
    pause of ``pause`` s after each "2 threads" block); the quartiles (ms), the warm-up's
    first call (ms) and whether the floor agrees with the library."""
    names = list(SETTINGS) + (["floor"] if floor is not None else [])
    calls = {n: (lambda u: model.recommend([u], k=K)) for n in SETTINGS}
    if floor is not None:
        calls["floor"] = floor
    contexts = {n: (lambda n=n: setting(n)) for n in SETTINGS}
    contexts["floor"] = lambda: setting("1 thread")
    first = {}
    agrees = True
    for n in names:                                       # warm-up, untimed but the first
        with contexts[n]():
            first[n] = first_call_time(lambda: calls[n](int(users[0]))) * 1e3
            for u in users[1:WARMUP]:
                calls[n](int(u))
        if n == "2 threads":
            time.sleep(pause)
    if floor is not None:
        with setting("1 thread"):
            for u in users[:WARMUP]:
                lib = model.recommend([int(u)], k=K)[0][0]
                agrees &= bool(np.array_equal(np.sort(lib), np.sort(floor(int(u)))))
    parts = [[int(u) for u in users[i:i + block]] for i in range(0, len(users), block)]
    times = {n: [] for n in names}
    step = 0
    for _ in range(rounds):
        for part in parts:
            shift = step % len(names)
            for n in names[shift:] + names[:shift]:
                with contexts[n]():
                    calls[n](part[0])                     # untimed: the setting's own state
                    for u in part:
                        t0 = time.perf_counter()
                        calls[n](u)
                        times[n].append(time.perf_counter() - t0)
                if n == "2 threads":                      # OpenBLAS's workers go to sleep
                    time.sleep(pause)
            step += 1
    medians = {n: statistics.median(ts) * 1e3 for n, ts in times.items()}
    quartiles = {n: [float(q) for q in np.percentile(ts, [25, 75]) * 1e3]
                 for n, ts in times.items()}
    return medians, quartiles, first, agrees, {n: len(ts) for n, ts in times.items()}


def time_batch(model, n_users, rounds, pause):
    """Medians (ms) of ``recommend(all users)`` on 1 and on 2 threads, interleaved (a pause
    of ``pause`` s after each 2-thread call)."""
    users = np.arange(n_users)
    times = {1: [], 2: []}
    for n in (1, 2):                                       # warm-up
        with setting("1 thread" if n == 1 else "2 threads"):
            model.recommend(users, k=K)
        time.sleep(pause if n == 2 else 0)
    for r in range(rounds):
        for n in ((1, 2) if r % 2 == 0 else (2, 1)):
            with setting("1 thread" if n == 1 else "2 threads"):
                t0 = time.perf_counter()
                model.recommend(users, k=K)
                times[n].append(time.perf_counter() - t0)
            time.sleep(pause if n == 2 else 0)
    return {n: statistics.median(ts) * 1e3 for n, ts in times.items()}


def measure(name, kind, model, users, args, floor=False, batch_users=None):
    """One row: the medians per setting, the ratios, the floor and the batch times."""
    medians, quartiles, first, agrees, counts = time_one_user(
        model, users, args.repeat, args.block, args.pause,
        floor_function(model) if floor else None)
    one, two, numba2 = (medians[s] for s in SETTINGS)
    row = {"model": name, "kind": kind, "n_items": int(model.n_items_),
           "ms_1t": one, "ms_2t": two, "ms_numba2_blas1": numba2,
           "ratio_2t": two / one, "ratio_numba2": numba2 / one,
           "met": two / one <= TARGET, "calls": counts["1 thread"],
           "first_call_ms": max(first[s] for s in SETTINGS)}
    if floor:
        row.update(floor_ms=medians["floor"], floor_ratio=one / medians["floor"],
                   floor_agrees=agrees)
    if batch_users is not None and args.batch_repeat > 0:
        b = time_batch(model, batch_users, args.batch_repeat, args.pause)
        row.update(batch_ms_1t=b[1], batch_ms_2t=b[2], batch_speedup=b[1] / b[2])
    row["quartiles_ms"] = quartiles
    row["load_1min"] = round(os.getloadavg()[0], 2)
    print(f"{name:18s} 1t {one:7.3f} ms  2t {two:7.3f} ms  numba2/BLAS1 {numba2:7.3f} ms  "
          f"ratio {row['ratio_2t']:.2f} ({row['ratio_numba2']:.2f})"
          + (f"  floor {row['floor_ms']:.3f} ms, lib/floor {row['floor_ratio']:.2f}"
             if floor else "")
          + (f"  batch {row['batch_ms_1t']:.1f} / {row['batch_ms_2t']:.1f} ms"
             if "batch_ms_1t" in row else "")
          + f"  load {row['load_1min']}", flush=True)
    return row


# ------------------------------------------------------------------ data
def load_ml100k(args):
    """``(Interactions, name)``: ``DATA/ml-100k`` (timestamps, item features) or synthetic."""
    import minigraphrec as mgr
    if args.smoke:
        return (mgr.datasets.synthetic(n_users=120, n_items=300, mean_interactions=15,
                                       random_state=0), "synthetic-120x300")
    return mgr.datasets.load_movielens_100k(Path(args.data) / "ml-100k"), "ml-100k"


def load_gowalla(args):
    """``(Interactions, name)`` or None: ``DATA/gowalla/train.txt`` when there, a synthetic
    400 x 3,000 set with --smoke."""
    import minigraphrec as mgr
    if args.smoke:
        return (mgr.datasets.synthetic(n_users=400, n_items=3000, mean_interactions=20,
                                       random_state=0), "synthetic-400x3000")
    path = Path(args.data) / "gowalla" / "train.txt"
    if not path.is_file():
        return None
    return mgr.datasets.load_lightgcn(path), "gowalla"


def passes(n):
    return f"{n} pass" if n == 1 else f"{n} passes"


def draw_users(n_users, how_many, seed):
    return np.random.default_rng(seed).choice(n_users, size=min(how_many, n_users),
                                              replace=False)


# ------------------------------------------------------------------ runs
def summary(rows):
    """Met / not met, as one sentence for the notes."""
    missed = [f"{r['model']} {r['ratio_2t']:.2f}" for r in rows if not r["met"]]
    return (f"ratio_2t <= {TARGET} for every model: met" if not missed else
            f"ratio_2t <= {TARGET}: NOT met by {len(missed)} of {len(rows)}: "
            + ", ".join(missed))


def common_notes(args, users, data_name, load_start, threads):
    return (f"Data: {data_name}. {len(users)} distinct users (seed {args.seed}), "
            f"{passes(args.repeat)}, one recommend([u], k={K}) per user, pass and setting "
            f"(exclude_seen default); settings interleaved in blocks of {args.block} users, "
            f"their order rotated block by block, each block after one untimed call, a pause "
            f"of {args.pause} s after each 2-threads block (OpenBLAS's idle workers spin about "
            f"0.1 s after a threaded call); {WARMUP} untimed warm-up calls per setting first "
            f"(first_call_ms: the slowest setting's first call). Settings: " + "; ".join(
                f"{s}: {threads_text(threads[s])}" for s in SETTINGS)
            + f". ratio_2t = ms_2t / ms_1t (medians), target <= {TARGET}; ratio_numba2 = "
            f"ms_numba2_blas1 / ms_1t. 1-minute load average {load_start:.2f} at the start "
            f"of the run, {os.getloadavg()[0]:.2f} at the end of this part (load_1min: at "
            f"the end of each row).")


def run_ml100k(args, threads, load_start, digests):
    data, data_name = load_ml100k(args)
    models, sessions = fit_ml100k_models(data, args.smoke)
    users = draw_users(data.n_users, args.users, args.seed)
    rows = []
    for name, kind, model in models:
        rows.append(measure(name, kind, model, users, args, floor=(kind == "embedding"),
                            batch_users=data.n_users))
    name = "serving_ml100k_smoke" if args.smoke else "serving_ml100k"
    notes = (common_notes(args, users, f"{data_name}, {data.n_users} users, {data.n_items} "
                                       f"items, {len(data)} interactions, all fitted", load_start,
                          threads)
             + f" Trained models: 1 epoch (MF, LightGCN, GCN, NGCF, GAT, SRGNN), every fit on "
             f"1 thread. Session models: {len(sessions)} sessions cut at gaps > "
             f"{SESSION_GAP} s (sessions_by_gap); recommend([u]) scores user u's last one. "
             f"Hybrid: ItemKNN + UserKNN + ContentBased, uniform weights. floor (embedding "
             f"models): NumPy V @ u in float64 on the model's own embeddings, seen items "
             f"-inf, argpartition top-{K}, sorted, on 1 thread, in blocks interleaved with "
             f"the library's; floor_ratio = ms_1t / floor_ms. batch: recommend(all "
             f"{data.n_users} users, k={K}), {args.batch_repeat} interleaved rounds, medians, "
             f"batch_speedup = batch_ms_1t / batch_ms_2t. " + summary(rows) + ".")
    columns = ["model", "kind", "ms_1t", "ms_2t", "ms_numba2_blas1", "ratio_2t", "ratio_numba2",
               "met", "floor_ms", "floor_ratio", "batch_ms_1t", "batch_ms_2t", "batch_speedup",
               "first_call_ms", "load_1min"]
    return write_and_plot(name, rows, columns, args, notes, threads, load_start, digests,
                          f"{data_name}, {len(users)} users x {passes(args.repeat)}")


def run_gowalla(args, threads, load_start, digests):
    import minigraphrec as mgr
    loaded = load_gowalla(args)
    if loaded is None:
        print("no gowalla/train.txt in --data: the Gowalla part is skipped", flush=True)
        return None
    data, data_name = loaded
    users = draw_users(data.n_users, args.users, args.seed)
    rows = []
    for model_name, cls in (("MF", mgr.MF), ("LightGCN", mgr.LightGCN)):
        t0 = time.perf_counter()
        with mgr.threads(1):
            model = cls(dim=64, random_state=0).fit(data, epochs=0)
        print(f"fitted {model_name} (epochs=0) {time.perf_counter() - t0:.2f} s", flush=True)
        for score_dtype in ("float64", "float32"):
            model.set_params(score_dtype=score_dtype)
            row = measure(f"{model_name} {score_dtype}", "embedding", model, users, args,
                          floor=True)
            if score_dtype != "float64":
                row["floor_agrees"] = None          # float32 scores may swap near-ties
            rows.append(row)
        if model_name == "MF":
            rows += measure_quantised(model_name, model, users, args)
    # the classic and closed-form models whose one-user call runs a BLAS product or a
    # sparse one over the whole catalogue (EASE refuses Gowalla's 40,981 items)
    for model_name, kind, model in (("Popularity", "classic", mgr.Popularity()),
                                    ("ItemKNN", "classic", mgr.ItemKNN()),
                                    ("UserKNN", "classic", mgr.UserKNN()),
                                    ("GFCF", "closed-form", mgr.GFCF())):
        t0 = time.perf_counter()
        with mgr.threads(1):
            model.fit(data)
        print(f"fitted {model_name} {time.perf_counter() - t0:.2f} s", flush=True)
        rows.append(measure(model_name, kind, model, users, args))
        if model_name in ("ItemKNN", "GFCF"):
            rows += measure_quantised(model_name, model, users, args)
    name = "serving_gowalla_smoke" if args.smoke else "serving_gowalla"
    notes = (common_notes(args, users, f"{data_name} train, {data.n_users} users, "
                                       f"{data.n_items} items, {len(data)} interactions",
                          load_start, threads)
             + f" MF and LightGCN at 64 dims, embeddings as initialised (fit(epochs=0), "
             f"LightGCN's propagated; stored float32), scored in score_dtype float64 and "
             f"float32 (set_params). floor: NumPy V @ u in float64 on the model's own "
             f"embeddings (converted once, before timing), seen items -inf, argpartition "
             f"top-{K}, sorted, on 1 thread, in blocks interleaved with the library's; "
             f"floor_ratio = ms_1t / floor_ms "
             f"(for float32 scores the floor stays float64). Popularity, ItemKNN, UserKNN "
             f"and GFCF with their default hyperparameters, fitted on 1 thread (no floor). "
             f"MF (score_dtype float32 when quantised: it does not change the quantised "
             f"arrays), ItemKNN and GFCF also quantised to int8 and float16 "
             f"(mgr.quantize, backend numba). " + summary(rows) + ".")
    columns = ["model", "ms_1t", "ms_2t", "ms_numba2_blas1", "ratio_2t", "ratio_numba2",
               "met", "floor_ms", "floor_ratio", "floor_agrees", "first_call_ms", "load_1min"]
    return write_and_plot(name, rows, columns, args, notes, threads, load_start, digests,
                          f"{data_name}, {len(users)} users x {passes(args.repeat)}")


def measure_quantised(name, model, users, args):
    """Rows for ``model`` quantised to int8 and to float16 (:func:`minigraphrec.quantize`)."""
    import minigraphrec as mgr
    rows = []
    for dtype in ("int8", "float16"):
        with mgr.threads(1):
            q = mgr.quantize(model, dtype)
        rows.append(measure(f"{name} {dtype}", "quantised", q, users, args))
    return rows


def write_and_plot(name, rows, columns, args, notes, threads, load_start, digests, title):
    measured = "; ".join(f"{s}: {short_threads(threads[s])}" for s in SETTINGS)
    extra = {"target_ratio_2t": TARGET, "k": K, "settings": threads,
             "load_1min_start": load_start, "load_1min_end": round(os.getloadavg()[0], 2),
             "source_digests": digests, "title": title}
    json_path, md_path = write_results(name, rows, columns, out_dir=args.out, notes=notes,
                                       extra=extra, threads=measured)
    print("wrote", json_path, md_path)
    record = json.loads(Path(json_path).read_text())
    plot(record["rows"], name, args.out, record=record)
    return rows


# ------------------------------------------------------------------ figure
def plot(rows, name, out_dir, record=None):
    """``<name>.png``: per model, the median one-user latency of each thread setting (log
    scale; the NumPy floor marked for the embedding models) over the ratio of each 2-thread
    setting to 1 thread, with the target. ``record``, the results JSON drawn from, gives the
    title and names the machine in a footer."""
    from minigraphrec.plot import subplots
    n = len(rows)
    from matplotlib.ticker import FuncFormatter
    fig, (ax, ax_r) = subplots(2, 1, figsize=(max(9.0, 0.62 * n + 2.5), 7.2), sharex=True,
                               gridspec_kw={"height_ratios": [1.6, 1]})
    x = np.arange(n)
    bars = (("ms_1t", "1 thread", "tab:blue"), ("ms_2t", "2 threads (numba + BLAS)",
                                                "tab:orange"),
            ("ms_numba2_blas1", "numba 2, BLAS 1", "tab:green"))
    width = 0.8 / len(bars)
    for j, (key, label, colour) in enumerate(bars):
        ax.bar(x + (j - 1) * width, [r[key] for r in rows], width, label=label, color=colour)
    floors = [(xi, r["floor_ms"]) for xi, r in zip(x, rows) if r.get("floor_ms") is not None]
    if floors:
        ax.scatter([f[0] for f in floors], [f[1] for f in floors], marker="_", s=500,
                   color="black", linewidths=2, zorder=3,
                   label="floor: NumPy V @ u + argpartition (float64, 1 thread)")
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(FuncFormatter(
        lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))        # 2, 5 x 10^k
    ax.set_ylabel(f"median ms per recommend([u], k={K})")
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", frameon=False)
    values = [r[k] for r in rows for k, _, _ in bars] + [f[1] for f in floors]
    ax.set_ylim(min(values) / 1.6, max(values) * 4)
    title = (record or {}).get("title") or name
    ax.set_title(f"One-user serving latency, {title} (medians)", fontsize=10)
    for j, (key, label, colour) in ((1, bars[1]), (2, bars[2])):
        ratio_key = "ratio_2t" if key == "ms_2t" else "ratio_numba2"
        ax_r.bar(x + (j - 1.5) * width * 1.2, [r[ratio_key] for r in rows], width * 1.2,
                 color=colour, label=f"{label} / 1 thread")
    for xi, r in zip(x, rows):
        ax_r.text(xi - 0.5 * width * 1.2, r["ratio_2t"], f"{r['ratio_2t']:.2f}", ha="center",
                  va="bottom", fontsize=7, rotation=90)
    ax_r.axhline(TARGET, color="red", linestyle="--", linewidth=1,
                 label=f"target: 2 threads / 1 thread ≤ {TARGET}")
    ax_r.axhline(1.0, color="0.5", linewidth=0.8)
    worst = max(max(r["ratio_2t"], r["ratio_numba2"]) for r in rows)
    if worst > 4:
        ax_r.set_yscale("log")
        ax_r.set_ylim(0.5, worst * 4)
        ax_r.yaxis.set_major_formatter(plain)
    else:
        ax_r.set_ylim(0, max(worst, TARGET) * 1.4)
    ax_r.set_ylabel("ratio to 1 thread")
    ax_r.legend(fontsize=8, loc="upper left", frameon=False, ncol=3 if n >= 8 else 2)
    ax_r.grid(axis="y", alpha=0.3)
    ax_r.set_xticks(x)
    ax_r.set_xticklabels([r["model"] for r in rows], rotation=40, ha="right", fontsize=8)
    ax_r.set_xlabel("model")
    return save_figure(fig, name, out_dir, record=record)


def main():
    parser = benchmark_parser(
        __doc__.splitlines()[0],
        smoke="synthetic 120 x 300 (ML-100K part) and 400 x 3,000 (Gowalla part) sets, 20 "
              "users, 1 pass, 1 batch round",
        repeat_help="passes over the drawn users; the median of all calls is reported")
    parser.set_defaults(repeat=3)
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="a folder holding ml-100k/ (u.data, u.item, u.user) and "
                             "optionally gowalla/train.txt (required but with --smoke)")
    parser.add_argument("--users", type=int, default=200,
                        help="distinct users served one at a time (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the users drawn")
    parser.add_argument("--block", type=int, default=25,
                        help="users served in a row per setting before the next setting's "
                             "block (default 25)")
    parser.add_argument("--pause", type=float, default=0.25,
                        help="seconds to wait after each 2-thread block, so that OpenBLAS's "
                             "idle workers, which spin about 0.1 s after a threaded call, are "
                             "asleep when the next setting's block starts (default 0.25)")
    parser.add_argument("--batch-repeat", type=int, default=3,
                        help="rounds of the all-users batch call on ML-100K (0: none; "
                             "default 3)")
    parser.add_argument("--parts", nargs="+", choices=("ml100k", "gowalla"),
                        default=["ml100k", "gowalla"], help="what to run (default both; "
                        "gowalla only where --data holds gowalla/train.txt)")
    parser.add_argument("--plot-only", nargs="?", const="serving_ml100k", metavar="NAME",
                        help="redraw <out>/NAME.png from NAME.json (default serving_ml100k); "
                             "run nothing")
    args = parser.parse_args()
    if args.plot_only:
        record = read_record(args.out, args.plot_only)
        return plot(record["rows"], args.plot_only, args.out, record=record)
    require_data(args, "a folder holding ml-100k/ and optionally gowalla/")
    if not args.smoke:
        check_data(Path(args.data), [f"ml-100k/{f}" for f in ML100K_FILES],
                   "a folder holding ml-100k/ and optionally gowalla/")
    if min(args.users, args.repeat, args.block) < 1 or args.batch_repeat < 0 or args.pause < 0:
        script_error("--users, --repeat and --block must be >= 1, --batch-repeat and --pause "
                     ">= 0")
    if args.smoke:
        args.users, args.repeat, args.batch_repeat, args.block, args.pause = 20, 1, 1, 5, 0.01
    load_start = round(os.getloadavg()[0], 2)
    import numba
    if numba.config.NUMBA_NUM_THREADS < 2:
        message = (f"numba's pool holds {numba.config.NUMBA_NUM_THREADS} thread "
                   f"(NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS')}): the 2-thread "
                   f"settings run on 1")
        if not args.smoke:
            script_error(message + "; unset NUMBA_NUM_THREADS for the measurement")
        print(message, flush=True)
    threads = setting_threads()
    digests = source_digests(SOURCES)
    if "ml100k" in args.parts:
        run_ml100k(args, threads, load_start, digests)
    if "gowalla" in args.parts:
        run_gowalla(args, threads, load_start, digests)


if __name__ == "__main__":
    main()
