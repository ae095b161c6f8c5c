r"""Benchmark: the long LightGCN run on Gowalla, resumable, and its Recall@20 curve.

The LightGCN paper reports Recall@20 0.1830 and NDCG@20 0.1554 on its Gowalla split
(He et al., SIGIR 2020, Table 3); its authors' code takes about 1,000 epochs to get there.
That figure comes from their TensorFlow code; their PyTorch port, stopped at 1,000 epochs with
seed 2020, reports Recall@20 0.1824 and NDCG@20 0.1547 (its README), drawn as a second line.
This script trains LightGCN (64 dimensions, 3 layers, BPR, Xavier init) on ``DIR/train.txt``,
evaluates Recall@20 and NDCG@20 on ``DIR/test.txt`` (every user with test items, all items
ranked, training items excluded) every ``--eval-every`` epochs, and saves the model every
``--checkpoint-every`` epochs into ``--checkpoints/<name>/`` (``model.npz`` by
:func:`minigraphrec.io.save`, which holds Adam's moments, the epoch count and the random
generator's state, and ``curve.json``, the evaluations so far). Both are written atomically,
``curve.json`` first: a folder holds a run once it holds ``model.npz``, and then a ``curve.json``
too, so a run (or a branch) stopped at any point can be resumed (or branched again).

Rerunning the same command resumes from the checkpoint (``fit(train, epochs=n,
resume=True)``): the continuation is exact, so a run cut into pieces gives the numbers of one
uninterrupted run (tested in ``tests/test_train.py``); evaluations after the last checkpoint are
recomputed. ``--epochs`` is the total to reach.

Configurations (``--name``): ``paper`` is the paper's setting (Adam lr 1e-3, batches of 2048
triples, reg 1e-4); ``fast`` keeps the model, the loss, reg and the sampling, and changes only
Adam's learning rate and the batch size: the best recipe found so far, lr 0.02, lowered to 0.005
after epoch 10 and to 0.001 after epoch 30, batches of 8192 (see ``PRESETS``; with the default
seed it retraces the committed ``b8192_decay_2threads`` curve). ``--lr`` / ``--batch-size``
override either, under a name of your choice, and ``--lr-schedule 10:0.005,30:0.001`` lowers the
learning rate after the given epochs (``set_params(lr=...)`` between resumed fits; it replaces a
preset's schedule). The seconds on the curve are training seconds (the sum of
the epochs' times, sampling included, evaluation and checkpointing excluded) on a machine
shared with other jobs: each evaluation records the 1-minute load average.

``--branch-from RUN`` starts a new run from ``RUN``'s checkpoint instead of from scratch: the
new run's settings must equal ``RUN``'s except for ``--lr-schedule`` steps at or after the
epoch ``RUN`` has reached (e.g. ``RUN`` with ``10:0.005,30:0.001`` at epoch 544, branched with
``10:0.005,30:0.001,544:0.004``), so the branch's curve is ``RUN``'s up to there, then its own;
the copy records where it came from (``branched_from`` in its ``curve.json`` and report).

``--report NAME ...`` trains nothing: it rewrites ``results/lightgcn_long_<name>.{json,md}``
for each run from its ``curve.json`` (or, where the checkpoint is not on this machine, from the
settings and curve that ``lightgcn_long_<name>.json`` kept), a comparison ``results/lightgcn_long.{json,md}`` (epochs
and seconds each run took to reach given Recall@20 levels) and the plot
``results/lightgcn_long.png`` (Recall@20 against epoch and against training seconds, the
paper's 0.1830 and the port's 0.1824 as lines).

    python benchmarks/bench_lightgcn_long.py --data DIR --name paper \
        --epochs 1000 --threads 1                 # rerun the same line to resume
    python benchmarks/bench_lightgcn_long.py --data DIR --name fast \
        --epochs 1000 --threads 1
    python benchmarks/bench_lightgcn_long.py --report paper fast
    python benchmarks/bench_lightgcn_long.py --smoke --out /tmp/r     # what the tests run

``--smoke``: a small synthetic split, 2 epochs run as 1 + 1 with a save and load between
(checked equal to 2 epochs straight), in a temporary folder.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import (LIGHTGCN_FILES, REPO, benchmark_parser, check_data, copy_file,
                     machine_info, provenance, recorded_command, script_error, write_results,
                     write_text)

DIM, N_LAYERS, REG = 64, 3, 1e-4
PAPER = {"recall@20": 0.1830, "ndcg@20": 0.1554}        # LightGCN paper, Table 3, Gowalla
#: the authors' PyTorch port (github.com/gusye1234/LightGCN-PyTorch, README, "pytorch version
#: results (stop at 1000 epochs)", seed 2020, 3 layers): the paper's figure is its TF code's
PORT = {"recall@20": 0.1824, "ndcg@20": 0.1547}
PRESETS = {"paper": {"lr": 1e-3, "batch_size": 2048},
           "fast": {"lr": 2e-2, "batch_size": 8192, "lr_schedule": [[10, 5e-3], [30, 1e-3]]}}
LEVELS = (0.10, 0.15, 0.17, 0.18, 0.1824, 0.1830)   # Recall@20 levels in the comparison
CHECKPOINTS = REPO / "benchmarks" / "checkpoints"


def _write_json(path, data):
    """Write ``data`` as JSON to ``path`` atomically (:func:`_common.write_text`: a temporary
    file beside it, then a rename; the mode a plain ``open`` would give)."""
    write_text(path, json.dumps(data, indent=1))


def _config(args):
    base = dict(PRESETS.get(args.name, {}))
    if args.lr is not None:
        base["lr"] = args.lr
    if args.batch_size is not None:
        base["batch_size"] = args.batch_size
    if not {"lr", "batch_size"} <= set(base):
        sys.exit(f"--name {args.name!r} is not a preset ({', '.join(PRESETS)}): give --lr and "
                 "--batch-size")
    config = {"dim": DIM, "n_layers": N_LAYERS, "reg": REG, "loss": "bpr", "init": "xavier",
              "dtype": "float32", "random_state": args.seed, **base}
    if args.lr_schedule:                       # "10:0.005,30:0.001": after epoch 10, lr 0.005
        try:
            steps = [[int(e), float(lr)] for e, lr in
                     (item.split(":") for item in args.lr_schedule.split(","))]
        except ValueError:
            sys.exit(f"--lr-schedule must look like 10:0.005,30:0.001, got {args.lr_schedule!r}")
        config["lr_schedule"] = sorted(steps)
    return config


def _lr_after(config, done):
    """The learning rate of the epochs after epoch ``done``: the schedule's last step <= done."""
    lr = config["lr"]
    for epoch, value in config.get("lr_schedule", []):
        if done >= epoch:
            lr = value
    return lr


def _evaluate(model, test):
    import minigraphrec as mgr
    t0 = time.perf_counter()
    scores = mgr.metrics.evaluate(model, test, k=20, metrics=["recall", "ndcg"])
    return scores["recall@20"], scores["ndcg@20"], time.perf_counter() - t0


def branch(source, folder, config):
    """Copy the run in ``source`` into the new run ``folder`` (settings ``config``).

    ``config`` must equal the source's but for learning-rate steps at or after the epoch the
    source has reached (a step at epoch ``e`` sets the rate of the epochs after ``e``). The
    copy's curve keeps the source's evaluations and names it. Refuses to overwrite a run.

    The copy's ``curve.json`` is written before its ``model.npz`` (a folder without
    ``model.npz`` holds no run, and can be branched into again); a failure removes both
    (and the folder, where this call made it and it is left empty).
    """
    source, folder = Path(source), Path(folder)
    if (folder / "model.npz").exists():
        sys.exit(f"{folder} holds a run already; --branch-from only starts new runs")
    if not (source / "model.npz").exists():
        sys.exit(f"--branch-from: no checkpoint in {source}")
    curve = json.loads((source / "curve.json").read_text())
    import minigraphrec as mgr
    done = len(mgr.load(source / "model.npz").history_)
    old, new = dict(curve["config"]), dict(config)
    old_steps, new_steps = old.pop("lr_schedule", []), new.pop("lr_schedule", [])
    if old != new or [s for s in new_steps if s[0] < done] != \
            [s for s in old_steps if s[0] < done]:          # a step at e acts after epoch e
        sys.exit(f"--branch-from {source.name}: the settings must be {curve['config']} up to "
                 f"epoch {done} (only later --lr-schedule steps may differ), got {config}")
    curve["config"] = config
    curve["branched_from"] = {"run": source.name, "epoch": done, "command": curve["command"]}
    curve["command"] = provenance()["command"]
    curve["rows"] = [r for r in curve["rows"] if r["epoch"] <= done]
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        _write_json(folder / "curve.json", curve)        # first: model.npz marks a run
        copy_file(source / "model.npz", folder / "model.npz")
    except BaseException:
        if not (folder / "model.npz").exists():
            (folder / "curve.json").unlink(missing_ok=True)
            if made and not any(folder.iterdir()):
                folder.rmdir()
        raise
    return done


def train_run(train, test, config, folder, epochs, eval_every, checkpoint_every, log=print):
    """Train (or resume) the run in ``folder`` up to ``epochs``; return its curve dict."""
    import minigraphrec as mgr
    from minigraphrec.models import LightGCN

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model_path, curve_path = folder / "model.npz", folder / "curve.json"
    if model_path.exists() and not curve_path.exists():
        # left by an older version of this script, which saved model.npz before curve.json
        if len(mgr.load(model_path).history_):
            sys.exit(f"{folder} holds {model_path.name} but no curve.json (a --branch-from copy "
                     f"that was interrupted): delete {folder} and branch again")
        log(f"{folder.name}: {model_path.name} at epoch 0 without curve.json (a start that was "
            "interrupted): starting the run afresh")
        model_path.unlink()
    if model_path.exists():
        model = mgr.load(model_path)
        curve = json.loads(curve_path.read_text())
        if curve["config"] != config:
            sys.exit(f"{folder} holds a run with {curve['config']}, not {config}; use another "
                     "--name or --checkpoints folder")
        done = len(model.history_)
        curve["rows"] = [r for r in curve["rows"] if r["epoch"] <= done]
        log(f"resuming {folder.name} at epoch {done}")
    else:
        if curve_path.exists():                 # a start or a branch that was interrupted
            stale = json.loads(curve_path.read_text())
            if "branched_from" in stale:
                sys.exit(f"{folder} holds the start of a branch from run "
                         f"{stale['branched_from']['run']} that was interrupted: rerun with "
                         f"--branch-from {stale['branched_from']['run']}, or delete {folder}")
            if stale["rows"]:                   # a run whose model.npz was deleted: keep it
                sys.exit(f"{curve_path} holds evaluations but there is no {model_path.name} "
                         "to resume from: use another --name, or delete the folder")
            log(f"{folder.name}: curve.json without model.npz (a start that was interrupted): "
                "starting the run afresh")
        model = LightGCN(**{k: v for k, v in config.items() if k != "lr_schedule"})
        model.fit(train, epochs=0)
        done = 0
        curve = {"config": config, "command": provenance()["command"], "rows": []}
        _write_json(curve_path, curve)          # first: a folder with model.npz has a curve
        model.save(model_path)
    trained_on, cpu = curve.setdefault("trained_on", []), machine_info()["cpu"]
    if cpu not in trained_on:                           # the CPUs that trained it, in order
        trained_on.append(cpu)
    # import every module evaluation needs now, on a few test pairs: a run of hours must not
    # load half of them at its start and half later (they may change on disk meanwhile)
    few = mgr.Interactions(test.users[:5], test.items[:5], n_users=test.n_users,
                           n_items=test.n_items)
    mgr.metrics.evaluate(model, few, k=20, metrics=["recall", "ndcg"])
    # the checkpoint is saved before the evaluation, so a failing evaluation loses no training;
    # a checkpoint whose evaluation is missing (the run stopped in between) is evaluated first
    due = done % eval_every == 0 or done == epochs
    if due and not any(r["epoch"] == done for r in curve["rows"]):
        _evaluate_into(curve, model, test, done, folder.name, log)
        _write_json(curve_path, curve)
    while done < epochs:
        stop = min([epochs, (done // eval_every + 1) * eval_every,
                    (done // checkpoint_every + 1) * checkpoint_every]
                   + [e for e, _ in config.get("lr_schedule", []) if e > done])
        model.set_params(lr=_lr_after(config, done))      # a resumed fit may change the lr
        model.fit(train, epochs=stop - done, resume=True)
        done = stop
        if done % checkpoint_every == 0 or done == epochs:
            model.save(model_path)
        if done % eval_every == 0 or done == epochs:
            _evaluate_into(curve, model, test, done, folder.name, log)
        _write_json(curve_path, curve)
    return curve


def _evaluate_into(curve, model, test, done, name, log):
    """Evaluate ``model`` (after ``done`` epochs) and append the row to ``curve``."""
    import numba
    recall, ndcg, t_eval = _evaluate(model, test)
    row = {"epoch": done, "train_s": float(sum(r["time"] for r in model.history_)),
           "recall@20": recall, "ndcg@20": ndcg,
           "loss": model.history_[-1]["loss"] if model.history_ else None,
           "eval_s": t_eval, "load": os.getloadavg()[0], "threads": numba.get_num_threads()}
    curve["rows"].append(row)
    log(f"{name} epoch {done}: recall@20 {recall:.4f} ndcg@20 {ndcg:.4f} "
        f"train {row['train_s']:.0f} s load {row['load']:.2f}")


def _thread_stretches(rows):
    """``" (2 to epoch 544, then 1 from epoch 560)"``: the numba thread counts the run used, in
    order; empty when it used one count throughout or none was recorded."""
    spans = []
    for r in rows:
        t = r.get("threads")
        if t and (not spans or spans[-1][0] != t):
            spans.append([t, r["epoch"], r["epoch"]])
        elif t:
            spans[-1][2] = r["epoch"]
    if len(spans) < 2:
        return ""
    parts = [f"{spans[0][0]} to epoch {spans[0][2]}"]
    parts += [f"{t} from epoch {first}" for t, first, _ in spans[1:]]
    return " (" + ", then ".join(parts) + ")"


def _reached(rows, level, metric="recall@20"):
    """The first evaluation with ``metric`` >= level, or None."""
    return next((r for r in rows if r[metric] >= level), None)


def report(names, checkpoints, out, data_name, stem="lightgcn_long"):
    """Per-run tables (``<stem>_<run>``), the comparison table (``<stem>``) and the plot, from
    each run's ``curve.json``."""
    curves = {name: _curve(name, checkpoints, out, stem) for name in names}
    summary = []
    for name, curve in curves.items():
        c, rows = curve["config"], curve["rows"]
        best = max(rows, key=lambda r: r["recall@20"])
        label = _label(name, c)
        stretches = _thread_stretches(rows)
        notes = (f"{data_name}: LightGCN {c['dim']} dims, {c['n_layers']} layers, BPR, reg "
                 f"{c['reg']}, Adam lr {c['lr']}, batch {c['batch_size']}, {c['dtype']}, seed "
                 f"{c['random_state']} ({label}). Recall@20 / NDCG@20 on test.txt, all items "
                 f"ranked, training items excluded. train_s: cumulative training seconds (sum of "
                 f"epoch times; evaluation excluded); load: 1-min load average at the "
                 f"evaluation (2 cores shared with other jobs); threads: numba threads training "
                 f"(blank where not recorded){stretches}. Trained by `{curve['command']}` on "
                 f"{' then '.join(curve['trained_on'])} (the command above); this table was "
                 f"written from the run's curve by `{recorded_command()}`. "
                 f"Paper (Table 3): Recall@20 {PAPER['recall@20']}, NDCG@20 {PAPER['ndcg@20']}. "
                 f"Best so far: recall@20 {best['recall@20']:.4f} at epoch {best['epoch']}, the "
                 f"highest of the {len(rows)} evaluations on the test set (chosen on the test "
                 f"set, so optimistic; no validation split)."
                 + (" Branched from run {run} at epoch {epoch} (its curve up to there is that "
                    "run's; trained by `{command}`).".format(**curve["branched_from"])
                    if "branched_from" in curve else ""))
        run = {k: curve[k] for k in ("config", "command", "branched_from", "trained_on")
               if k in curve}
        write_results(f"{stem}_{name}", rows, ["epoch", "train_s", "recall@20", "ndcg@20",
                                                      "loss", "eval_s", "load", "threads"],
                      out_dir=out, notes=notes, extra={"run": run}, command=curve["command"])
        loads = [r["load"] for r in rows if r.get("load") is not None]
        row = {"run": name, "cpu": " then ".join(curve["trained_on"]),
               "lr": c["lr"], "batch_size": c["batch_size"],
               "epochs": rows[-1]["epoch"], "train_s": rows[-1]["train_s"],
               "median_load": float(np.median(loads)) if loads else None,
               "recall@20": rows[-1]["recall@20"], "ndcg@20": rows[-1]["ndcg@20"],
               "best_recall@20": best["recall@20"], "best_epoch": best["epoch"]}
        for level in LEVELS:
            hit = _reached(rows, level)
            row[f"reach {level}"] = "-" if hit is None else \
                f"ep {hit['epoch']}, {hit['train_s'] / 3600:.2f} h"
        hit = _reached(rows, PAPER["ndcg@20"], "ndcg@20")
        row[f"ndcg reach {PAPER['ndcg@20']}"] = "-" if hit is None else \
            f"ep {hit['epoch']}, {hit['train_s'] / 3600:.2f} h"
        summary.append(row)
    columns = ["run", "cpu", "lr", "batch_size", "epochs", "train_s", "median_load", "recall@20",
               "ndcg@20",
               "best_recall@20", "best_epoch"] + [f"reach {lv}" for lv in LEVELS] \
        + [f"ndcg reach {PAPER['ndcg@20']}"]
    write_results(stem, summary, columns, out_dir=out,
                  notes=(f"{data_name}, LightGCN, BPR; model settings per run in "
                         "lightgcn_long_<run>.md, with the command that trained it. 'reach "
                         "x': the first evaluation on the test set with Recall@20 >= x, as "
                         "epoch and training hours "
                         f"('ndcg reach {PAPER['ndcg@20']}': the same for the paper's "
                         "NDCG@20). "
                         "best_recall@20: the highest of the run's test evaluations (chosen "
                         "on the test set, so optimistic). "
                         "median_load: the median 1-min load average at the run's evaluations "
                         "(2 cores: a load well above 2 means the run shared them, and its "
                         "hours are longer than the same run alone). "
                         "Runs still going are cut at their last evaluation. Paper: Recall@20 "
                         f"{PAPER['recall@20']} (about 1,000 epochs of the authors' code); the authors' "
                         f"PyTorch port, stopped at 1,000 epochs (seed 2020): Recall@20 "
                         f"{PORT['recall@20']}, NDCG@20 {PORT['ndcg@20']} (its README)."))
    _plot(curves, out, data_name, stem)
    return summary


def _curve(name, checkpoints, out, stem="lightgcn_long"):
    """Run ``name``'s curve: its checkpoint's ``curve.json``, or else the one its last report
    kept in ``<out>/<stem>_<name>.json`` (checkpoints stay on the machine that trained)."""
    path = Path(checkpoints) / name / "curve.json"
    if path.exists():              # a checkpoint stays where it was trained: this machine's CPU
        curve = json.loads(path.read_text())
        if not curve["rows"]:
            sys.exit(f"run {name!r} has no evaluation yet ({path}): resume it first")
        return {"trained_on": [machine_info()["cpu"]], **curve}
    kept = Path(out) / f"{stem}_{name}.json"
    if kept.exists():
        data = json.loads(kept.read_text())
        if "run" in data:          # reports before "trained_on" were written beside the run
            return {"trained_on": [data["machine"]["cpu"]], **data["run"], "rows": data["rows"]}
    sys.exit(f"no run {name!r}: neither {path} nor a report of it in {kept}")


def _label(name, c):
    paper = PRESETS["paper"]
    same = c["lr"] == paper["lr"] and c["batch_size"] == paper["batch_size"]
    sched = "".join(f" -> {lr:g} after ep {e}" for e, lr in c.get("lr_schedule", []))
    return (f"{name}: lr {c['lr']:g}{sched}, batch {c['batch_size']}"
            + (" (the paper's settings)" if same and not sched else " (not the paper's)"))


def _short_cpu(name):
    """'Intel(R) Xeon(R) Processor' -> 'Intel Xeon': the legend's name for a CPU."""
    return " ".join(w for w in name.replace("(R)", "").replace("(TM)", "").split()
                    if w not in ("Processor", "CPU")) or name


#: Recall@20 range of the plot's lower, zoomed row: the approach to the paper's figure
ZOOM = (0.165, 0.186)


def _plot(curves, out, data_name, stem="lightgcn_long"):
    """Recall@20 against epoch (left) and training hours (right); the lower row zooms in."""
    from minigraphrec import plot
    os.environ[plot.FIGURES_ENV] = str(out)
    fig, axes = plot.subplots(2, 2, figsize=(12, 10), sharex="col")
    for name, curve in curves.items():
        rows = curve["rows"]
        ep = [r["epoch"] for r in rows]
        hours = [r["train_s"] / 3600 for r in rows]
        rec = [r["recall@20"] for r in rows]
        loads = [r["load"] for r in rows if r.get("load") is not None]
        lbl = _label(name, curve["config"])
        if loads:
            lbl += f", load {min(loads):.0f}-{max(loads):.0f}"
        threads = [t for t in (r.get("threads") for r in rows) if t]
        threads = [t for i, t in enumerate(threads) if i == 0 or t != threads[i - 1]]
        if threads:                                   # each stretch, in the order of use
            lbl += ", " + " then ".join(map(str, threads)) + " thread(s)"
        lbl += ", " + " then ".join(_short_cpu(c) for c in curve["trained_on"])
        if "branched_from" in curve:                 # drawn dashed: the runs coincide at first
            b = curve["branched_from"]
            lbl += f"; = {b['run']} to ep {b['epoch']}"
        style = "--" if "branched_from" in curve else "-"
        for row_axes in axes:
            line, = row_axes[0].plot(ep, rec, style, marker=".", markersize=3)
            row_axes[1].plot(hours, rec, style, marker=".", markersize=3, color=line.get_color())
        line.set_label(lbl)
    for ax in axes.flat:
        ax.axhline(PAPER["recall@20"], color="grey", linestyle=":", linewidth=1.2)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_ylim(*ZOOM)
        ax.axhline(PORT["recall@20"], color="black", linestyle="-.", linewidth=0.9)
    axes[1, 0].plot([], [], ":", color="grey",
                    label="the paper's Recall@20, 0.1830 (~1,000 epochs)")
    axes[1, 0].plot([], [], "-.", color="black", linewidth=0.9,
                    label="the authors' PyTorch port at 1,000 epochs, seed 2020: 0.1824 "
                          "(its README)")
    axes[1, 0].set_xlabel("epoch")
    axes[1, 1].set_xlabel("training hours (2 cores; evaluation excluded)")
    for ax in axes[:, 0]:
        ax.set_ylabel("Recall@20 (test)")
    axes[0, 0].set_title(f"LightGCN on {data_name.split('/')[-1]}: Recall@20 by epoch")
    axes[0, 1].set_title("... and by training time")
    axes[1, 0].set_title(f"zoom: Recall@20 {ZOOM[0]}-{ZOOM[1]}", fontsize=10)
    axes[1, 1].set_title(f"zoom: Recall@20 {ZOOM[0]}-{ZOOM[1]}", fontsize=10)
    fig.legend(loc="outside lower center", ncol=1, fontsize=8)
    print("wrote", plot.save_figure(fig, stem))


#: the smoke run's file stem: lightgcn_long_smoke.*, lightgcn_long_smoke_smoke*.*, never a
#: real report's name
STEM_SMOKE = "lightgcn_long_smoke"


def smoke(args):
    """1 + 1 epochs with a save and load between, checked equal to 2 epochs straight."""
    import minigraphrec as mgr
    from minigraphrec.datasets import synthetic
    from minigraphrec.models import LightGCN
    from minigraphrec.split import random_split

    data = synthetic(n_users=300, n_items=400, mean_interactions=12, random_state=0)
    train, test = random_split(data, test_size=0.2, random_state=0)
    config = {**_config(args), "dim": 16, "n_layers": 2, "batch_size": 256, "lr": 0.01}
    with tempfile.TemporaryDirectory() as tmp:
        train_run(train, test, config, Path(tmp) / "smoke", 1, 1, 1)
        curve = train_run(train, test, config, Path(tmp) / "smoke", 2, 1, 1)      # resumes
        assert curve["trained_on"] == [machine_info()["cpu"]], curve.get("trained_on")
        resumed = mgr.load(Path(tmp) / "smoke" / "model.npz")
        straight = LightGCN(**config).fit(train, epochs=2)
        assert np.array_equal(resumed.params["E0"], straight.params["E0"]), "resume not exact"
        print("resumed 1 + 1 epochs == 2 epochs straight: True")
        # a branch at epoch 2 with a later lr step: the source's curve, then its own epochs
        branched = {**config, "lr_schedule": [[2, 0.02]]}
        try:
            branch(Path(tmp) / "smoke", Path(tmp) / "wrong", {**config, "lr": 0.5})
            raise AssertionError("a branch with other settings was accepted")
        except SystemExit:
            pass
        assert branch(Path(tmp) / "smoke", Path(tmp) / "smoke-branch", branched) == 2
        curve = train_run(train, test, branched, Path(tmp) / "smoke-branch", 3, 1, 1)
        assert curve["branched_from"]["run"] == "smoke" and len(curve["rows"]) == 4
        straight.set_params(lr=0.02)
        straight.fit(train, epochs=1, resume=True)
        got = mgr.load(Path(tmp) / "smoke-branch" / "model.npz").params["E0"]
        assert np.array_equal(got, straight.params["E0"]), "branch not exact"
        print("branched at 2, lr 0.02 for epoch 3 == the same schedule straight: True")
        first = report(["smoke", "smoke-branch"], tmp, args.out, "synthetic-300x400", STEM_SMOKE)
    # the checkpoints went with the temporary folder: the report is rebuilt from the results
    assert report(["smoke", "smoke-branch"], tmp, args.out, "synthetic-300x400",
                  STEM_SMOKE) == first
    print("report rebuilt from the results alone: True")


def main():
    parser = benchmark_parser(
        "the long LightGCN run on Gowalla, resumable", repeat=False,
        smoke="on a synthetic 300 x 400 set: 1 + 1 epochs with a save and load between, "
              "checked equal to 2 epochs straight, a branch, and the report")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="LightGCN-format folder (train.txt, test.txt); required but with "
                             "--report or --smoke")
    parser.add_argument("--name", default="paper",
                        help=f"run name; presets {', '.join(PRESETS)} (default paper)")
    parser.add_argument("--lr", type=float, help="Adam learning rate (overrides the preset)")
    parser.add_argument("--batch-size", type=int, help="BPR triples per batch (overrides)")
    parser.add_argument("--lr-schedule", help="lr steps, e.g. 10:0.005,30:0.001 (after epoch "
                        "10, lr 0.005; after 30, 0.001); applied on resuming fit")
    parser.add_argument("--epochs", type=int, default=1000, help="total epochs to reach")
    parser.add_argument("--eval-every", type=int, default=10,
                        help="evaluate on test.txt every N epochs, and at the last (default 10)")
    parser.add_argument("--checkpoint-every", type=int, default=10,
                        help="save a resumable checkpoint every N epochs, and at the last "
                             "(default 10)")
    parser.add_argument("--checkpoints", type=Path, default=CHECKPOINTS,
                        help="folder of the runs' checkpoint folders (default "
                             "benchmarks/checkpoints, git-ignored)")
    parser.add_argument("--threads", type=int, default=2,
                        help="numba and BLAS threads (mgr.threads; default 2)")
    parser.add_argument("--seed", type=int, default=2020,
                        help="model seed: initialisation and triples (default 2020)")
    parser.add_argument("--report", nargs="+", metavar="NAME",
                        help="only write the tables and the plot of these runs")
    parser.add_argument("--branch-from", metavar="RUN",
                        help="start this new run from RUN's checkpoint (same settings up to "
                             "RUN's epoch; later --lr-schedule steps may differ)")
    args = parser.parse_args()
    if args.smoke:
        return smoke(args)
    data_name = "DATA/" + (args.data.name if args.data else "gowalla")
    if args.report:
        return report(args.report, args.checkpoints, args.out, data_name)
    if args.data is None:
        script_error("give --data DIR (train.txt and test.txt in LightGCN format), --report or "
                     "--smoke")
    check_data(args.data, LIGHTGCN_FILES, "a LightGCN-format folder")
    if args.branch_from and not (args.checkpoints / args.name / "model.npz").exists() \
            and not (args.checkpoints / args.branch_from / "model.npz").exists():
        script_error(f"--branch-from: no checkpoint in {args.checkpoints / args.branch_from}")
    import minigraphrec as mgr
    config = _config(args)
    train, test = mgr.datasets.load_lightgcn(args.data / "train.txt", args.data / "test.txt")
    if args.branch_from and not (args.checkpoints / args.name / "model.npz").exists():
        at = branch(args.checkpoints / args.branch_from, args.checkpoints / args.name, config)
        print(f"{args.name}: branched from {args.branch_from} at epoch {at}", flush=True)
    # (rerunning the same command resumes the branch, as any run)
    with mgr.threads(args.threads):
        train_run(train, test, config, args.checkpoints / args.name, args.epochs,
                  args.eval_every, args.checkpoint_every,
                  log=lambda s: print(time.strftime("%H:%M:%S"), s, flush=True))
    report(_runs(args.checkpoints), args.checkpoints, args.out, data_name)  # every run there


def _runs(checkpoints):
    """The runs in ``checkpoints`` that can be reported: a ``curve.json`` with at least one
    evaluation (not a start that was interrupted)."""
    return sorted(d.name for d in Path(checkpoints).iterdir() if (d / "curve.json").exists()
                  and json.loads((d / "curve.json").read_text())["rows"])


if __name__ == "__main__":
    main()
