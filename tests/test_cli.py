"""The `minigraphrec` command, end to end on small files it writes itself."""
import json
import os
import re

import numpy as np
import pytest

import minigraphrec as mgr
from minigraphrec.cli import main


def _write_triples(path, n_users=40, n_items=30, seed=0):
    """Two taste groups with string ids, so raw ids must survive the round trip."""
    rng = np.random.default_rng(seed)
    lines = ["user,item,rating,timestamp"]
    for u in range(n_users):
        group = u % 2
        items = rng.choice(np.arange(group, n_items, 2), size=8, replace=False)
        lines += [f"user{u},item{i},{rng.integers(1, 6)},{1000 + 10 * u + int(i)}" for i in items]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_demo_prints_a_table_and_recommendations(capsys):
    assert main(["demo", "--models", "popularity", "lightgcn", "--epochs", "2"]) == 0
    out, err = capsys.readouterr()
    assert "recall@20" in out and "Popularity" in out and "LightGCN" in out
    assert "top-5 for users" in out
    assert "LightGCN epoch    2" in err and "[1/4] generating" in err      # progress: stderr
    assert "epoch" not in out and "[1/4]" not in out and "done in" not in out


def test_train_evaluate_recommend_round_trip(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    model_path = tmp_path / "model.npz"
    assert main(["train", str(data), "--model", "lightgcn", "--epochs", "3", "--dim", "8",
                 "--test-size", "0.2", "--seed", "1", "-q", "-o", str(model_path)]) == 0
    out = capsys.readouterr().out
    assert "recall@20" in out and model_path.exists()

    model = mgr.load(model_path)
    assert type(model).__name__ == "LightGCN" and model.dim == 8 and model.epochs == 3
    assert model.user_ids_[0] == "user0"

    assert main(["evaluate", str(model_path), str(data), "-k", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = dict(line.split() for line in out[2:-1])             # after header and rule
    n_users = mgr.evaluate(model, mgr.datasets.load_triples(data), k=(5,))["n_users"]
    assert "recall@5" in rows and "n_users" not in rows          # a count is not a metric
    assert out[-1] == f"(averaged over {n_users:,} test users)"

    assert main(["recommend", str(model_path), "--user", "user3", "-k", "4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "user user3:" and len(out) == 5
    shown = [line.split()[2] for line in out[1:]]                   # "1. item item7 score ..."
    u = int(np.flatnonzero(model.user_ids_ == "user3")[0])
    items, _ = model.recommend([u], k=4)
    assert shown == [str(model.item_ids_[i]) for i in items[0]]     # raw ids out, same ranking
    seen = set(model.item_ids_[model.R_[u].indices])
    assert not seen & set(shown)                                     # training items excluded


def test_recommend_prints_movielens_titles(tmp_path, capsys):
    folder = tmp_path / "ml"
    folder.mkdir()
    rng = np.random.default_rng(0)
    (folder / "u.user").write_text("".join(f"{u}|30|F|writer|00000\n" for u in range(1, 21)))
    (folder / "u.item").write_text("".join(f"{i}|Film {i} (1990)|01-Jan-1990||x|" + "|".join("0" * 19)
                                           + "\n" for i in range(1, 16)))
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t4\t{n}\n" for n, (u, i) in enumerate(
        {(int(u), int(i)) for u, i in zip(rng.integers(1, 21, 120), rng.integers(1, 16, 120))})))
    path = tmp_path / "m.npz"
    assert main(["train", str(folder), "--model", "itemknn", "-o", str(path), "-q"]) == 0
    capsys.readouterr()
    assert main(["recommend", str(path), "--user", "3", "-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert len(lines) == 2
    for line in lines:                                  # "1. item 7  score 1.2345  Film 7 (1990)"
        raw = line.split()[2]
        assert line.endswith(f"Film {raw} (1990)")
    assert main(["recommend", str(path), "--user", "3", "-k", "2", "--json"]) == 0
    (got,) = json.loads(capsys.readouterr().out)["recommendations"]
    assert got["user"] == 3 and got["titles"] == [f"Film {i} (1990)" for i in got["items"]]
    assert [str(i) for i in got["items"]] == [line.split()[2] for line in lines]


@pytest.mark.parametrize("name", ["popularity", "itemknn", "ease"])
def test_train_any_model_by_name(tmp_path, capsys, name):
    data = _write_triples(tmp_path / "ratings.csv")
    path = tmp_path / f"{name}.npz"
    assert main(["train", str(data), "--model", name, "--test-size", "0.2", "--seed", "0",
                 "-o", str(path)]) == 0
    assert "recall@20" in capsys.readouterr().out
    assert main(["recommend", str(path), "--user", "user0", "-k", "3"]) == 0


def test_recommend_unknown_user_names_it(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    path = tmp_path / "m.npz"
    main(["train", str(data), "--model", "popularity", "-o", str(path)])
    capsys.readouterr()
    code, _, err = _run(["recommend", str(path), "--user", "user1", "nobody"], capsys)
    assert code == 2 and err.startswith("minigraphrec: --user: user 'nobody' is not known "
                                        "to the model (40 users, e.g. user0, user1, user")


def test_malformed_file_is_a_clear_error_and_exit_code_2(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("u1,i1,5\nu2,i2,nan\n")
    assert main(["train", str(bad), "--model", "popularity"]) == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and "line 2" in err


def test_unknown_model_and_bad_param(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    with pytest.raises(SystemExit):
        main(["train", str(data), "--model", "nope"])
    assert "invalid choice: 'nope'" in capsys.readouterr().err
    code, _, err = _run(["train", str(data), "--model", "ease", "-p", "bogus=1"], capsys)
    assert code == 2 and re.search("no hyperparameter 'bogus'", err)


def test_train_hybrid_with_tuned_weights(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    assert main(["train", str(data), "--model", "hybrid", "-p", "models=itemknn,userknn",
                 "-p", "weights=tune", "--test-size", "0.2", "--seed", "0", "-q"]) == 0
    assert "recall@20" in capsys.readouterr().out
    saved = tmp_path / "h.npz"
    assert main(["train", str(data), "--model", "hybrid", "-p", "models=itemknn,userknn",
                 "-p", "weights=tune", "-o", str(saved), "-q"]) == 0
    capsys.readouterr()
    assert main(["recommend", str(saved), "--user", "user1", "-k", "3"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) >= 3
    code, _, err = _run(["train", str(data), "--model", "hybrid", "-p", "models=itemknn,nope"], capsys)
    assert code == 2 and re.search("holds 'nope', not the name of a component model", err)


def test_bad_hyperparameter_value_is_a_clear_error(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    assert main(["train", str(data), "--model", "lightgcn", "--epochs", "1",
                 "-p", "edge_weights=time_decay"]) == 2      # no half_life
    assert "half_life" in capsys.readouterr().err


def test_help_lists_every_model_with_a_line(capsys):
    from minigraphrec.cli import MODEL_HELP, _model_registry
    assert set(MODEL_HELP) == set(_model_registry())
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for name, text in MODEL_HELP.items():
        assert name in out and text[:30] in " ".join(out.split())
    assert "--format triples" not in out and "cut-offs of the metrics" in out


def test_model_names_are_case_insensitive(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    assert main(["train", str(data), "--model", "Popularity", "-q"]) == 0


def test_errors_name_the_flag_that_fixes_them(tmp_path, capsys):
    train = tmp_path / "train.txt"
    train.write_text("0 1 2\n1 0\n")
    test = tmp_path / "test.txt"
    test.write_text("0 5\n1 2\n")                              # item 5 unknown to training
    assert main(["train", str(train), "--test", str(test), "--model", "popularity"]) == 2
    err = capsys.readouterr().err
    assert "--on-unknown drop" in err and "on_unknown=" not in err and "--format" not in err
    assert main(["train", str(train), "--test", str(test), "--model", "popularity",
                 "--on-unknown", "drop", "-q"]) == 0
    capsys.readouterr()
    triples = tmp_path / "ratings.txt"
    triples.write_text("u1 i1 4.5\nu2 i2\n")                    # triples in a .txt file
    assert main(["train", str(triples), "--model", "popularity"]) == 2
    assert "pass --format triples" in capsys.readouterr().err
    triples.write_text("u1 i1 4.5\nu2 i2 3\n")                  # 3 fields on every line
    assert main(["train", str(triples), "--model", "popularity"]) == 2
    assert "give --format lightgcn or --format triples" in capsys.readouterr().err
    assert main(["train", str(triples), "--model", "popularity", "--format", "triples",
                 "-q"]) == 0


def test_explain_prints_contributions_in_raw_ids(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    path = tmp_path / "itemknn.npz"
    assert main(["train", str(data), "--model", "itemknn", "-q", "-o", str(path)]) == 0
    capsys.readouterr()
    model = mgr.load(path)
    u = int(np.flatnonzero(model.user_ids_ == "user3")[0])
    items, _ = model.recommend([u], k=1)
    raw_item = str(model.item_ids_[items[0, 0]])
    assert main(["explain", str(path), "--user", "user3", "--item", raw_item, "--k", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    e = model.explain(u, int(items[0, 0]), k=None)
    assert out[0] == f"ItemKNN: score of item {raw_item} for user user3: {e.score:.6g} (exact)"
    body = [line.split() for line in out[4:]]                       # after header and rule
    shown = [(row[1], float(row[2])) for row in body if row[0] == "item"]
    assert shown == [(str(model.item_ids_[j]), float(f"{c:.6g}"))
                     for j, c in zip(e.sources, e.contributions)]   # every one, raw ids
    assert {s for s, _ in shown} <= set(model.item_ids_[model.R_[u].indices])
    assert body[-1][0] == "total" and float(body[-1][1]) == pytest.approx(e.score, rel=1e-5)
    assert main(["explain", str(path), "--user", "user3", "--item", raw_item, "--k", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("\nitem ") == 2 and "(others)" in out


def test_explain_errors_name_the_flag(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    path = tmp_path / "ease.npz"
    main(["train", str(data), "--model", "ease", "-q", "-o", str(path)])
    code, _, err = _run(["explain", str(path), "--user", "nobody", "--item", "item1"], capsys)
    assert code == 2 and re.search("--user: user 'nobody' is not known", err)
    code, _, err = _run(["explain", str(path), "--user", "user1", "--item", "item999"], capsys)
    assert code == 2 and re.search("--item: item 'item999' is not in the model's catalogue", err)
    code, _, err = _run(["explain", str(path), "--user", "user1", "--item", "item1", "--k", "-1"], capsys)
    assert code == 2 and re.search("--k must be", err)
    hybrid = tmp_path / "hybrid.npz"
    main(["train", str(data), "--model", "hybrid", "-q", "-o", str(hybrid)])
    code, _, err = _run(["explain", str(hybrid), "--user", "user1", "--item", "item1"], capsys)
    assert code == 2 and re.search("Hybrid does not explain", err)


def test_explain_user_based_model_lists_neighbours(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    path = tmp_path / "userknn.npz"
    main(["train", str(data), "--model", "userknn", "-q", "-o", str(path)])
    capsys.readouterr()
    assert main(["explain", str(path), "--user", "user2", "--item", "item4"]) == 0
    out = capsys.readouterr().out
    assert "exact: s_ui = Σ_v W_uv R_vi" in out and "\nuser user" in out


def _run(argv, capsys):
    """``main(argv)`` as the shell sees it: (exit status, stdout, stderr + SystemExit text)."""
    try:
        code = main(argv)
    except SystemExit as exc:                # argparse errors and the CLI's own checks
        code = exc.code
    out, err = capsys.readouterr()
    if isinstance(code, str):
        code, err = 1, err + code
    return code, out, err


def test_diverging_training_is_a_clear_error(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    path = tmp_path / "mf.npz"
    code, out, err = _run(["train", str(data), "--model", "mf", "--lr", "1e30", "--epochs", "3",
                           "-q", "-o", str(path)], capsys)
    assert code == 2 and out == ""
    assert err.splitlines()[-1].startswith("minigraphrec: error: MF: the loss became non-finite")
    assert "smaller lr" in err and not path.exists()


@pytest.mark.parametrize("extra, message", [
    (["-k", "0"], "argument -k/--k: expected a positive integer, got 0"),
    (["-k", "10", "-3"], "argument -k/--k: expected a positive integer, got -3"),
    (["--test-size", "1.5"], "argument --test-size: expected a number in [0, 1), got 1.5"),
    (["--test-size", "-0.2"], "argument --test-size: expected a number in [0, 1)"),
    (["--seed", "-1"], "argument --seed: expected an integer >= 0, got -1"),
    (["--model", "mf", "--epochs", "-1"], "--epochs: epochs must be an integer >= 0, got -1"),
    (["--model", "lightgcn", "--lr", "0"], "--lr: lr must be a finite number > 0"),
    (["--model", "lightgcn", "--batch-size", "0"], "--batch-size: batch_size must be"),
    (["--model", "mf", "--layers", "2"], "--layers: MF has no hyperparameter 'n_layers'"),
    (["--model", "ease", "--epochs", "3"], "--epochs: EASE has no hyperparameter 'epochs'"),
    (["--model", "ease", "-p", "l2=-1"], "-p l2: l2 must be a finite number > 0"),
    (["--model", "hybrid", "-p", "step=2"], "-p step: step must be a number in (0, 1], got 2"),
    (["--model", "mf", "-p", "random_state=abc"], "-p random_state: MF: a hyperparameter has "
                                                  "the wrong type: random_state must be None"),
    (["--model", "gfcf", "-p", "dtype=foo"], "dtype must be 'float32' or 'float64', got 'foo'"),
    (["--sep", ""], "argument --sep: expected a non-empty separator without line breaks "
                    "(leave --sep out to detect it), got ''"),
    (["--test-size", "0.2", "--test", "{data}"], "give --test or --test-size, not both"),
    (["--test", "{tmp}/nope.csv"], "--test: no such file or folder: {tmp}/nope.csv"),
    (["-o", "{tmp}"], "-o: {tmp} names a folder; give a file name, e.g. {tmp}/model.npz"),
    (["-o", "{tmp}/missing/m.npz"], "the folder {tmp}/missing does not exist"),
    (["-o", "{data}"], "is the input file {data}; saving would overwrite it"),
])
def test_bad_arguments_stop_before_the_data_are_read(tmp_path, capsys, monkeypatch, extra,
                                                     message):
    import minigraphrec.cli as cli

    data = _write_triples(tmp_path / "ratings.csv")
    before = data.read_text()
    monkeypatch.setattr(cli, "_load", lambda *a, **k: pytest.fail("the data were read"))
    fill = {"data": str(data), "tmp": str(tmp_path)}
    extra = [x.format(**fill) for x in extra]
    if "-o" not in extra:
        extra += ["-o", str(tmp_path / "model.npz")]
    code, out, err = _run(["train", str(data), "--model", "popularity", *extra], capsys)
    assert code == 2 and message.format(**fill) in err           # a user error: status 2
    assert message.format(**fill) in err.splitlines()[-1]        # one line (after a usage)
    assert out == "" and "training" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ratings.csv"]    # nothing written
    assert data.read_text() == before


def test_a_failure_after_training_writes_no_model(tmp_path, capsys, monkeypatch):
    data = _write_triples(tmp_path / "ratings.csv")
    path = tmp_path / "m.npz"

    def evaluate(*args, **kwargs):
        raise ValueError("evaluation failed")

    monkeypatch.setattr(mgr, "evaluate", evaluate)
    code, out, err = _run(["train", str(data), "--model", "popularity", "--test-size", "0.2",
                           "-o", str(path)], capsys)
    assert code == 2 and "evaluation failed" in err and "fitted in" in err
    assert not path.exists() and "saved" not in err


def test_save_failure_names_the_path_given(tmp_path, capsys, monkeypatch):
    data = _write_triples(tmp_path / "ratings.csv")
    path = tmp_path / "m.npz"

    def savez(f, **arrays):                   # the disk fills up while the .tmp is written
        raise OSError(28, "No space left on device", f.name)

    monkeypatch.setattr(np, "savez", savez)
    code, out, err = _run(["train", str(data), "--model", "popularity", "-o", str(path)],
                          capsys)
    assert code == 2 and out == ""
    assert err.endswith("\nminigraphrec: -o: cannot save the model to "
                        f"{path}: No space left on device\n")
    assert os.listdir(tmp_path) == ["ratings.csv"]              # no .tmp left behind


def test_integer_raw_ids_match_tokens_in_evaluate_recommend_explain(tmp_path, capsys):
    rng = np.random.default_rng(0)
    train = tmp_path / "train.txt"                             # LightGCN: integer raw ids
    train.write_text("".join(f"{u} " + " ".join(map(str, rng.choice(12, 5, replace=False)))
                             + "\n" for u in range(20)))
    path = tmp_path / "knn.npz"
    assert main(["train", str(train), "--model", "itemknn", "-q", "-o", str(path)]) == 0
    model = mgr.load(path)
    assert model.user_ids_.dtype.kind == "i"
    pairs = tmp_path / "test.csv"                              # read as string tokens
    unseen = [(u, i) for u in range(20) for i in range(12) if i not in model.R_[u].indices]
    pairs.write_text("".join(f"{u},{i}\n" for u, i in unseen[::7]))
    capsys.readouterr()
    assert main(["evaluate", str(path), str(pairs), "-k", "5"]) == 0
    out = capsys.readouterr().out
    expected = mgr.evaluate(model, mgr.Interactions(*np.array(unseen[::7]).T, n_users=20,
                                                    n_items=12), k=(5,))
    assert f"{expected['recall@5']:.4f}" in out
    assert main(["recommend", str(path), "--user", "3", "007", "-k", "2"]) == 0
    out = capsys.readouterr().out
    assert "user 3:" in out and "user 007:" in out
    items, _ = model.recommend([7], k=2)
    assert f"item {items[0, 0]} " in out.split("user 007:")[1]
    assert main(["explain", str(path), "--user", "3", "--item", str(items[0, 0])]) == 0
    assert "ItemKNN: score of item" in capsys.readouterr().out


def test_string_raw_ids_match_a_lightgcn_test_file(tmp_path, capsys):
    rng = np.random.default_rng(1)
    data = tmp_path / "ratings.csv"                            # triples: string raw ids
    data.write_text("".join(f"{u},{i}\n" for u in range(20)
                            for i in rng.choice(12, 5, replace=False)))
    path = tmp_path / "pop.npz"
    assert main(["train", str(data), "--model", "popularity", "-q", "-o", str(path)]) == 0
    assert mgr.load(path).user_ids_.dtype.kind == "U"
    test = tmp_path / "test.txt"                               # LightGCN: integers
    test.write_text("0 1 2 3\n5 4 6\n")
    capsys.readouterr()
    assert main(["evaluate", str(path), str(test), "--on-unknown", "drop", "-k", "3"]) == 0
    assert "recall@3" in capsys.readouterr().out


def test_evaluate_unknown_id_names_the_file_and_the_flag(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    path = tmp_path / "pop.npz"
    assert main(["train", str(data), "--model", "popularity", "-q", "-o", str(path)]) == 0
    test = tmp_path / "test.csv"
    test.write_text("user,item,rating\nuser1,item1,1\n\nuser2,item3,1\nuser1,item999,1\n"
                    "nobody,item2,1\n")
    capsys.readouterr()
    code, _, err = _run(["evaluate", str(path), str(test)], capsys)
    assert code == 2 and f"{test}: 2 interactions have ids unknown to the model, the first " \
                          "is item 'item999' (line 5); --on-unknown drop leaves them out" in err
    code, out, err = _run(["evaluate", str(path), str(test), "--on-unknown", "drop"], capsys)
    assert code == 0 and "dropped" not in out                  # a notice: stderr
    assert err == (f"minigraphrec: warning: {test}: dropped 2 of 4 test interactions whose "
                   "user or item is unknown to the model (--on-unknown drop)\n")
    test.write_text("user,item,rating\nnobody,item1,1\n")
    code, _, err = _run(["evaluate", str(path), str(test)], capsys)
    assert code == 2 and "its one interaction has ids unknown to the model" in err
    code, _, err = _run(["evaluate", str(path), str(test), "--on-unknown", "drop"], capsys)
    assert code == 2 and "every test interaction has an id unknown to the model" in err


def test_evaluate_unknown_id_names_the_line_of_the_test_file(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    path = tmp_path / "pop.npz"
    assert main(["train", str(data), "--model", "popularity", "-q", "-o", str(path)]) == 0
    test = tmp_path / "test.csv"
    test.write_text("user,item,rating\nuser1,item1,1\n\nuser2,item3,1\nuser1,item999,1\n")
    code, _, err = _run(["evaluate", str(path), str(test)], capsys)
    assert "the first is item 'item999' (line 5)" in err


def _write_synthetic(path):
    """The embedded synthetic data as 'user,item,rating' lines."""
    data = mgr.datasets.synthetic(n_users=120, n_items=80, random_state=0)
    path.write_text("".join(f"u{u},i{i},1\n" for u, i in zip(data.users, data.items)))
    return path


def test_train_is_reproducible_and_seeded_with_0_by_default(tmp_path, capsys):
    data = _write_synthetic(tmp_path / "synthetic.csv")
    base = ["train", str(data), "--model", "mf", "--epochs", "2", "--dim", "8", "-q",
            "--test-size", "0.2"]

    def table(*extra):
        assert main(base + list(extra)) == 0
        return capsys.readouterr().out                           # the metrics alone

    first = table()
    assert first.startswith("metric ") and "recall@20" in first
    assert table() == first and table("--seed", "0") == first     # the same numbers
    assert table("--seed", "1") != first                          # the seed does matter
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "(default 0" in " ".join(capsys.readouterr().out.split())


def test_seed_reaches_the_model_unless_random_state_is_given(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    path = tmp_path / "m.npz"

    def fitted(*extra):
        assert main(["train", str(data), "-q", "-o", str(path), *extra]) == 0
        return mgr.load(path)

    mf = ("--model", "mf", "--epochs", "1", "--dim", "4")
    assert fitted(*mf).random_state == 0
    assert fitted(*mf, "-p", "random_state=5").random_state == 5
    assert fitted(*mf, "--seed", "3").random_state == 3
    assert main(["train", str(data), *mf, "--seed", "3", "-p", "random_state=5"]) == 2
    assert ("--seed 3 and -p random_state=5 both set random_state; give one of them"
            in capsys.readouterr().err)                  # --seed won silently before
    hybrid = fitted("--model", "hybrid", "-p", "models=mf,itemknn", "--seed", "4")
    assert hybrid.random_state == 4 and hybrid.models_[0].random_state == 4


def test_a_data_file_given_as_the_model_is_named_as_such(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    code, _, err = _run(["evaluate", str(data), str(data)], capsys)
    assert code == 2 and err.strip() == (f"minigraphrec: error: {data} is not a model file "
                                         "saved by minigraphrec (not a .npz archive; a data "
                                         "file given in its place?)")
    code, _, err = _run(["recommend", str(tmp_path), "--user", "user1"], capsys)
    assert code == 2 and f"{tmp_path} is a folder, not a model file saved by" in err
    code, _, err = _run(["explain", str(data), "--user", "user1", "--item", "item1"], capsys)
    assert code == 2 and "is not a model file saved by minigraphrec" in err


def test_a_bad_threads_value_is_a_user_error(capsys):
    code, _, err = _run(["--threads", "0", "demo"], capsys)
    assert code == 2 and err.startswith("minigraphrec: --threads:")


# ============================================= a new user's slips (CLI audit)
def test_an_unknown_encoding_stops_before_reading(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    with pytest.raises(SystemExit) as exit_:
        main(["train", str(data), "--model", "popularity", "--encoding", "nonsense"])
    assert exit_.value.code == 2                       # was a LookupError traceback (status 1)
    assert ("argument --encoding: encoding 'nonsense' is not an encoding Python knows"
            in capsys.readouterr().err)


def test_demo_builds_a_hybrid_as_train_does(capsys):
    assert main(["demo", "--models", "hybrid"]) == 0   # was a TypeError traceback
    assert "Hybrid" in capsys.readouterr().out


def test_threads_from_the_environment(tmp_path, capsys, monkeypatch):
    data = _write_triples(tmp_path / "ratings.csv")
    monkeypatch.setenv("MINIGRAPHREC_THREADS", "abc")
    args = ["train", str(data), "--model", "popularity", "--test-size", "0", "-q"]
    assert main(args) == 2                             # exit 1 (a bug's status) before
    assert "$MINIGRAPHREC_THREADS must be a whole number >= 1, got 'abc'" in \
        capsys.readouterr().err
    assert main(["--threads", "1", *args]) == 0        # the flag wins over the variable


@pytest.mark.parametrize("target, message", [("", "-o: give a file name"),
                                             ("newdir/", "-o: newdir/ names a folder")])
def test_output_names_that_cannot_be_files_stop_before_fitting(tmp_path, capsys, monkeypatch,
                                                              target, message):
    monkeypatch.chdir(tmp_path)
    data = _write_triples(tmp_path / "ratings.csv")
    assert main(["train", str(data), "--model", "popularity", "-o", target]) == 2
    out = capsys.readouterr()
    assert message in out.err and "training" not in out.err  # '' used to train, save nothing


def test_a_folder_or_device_is_not_called_missing(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    (tmp_path / "adir").mkdir()
    for args, message in (
            (["--test", str(tmp_path / "adir")], "adir is a folder, not a file"),
            (["--format", "movielens"], "ratings.csv is a file; the MovieLens-100K loader "
                                        "reads the unpacked folder")):
        assert main(["train", str(data), "--model", "popularity", *args]) == 2
        assert message in capsys.readouterr().err
    assert main(["train", str(tmp_path / "adir"), "--model", "popularity"]) == 2
    assert "is read as the MovieLens-100K folder, and it has no u.data, u.user, u.item" in \
        capsys.readouterr().err


def test_k_is_one_flag_everywhere(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    model = tmp_path / "m.npz"
    assert main(["train", str(data), "--model", "itemknn", "--test-size", "0", "-q",
                 "-o", str(model)]) == 0
    capsys.readouterr()
    assert main(["recommend", str(model), "--user", "user3", "--k", "2"]) == 0
    long_form = capsys.readouterr().out
    assert main(["recommend", str(model), "--user", "user3", "-k", "2"]) == 0
    assert capsys.readouterr().out == long_form
    assert main(["explain", str(model), "--user", "user3", "--item", "item1", "-k", "2"]) == 0


def test_output_cut_short_by_its_reader_ends_quietly(tmp_path):
    import subprocess
    import sys
    from conftest import child_env
    data = _write_triples(tmp_path / "ratings.csv", n_users=200)
    model = tmp_path / "m.npz"
    assert main(["train", str(data), "--model", "popularity", "--test-size", "0", "-q",
                 "-o", str(model)]) == 0
    users = [f"user{u}" for u in range(200)]
    proc = subprocess.Popen([sys.executable, "-m", "minigraphrec.cli", "recommend", str(model),
                             "--user", *users, "-k", "10"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=child_env())
    proc.stdout.readline()                            # the reader takes one line and leaves
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 141 and err == ""           # was "error: [Errno 32] Broken pipe", 2


def test_recommend_says_when_nothing_is_left(tmp_path, capsys):
    data = tmp_path / "r.csv"
    data.write_text("u1,a,1\nu1,b,1\nu2,a,1\n")        # u1 has seen every item
    model = tmp_path / "m.npz"
    assert main(["train", str(data), "--model", "popularity", "--test-size", "0", "-q",
                 "--no-header", "-o", str(model)]) == 0
    capsys.readouterr()
    assert main(["recommend", str(model), "--user", "u1", "u2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["user u1:", "  (nothing to recommend: no candidate item is left once "
                                   "the user's own items are excluded; --include-seen adds "
                                   "them)"]
    assert out[2] == "user u2:" and out[3].startswith("    1. item b")


def test_figure_draws_the_demo_comparison_and_the_training_loss(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MINIGRAPHREC_FIGURES", str(tmp_path / "figs"))
    code, out, err = _run(["demo", "--models", "popularity", "mf", "--epochs", "2",
                           "--figure", "compare"], capsys)
    assert code == 0 and (tmp_path / "figs" / "compare.png").stat().st_size > 0
    assert f"wrote {tmp_path / 'figs' / 'compare.png'}" in err and "wrote" not in out
    data = _write_triples(tmp_path / "ratings.csv")
    code, out, _ = _run(["train", str(data), "--model", "mf", "--epochs", "3", "--dim", "4",
                         "-q", "--figure", "mf_loss.png"], capsys)
    assert code == 0 and (tmp_path / "figs" / "mf_loss.png").exists()


@pytest.mark.parametrize("argv, message", [
    (["--model", "ease", "--figure", "x"], "--figure draws the training loss by epoch, and "
                                           "EASE is not trained by epochs"),
    (["--model", "mf", "--figure", "x.pdf"], "--figure: figure name 'x.pdf' asks for .pdf"),
])
def test_figure_is_checked_before_the_data_are_read(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.setenv("MINIGRAPHREC_FIGURES", str(tmp_path / "figs"))
    code, out, err = _run(["train", str(tmp_path / "no-such-file.csv"), *argv], capsys)
    assert code != 0 and message in err and "no such file" not in err
    assert not (tmp_path / "figs").exists()


def test_python_dash_m_minigraphrec_runs_the_command(tmp_path):
    """``python -m minigraphrec`` is the console script (was: no __main__ module)."""
    import subprocess
    import sys
    from pathlib import Path
    from conftest import PACKAGE_ROOT, child_env
    pyproject = Path(PACKAGE_ROOT) / "pyproject.toml"
    if pyproject.exists() and sys.version_info >= (3, 11):     # tomllib: Python 3.11
        import tomllib                                  # the same function as the script
        scripts = tomllib.loads(pyproject.read_text())["project"]["scripts"]
        assert scripts["minigraphrec"] == "minigraphrec.__main__:main"
    data = _write_triples(tmp_path / "ratings.csv")
    run = subprocess.run([sys.executable, "-m", "minigraphrec", "train", str(data), "--model",
                          "popularity", "-q", "--test-size", "0.2"], capture_output=True,
                         text=True, env=child_env(), cwd=tmp_path)
    assert run.returncode == 0 and "training Popularity() on Interactions(40 users" in run.stderr
    assert run.stdout.startswith("metric ") and "training" not in run.stdout
    run = subprocess.run([sys.executable, "-m", "minigraphrec", "train", str(tmp_path / "no.csv")],
                         capture_output=True, text=True, env=child_env(), cwd=tmp_path)
    assert run.returncode == 2 and run.stderr.startswith("minigraphrec: DATA: no such file")


# ================================ streams, Ctrl-C, flags in messages (CLI audit 2)
def test_ctrl_c_ends_quietly_with_status_130_and_no_file(tmp_path):
    """Ctrl-C during training was a KeyboardInterrupt traceback and a death by signal."""
    import signal
    import subprocess
    import sys
    import threading
    from conftest import child_env
    data = _write_synthetic(tmp_path / "synthetic.csv")
    # SIGINT raises KeyboardInterrupt even where the test runner was started with it ignored
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from minigraphrec.cli import main; sys.exit(main())")
    proc = subprocess.Popen([sys.executable, "-c", code, "train", str(data), "--model", "mf",
                             "--dim", "4", "--epochs", "1000000", "-o", str(tmp_path / "m.npz")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=child_env(), cwd=tmp_path)
    watchdog = threading.Timer(300, proc.kill)          # never hang the suite
    watchdog.start()
    try:
        seen = []
        for line in proc.stdout:                        # two epochs trained: compiled kernels
            seen.append(line)
            if sum(" epoch " in x for x in seen) == 2:
                break
        proc.send_signal(signal.SIGINT)
        rest = proc.stdout.read()
        status = proc.wait()
    finally:
        watchdog.cancel()
    assert status == 130, "".join(seen) + rest
    assert rest.endswith("minigraphrec: interrupted; nothing was saved\n")
    assert "Traceback" not in rest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synthetic.csv"]


def test_ctrl_c_after_the_save_says_the_model_was_saved(tmp_path, capsys, monkeypatch):
    from minigraphrec import plot

    def save_figure(fig, name):
        raise KeyboardInterrupt

    monkeypatch.setenv("MINIGRAPHREC_FIGURES", str(tmp_path / "figs"))
    monkeypatch.setattr(plot, "save_figure", save_figure)
    data = _write_triples(tmp_path / "ratings.csv")
    path = tmp_path / "m.npz"
    try:
        code, out, err = _run(["train", str(data), "--model", "mf", "--epochs", "1", "--dim",
                               "4", "-q", "-o", str(path), "--figure", "loss"], capsys)
    except KeyboardInterrupt:                 # not let through: it would stop the whole run
        pytest.fail("KeyboardInterrupt escaped main")
    assert code == 130 and out == "" and path.exists()
    assert err.endswith(f"\nminigraphrec: interrupted; the model was saved to {path}\n")


@pytest.mark.parametrize("command", ["train", "demo"])
@pytest.mark.parametrize("figures", ["afile", "afile/sub"])
def test_the_figure_folder_is_checked_before_anything_is_read(tmp_path, capsys, monkeypatch,
                                                              command, figures):
    """A file where $MINIGRAPHREC_FIGURES (or its parent) should be a folder stopped the run
    after training, with '[Errno 20] Not a directory' naming neither --figure nor the
    variable."""
    import minigraphrec.cli as cli
    from minigraphrec import datasets
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("MINIGRAPHREC_FIGURES", figures)
    monkeypatch.setattr(cli, "_load", lambda *a, **k: pytest.fail("the data were read"))
    monkeypatch.setattr(datasets, "synthetic", lambda **k: pytest.fail("data were generated"))
    data = _write_triples(tmp_path / "ratings.csv")
    argv = {"train": ["train", str(data), "--model", "mf", "-o", "m.npz"],
            "demo": ["demo", "--models", "popularity"]}[command]
    code, out, err = _run([*argv, "--figure", "a"], capsys)
    assert code == 2 and out == ""
    assert err == (f"minigraphrec: --figure: cannot write into the figure folder "
                   f"{os.path.join(os.getcwd(), figures)} ($MINIGRAPHREC_FIGURES names "
                   f"{figures}): {os.path.join(os.getcwd(), 'afile')} is a file, not a folder\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "ratings.csv"]


def test_the_model_is_saved_before_the_figure_is_drawn(tmp_path, capsys, monkeypatch):
    """A failed save left the figure behind (it was drawn first); a failed figure says that
    the model was saved."""
    from minigraphrec import plot
    monkeypatch.setenv("MINIGRAPHREC_FIGURES", str(tmp_path / "figs"))
    data = _write_triples(tmp_path / "ratings.csv")
    path = tmp_path / "m.npz"
    argv = ["train", str(data), "--model", "mf", "--epochs", "2", "--dim", "4", "-q",
            "-o", str(path), "--figure", "loss"]

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    real_savez = np.savez
    monkeypatch.setattr(np, "savez", no_space)
    code, _, err = _run(argv, capsys)
    assert code == 2 and "-o: cannot save the model" in err
    assert not path.exists() and not (tmp_path / "figs" / "loss.png").exists()
    monkeypatch.setattr(np, "savez", real_savez)
    monkeypatch.setattr(plot, "save_figure", no_space)
    code, out, err = _run(argv, capsys)
    assert code == 2 and out == "" and mgr.load(path).epochs == 2
    assert err.splitlines()[-1] == (f"minigraphrec: --figure: cannot write "
                                    f"{tmp_path / 'figs' / 'loss.png'}: No space left on "
                                    f"device; the model was saved to {path}")


def _write_split(folder):
    """train.csv and test.csv, an 80/20 split of a small synthetic data set; returns their
    paths and the test set as the command reads it against a model trained on train.csv."""
    data = mgr.datasets.synthetic(n_users=120, n_items=80, random_state=0)
    train, test = mgr.split.random_split(data, test_size=0.2, random_state=0)
    paths = []
    for name, part in (("train.csv", train), ("test.csv", test)):
        paths.append(folder / name)
        paths[-1].write_text("".join(f"u{u},i{i},1\n" for u, i in zip(part.users, part.items)))
    return paths


def test_json_output_is_the_library_s_results(tmp_path, capsys):
    train, test = _write_split(tmp_path)
    path = tmp_path / "m.npz"
    code, out, err = _run(["train", str(train), "--test", str(test), "--model", "itemknn",
                           "--on-unknown", "drop", "-k", "5", "--json", "-o", str(path)], capsys)
    assert code == 0 and "training ItemKNN" in err
    model = mgr.load(path)
    aligned = mgr.datasets.load_triples(test).align(model.user_ids_, model.item_ids_,
                                                    on_unknown="drop")
    assert json.loads(out) == {"metrics": mgr.evaluate(model, aligned, k=(5,))}
    code, out, _ = _run(["evaluate", str(path), str(test), "--on-unknown", "drop", "-k", "5",
                         "10", "--json"], capsys)
    assert code == 0 and json.loads(out) == {"metrics": mgr.evaluate(model, aligned, k=(5, 10))}
    code, out, _ = _run(["train", str(train), "--model", "popularity", "--json"], capsys)
    assert code == 0 and json.loads(out) == {"metrics": None}          # no test set
    code, out, _ = _run(["recommend", str(path), "--user", "u3", "u5", "-k", "4", "--json"],
                        capsys)
    users = [int(np.flatnonzero(model.user_ids_ == u)[0]) for u in ("u3", "u5")]
    items, scores = model.recommend(users, k=4)
    assert code == 0 and json.loads(out) == {"recommendations": [
        {"user": u, "items": model.item_ids_[i].tolist(), "scores": s.tolist()}
        for u, i, s in zip(("u3", "u5"), items, scores)]}


def test_k_beyond_the_catalogue_is_warned_about_and_kept(tmp_path, capsys):
    """-k 100000 listed every item and -k 5000 reported precision@5000 without a word."""
    train, test = _write_split(tmp_path)
    path = tmp_path / "m.npz"
    code, out, err = _run(["train", str(train), "--test", str(test), "--on-unknown", "drop",
                           "--model", "popularity", "-k", "5", "500", "-o", str(path)], capsys)
    model = mgr.load(path)
    n = model.n_items_
    expected = (f"minigraphrec: warning: -k 500: more than the model's {n} items; at such a "
                f"cut-off every list holds every candidate item, and precision@k still "
                f"divides by k\n")
    assert code == 0 and "precision@500" in out and expected in err
    code, out, err = _run(["evaluate", str(path), str(test), "--on-unknown", "drop", "-k", "500",
                           "--json"], capsys)
    assert code == 0 and err.startswith(expected)
    aligned = mgr.datasets.load_triples(test).align(model.user_ids_, model.item_ids_,
                                                    on_unknown="drop")
    assert json.loads(out)["metrics"] == mgr.evaluate(model, aligned, k=(500,))   # as computed
    code, out, err = _run(["recommend", str(path), "--user", "u3", "-k", "500"], capsys)
    assert code == 0 and err == (f"minigraphrec: warning: -k 500: more than the model's {n} "
                                 "items; a list holds at most every candidate item\n")
    u = int(np.flatnonzero(model.user_ids_ == "u3")[0])
    assert len(out.splitlines()) == 1 + n - model.R_[u].nnz            # every unseen item


def test_log_lines_name_flags_and_v_goes_after_the_command_too(tmp_path):
    """The loader's warning said (on_unknown='drop'); -v after the command was refused, and
    before it printed hundreds of matplotlib debug lines."""
    import subprocess
    import sys
    from conftest import child_env
    train = tmp_path / "train.txt"
    train.write_text("0 1 2\n1 0\n")
    test = tmp_path / "test.txt"
    test.write_text("0 5\n1 2\n")                          # item 5 unknown to training
    run = subprocess.run([sys.executable, "-m", "minigraphrec", "train", str(train), "--test",
                          str(test), "--model", "mf", "--epochs", "1", "--dim", "2", "-k", "1",
                          "--on-unknown", "drop", "-q", "--figure", "loss", "-v"],
                         capture_output=True, text=True, cwd=tmp_path,
                         env=child_env({**os.environ, "MINIGRAPHREC_FIGURES": str(tmp_path)}))
    assert run.returncode == 0, run.stderr
    assert (f"minigraphrec: warning: {test}: dropped 1 of 2 test interactions whose user or "
            "item is unknown to training (--on-unknown drop)\n") in run.stderr
    assert "on_unknown" not in run.stderr
    assert "minigraphrec: debug: MF epoch 1/1: loss" in run.stderr        # -v: the library's
    assert "matplotlib" not in run.stderr                                  # and no one else's
    assert run.stdout.startswith("metric ") and "epoch" not in run.stdout
    assert (tmp_path / "loss.png").exists()


def test_demo_checks_the_models_before_generating_data(capsys, monkeypatch):
    """demo --epochs -1 generated the data and printed 5 lines before failing."""
    from minigraphrec import datasets
    monkeypatch.setattr(datasets, "synthetic", lambda **k: pytest.fail("data were generated"))
    code, out, err = _run(["demo", "--epochs", "-1", "--models", "popularity", "mf"], capsys)
    assert code == 2 and out == ""
    assert err == "minigraphrec: --epochs: epochs must be an integer >= 0, got -1\n"


def test_help_states_the_defaults_and_what_v_does(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--seed SEED seeds the data, the split and the models (an integer >= 0; default 0)" \
        in text
    assert "--epochs EPOCHS epochs for trainable models (default 50, the models' own)" in text
    assert "-v, --verbose also print minigraphrec's own info and debug log messages" in text


def test_a_figure_that_cannot_be_drawn_is_not_called_unwritable():
    """A drawing error was reported as 'cannot write the figure'."""
    from minigraphrec import cli

    def draw():
        raise ValueError("no epoch to draw")
    with pytest.raises(SystemExit, match="--figure: cannot draw the figure: no epoch to draw; "
                                         "the model was saved to m.npz"):
        cli._save_plot(draw, "loss", saved="m.npz")


def test_ctrl_c_inside_compiled_code_is_an_interruption_too(monkeypatch, capsys):
    """Ctrl-C while numba loaded a cached kernel came out as 'SystemError: ... returned a
    result with an exception set' (the KeyboardInterrupt its cause), a traceback and
    status 1, in a fresh environment's first epochs."""
    from minigraphrec import cli

    def interrupted_in_numba(args):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise SystemError("CPUDispatcher(...) returned a result with an exception set") \
                from interrupt
    monkeypatch.setattr(cli, "_run", interrupted_in_numba)
    assert cli.main(["demo"]) == 130
    assert capsys.readouterr().err.startswith("minigraphrec: interrupted")

    def a_real_bug(args):
        raise SystemError("a bug")
    monkeypatch.setattr(cli, "_run", a_real_bug)
    with pytest.raises(SystemError, match="a bug"):
        cli.main(["demo"])


def test_a_folder_where_the_figure_goes_stops_before_the_data_are_read(tmp_path, capsys,
                                                                       monkeypatch):
    """``figs/loss.png/`` being a folder was found after training and saving, as 'Is a
    directory', naming no file."""
    import minigraphrec.cli as cli
    monkeypatch.chdir(tmp_path)
    (tmp_path / "figs" / "loss.png").mkdir(parents=True)
    monkeypatch.setenv("MINIGRAPHREC_FIGURES", "figs")
    monkeypatch.setattr(cli, "_load", lambda *a, **k: pytest.fail("the data were read"))
    data = _write_triples(tmp_path / "ratings.csv")
    code, out, err = _run(["train", str(data), "--model", "mf", "-o", "m.npz", "--figure",
                           "loss"], capsys)
    assert code == 2 and out == ""
    assert err == (f"minigraphrec: --figure: cannot write "
                   f"{tmp_path / 'figs' / 'loss.png'}: it is a folder; remove it or choose "
                   f"another --figure name\n")
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("error, reason", [
    (RuntimeError("Agg: cannot allocate the canvas"),
     "RuntimeError: Agg: cannot allocate the canvas"),
    (MemoryError(), "MemoryError"),
    (ValueError("image size of 100000x100 pixels is too large"),
     "image size of 100000x100 pixels is too large"),
    (OSError(28, "No space left on device"), "No space left on device"),
])
def test_any_figure_failure_after_the_save_is_one_line_saying_the_model_was_saved(
        tmp_path, capsys, monkeypatch, error, reason):
    """A RuntimeError or MemoryError from matplotlib ended in a traceback (status 1), with no
    line saying that the model had been saved; an OSError's line named no file."""
    import matplotlib.figure
    figs = tmp_path / "figs"
    monkeypatch.setenv("MINIGRAPHREC_FIGURES", str(figs))

    def savefig(self, fname, **kwargs):
        raise error
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    data = _write_triples(tmp_path / "ratings.csv")
    path = tmp_path / "m.npz"
    code, out, err = _run(["train", str(data), "--model", "mf", "--epochs", "2", "--dim", "4",
                           "-q", "-o", str(path), "--figure", "loss"], capsys)
    assert code == 2 and out == "" and "Traceback" not in err
    where = f"loss.png in {figs}" if isinstance(error, OSError) else figs / "loss.png"
    assert err.splitlines()[-1] == (f"minigraphrec: --figure: cannot write {where}: {reason}; "
                                    f"the model was saved to {path}")
    assert mgr.load(path).epochs == 2
    assert not figs.exists()                   # made for the figure, removed with it


def test_ctrl_c_while_the_figure_is_written_still_ends_with_130(tmp_path, capsys, monkeypatch):
    """Ctrl-C (also as numba's SystemError caused by it) is not turned into a figure error."""
    import matplotlib.figure
    monkeypatch.setenv("MINIGRAPHREC_FIGURES", str(tmp_path / "figs"))

    def savefig(self, fname, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise SystemError("returned a result with an exception set") from interrupt
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    data = _write_triples(tmp_path / "ratings.csv")
    path = tmp_path / "m.npz"
    code, out, err = _run(["train", str(data), "--model", "mf", "--epochs", "1", "--dim", "4",
                           "-q", "-o", str(path), "--figure", "loss"], capsys)
    assert code == 130 and path.exists()
    assert err.endswith(f"\nminigraphrec: interrupted; the model was saved to {path}\n")


def test_a_drawing_failure_of_any_kind_is_one_line():
    from minigraphrec import cli

    def draw():
        raise RuntimeError("no renderer")
    with pytest.raises(SystemExit, match="^minigraphrec: --figure: cannot draw the figure: "
                                         "RuntimeError: no renderer; the model was saved to "
                                         "m.npz$"):
        cli._save_plot(draw, "loss", saved="m.npz")


# ======================== files the run reads, stdout, memory, conflicts (CLI audit 3)
def _write_movielens(folder, n_users=20, n_items=15):
    """A tiny MovieLens-100K folder: u.user, u.item, u.data."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    (folder / "u.user").write_text("".join(f"{u}|30|F|writer|00000\n"
                                           for u in range(1, n_users + 1)))
    (folder / "u.item").write_text("".join(f"{i}|Film {i} (1990)|01-Jan-1990||x|"
                                           + "|".join("0" * 19) + "\n"
                                           for i in range(1, n_items + 1)))
    pairs = {(int(u), int(i)) for u, i in zip(rng.integers(1, n_users + 1, 120),
                                               rng.integers(1, n_items + 1, 120))}
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t4\t{n}\n"
                                           for n, (u, i) in enumerate(sorted(pairs))))
    return folder


def test_output_over_a_file_the_run_reads_is_refused_before_reading(tmp_path, capsys,
                                                                    monkeypatch):
    import minigraphrec.cli as cli
    monkeypatch.setattr(cli, "_load", lambda *a, **k: pytest.fail("the data were read"))
    folder = _write_movielens(tmp_path / "ml")
    data = _write_triples(tmp_path / "ratings.csv")
    os.link(data, tmp_path / "alias.csv")                # the same file, another name
    before = {p: p.read_bytes() for p in [*folder.iterdir(), data]}
    for argv, message in (
            ([str(folder), "-o", str(folder / "u.data")],
             f"-o: {folder / 'u.data'} is the data folder {folder}'s u.data; saving would "
             "overwrite it"),
            ([str(folder), "-o", f"{folder}/../ml/u.item"], f"the data folder {folder}'s "
                                                            "u.item; saving would overwrite"),
            ([str(data), "-o", str(tmp_path / "alias.csv")], f"is the input file {data}"),
            ([str(folder / "u.data"), "--test", str(data), "-o", str(tmp_path / "alias.csv")],
             f"is the --test file {data}; saving would overwrite it")):
        code, out, err = _run(["train", *argv, "--model", "popularity"], capsys)
        assert code == 2 and out == "" and message in err, err      # was: exit 0, u.data a zip
        assert len(err.strip().splitlines()) == 1
    monkeypatch.setenv("MINIGRAPHREC_FIGURES", str(tmp_path))       # --figure over --test
    test = tmp_path / "t.png"
    test.write_bytes(data.read_bytes())
    code, _, err = _run(["train", str(data), "--test", str(test), "--format", "triples",
                         "--model", "mf", "--figure", "t"], capsys)
    assert code == 2 and err.strip() == (f"minigraphrec: --figure: {test} is the --test file "
                                         f"{test}; saving would overwrite it")
    assert {p: p.read_bytes() for p in [*folder.iterdir(), data]} == before
    assert test.read_bytes() == data.read_bytes()


def test_a_read_only_output_file_is_refused_before_training(tmp_path, capsys, monkeypatch):
    data = _write_triples(tmp_path / "ratings.csv")
    path = tmp_path / "m.npz"
    path.write_bytes(b"old")
    path.chmod(0o444)
    real_access = os.access                   # as root, os.access says every file writable
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: (
        False if mode == os.W_OK and os.fspath(p) == str(path) else real_access(p, mode, **kw)))
    code, out, err = _run(["train", str(data), "--model", "popularity", "-o", str(path)],
                          capsys)
    assert code == 2 and "training" not in err and path.read_bytes() == b"old"
    assert err.strip() == (f"minigraphrec: -o: cannot save to {path}: the file is read-only "
                           "(mode 0444) for you; make it writable, remove it or choose another "
                           "name")


def test_output_and_figure_naming_one_file_is_refused_before_training(tmp_path, capsys,
                                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "figures").mkdir()
    data = _write_triples(tmp_path / "ratings.csv")
    code, out, err = _run(["train", str(data), "--model", "mf", "--epochs", "1", "-o",
                           "figures/x.png", "--figure", "x"], capsys)
    assert code == 2 and "training" not in err                   # was: the figure replaced it
    assert err.strip() == (f"minigraphrec: --figure x writes {tmp_path}/figures/x.png, the "
                           "file -o figures/x.png saves the model to; the figure would replace "
                           "the model: choose another --figure name or -o file")
    assert os.listdir(tmp_path / "figures") == []


def test_running_out_of_memory_is_one_line_naming_the_step(tmp_path, capsys, monkeypatch):
    data = _write_triples(tmp_path / "ratings.csv")
    path = tmp_path / "m.npz"

    def fit(self, *args, **kwargs):
        raise MemoryError("Unable to allocate 12.5 GiB for an array with shape (40981, 40981) "
                          "and data type float64")

    monkeypatch.setattr(mgr.EASE, "fit", fit)
    code, out, err = _run(["train", str(data), "--model", "ease", "-o", str(path)], capsys)
    assert code == 2 and not path.exists()                    # was a traceback, status 1
    assert err.splitlines()[-1] == (
        "minigraphrec: error: out of memory while training EASE (Unable to allocate 12.5 GiB "
        "for an array with shape (40981, 40981) and data type float64); use a smaller data "
        "set, lighter settings (e.g. a smaller --dim or --batch-size) or a machine with more "
        "memory")


def test_ctrl_c_while_the_parser_is_built_ends_with_130(capsys, monkeypatch):
    import minigraphrec.cli as cli

    def build_parser():
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "build_parser", build_parser)
    try:
        code = main(["demo"])
    except KeyboardInterrupt:                                 # was a traceback
        pytest.fail("Ctrl-C while the parser was built escaped main")
    assert code == 130
    assert capsys.readouterr().err == "minigraphrec: interrupted\n"


_INTERRUPTING_IMPORT = '''
import sys
class _Interrupt:
    """Ctrl-C while {name!r} is imported: a KeyboardInterrupt from its import."""
    def find_spec(self, name, path=None, target=None):
        if name == {name!r}:
            raise KeyboardInterrupt
        return None
sys.meta_path.insert(0, _Interrupt())
'''


# the console script pip writes for pyproject.toml's [project.scripts] entry, in short
_CONSOLE_SCRIPT = "import sys; from minigraphrec.__main__ import main; sys.exit(main())"


@pytest.mark.parametrize("how", ["-m", "script"])
@pytest.mark.parametrize("module", ["numpy", "minigraphrec.errors", "minigraphrec.cli",
                                    "minigraphrec.models"])
def test_ctrl_c_during_the_import_ends_with_130(tmp_path, module, how):
    """Ctrl-C in the first second, while the command's modules are imported (was: Python's
    traceback while the package's ``__init__.py`` imported NumPy and the models)."""
    import subprocess
    import sys
    from conftest import child_env
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_INTERRUPTING_IMPORT.format(name=module))
    env = child_env()
    env["PYTHONPATH"] = f"{site}{os.pathsep}{env['PYTHONPATH']}"
    command = ["-m", "minigraphrec"] if how == "-m" else ["-c", _CONSOLE_SCRIPT]
    run = subprocess.run([sys.executable, *command, "demo"], capture_output=True,
                         text=True, env=env, cwd=tmp_path)
    assert (run.returncode, run.stderr) == (130, "minigraphrec: interrupted\n"), run.stderr


class _FullStdout:
    """A stdout on a full disk (``> /dev/full``)."""

    def write(self, text):
        raise OSError(28, "No space left on device")

    def flush(self):
        pass


def test_os_errors_name_the_file_or_standard_output(tmp_path, capsys, monkeypatch):
    import sys
    data = _write_triples(tmp_path / "ratings.csv")
    model = tmp_path / "m.npz"
    assert main(["train", str(data), "--model", "popularity", "-q", "-o", str(model)]) == 0

    def load_triples(*args, **kwargs):                    # a read that fails (/proc/self/mem)
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(mgr.datasets, "load_triples", load_triples)
    code, _, err = _run(["train", str(data), "--model", "popularity"], capsys)
    assert code == 2 and err.splitlines()[-1] == (f"minigraphrec: error: cannot read {data}: "
                                                  "Input/output error")   # was [Errno 5] ...
    monkeypatch.setattr(sys, "stdout", _FullStdout())
    code, _, err = _run(["recommend", str(model), "--user", "user1"], capsys)
    assert code == 2 and err == ("minigraphrec: error: cannot write the results to standard "
                                 "output: No space left on device\n")


def test_a_failure_to_print_the_results_keeps_the_model(tmp_path, capsys, monkeypatch):
    import sys
    data = _write_triples(tmp_path / "ratings.csv")
    model = tmp_path / "m.npz"
    monkeypatch.setattr(sys, "stdout", _FullStdout())
    code, _, err = _run(["train", str(data), "--model", "popularity", "--test-size", "0.3",
                         "-o", str(model)], capsys)
    assert code == 2 and model.exists()                       # was: no model, after training
    assert err.splitlines()[-1] == ("minigraphrec: error: cannot write the results to standard "
                                    "output: No space left on device; the model was saved to "
                                    f"{model}")
    assert type(mgr.load(model)).__name__ == "Popularity"


def test_threads_after_the_command_and_capped_at_the_cpus(tmp_path, capsys, monkeypatch):
    from minigraphrec import threadpools
    data = _write_triples(tmp_path / "ratings.csv")
    set_to = []
    monkeypatch.setattr(threadpools, "set_threads", set_to.append)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)                # the host's, not ours
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    args = ["train", str(data), "--model", "popularity", "-q"]
    assert main([*args, "--threads", "1"]) == 0 and set_to == [1]   # was "unrecognized"
    code, _, err = _run([*args, "--threads", "1000"], capsys)
    assert code == 0 and set_to == [1, 4]                            # was 1000, silently
    assert ("minigraphrec: warning: --threads 1000: more than the 4 CPUs this process may run on; "
            "using 4") in err                                        # the 4 it may run on
    for command in ("demo", "train", "evaluate", "recommend", "explain"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--threads N" in capsys.readouterr().out


def test_messages_name_the_command_line_flag_not_python(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")                 # 30 items
    code, _, err = _run(["train", str(data), "--model", "ease", "-p", "max_items=5"], capsys)
    assert code == 2 and "pass -p max_items=none if the memory is there" in err
    assert "max_items=None" not in err
    huge = tmp_path / "huge.txt"
    huge.write_text("".join(f"{u} 1 2\n" for u in range(30)) + "5000000000 1 2 3\n")
    code, _, err = _run(["train", str(huge), "--model", "popularity"], capsys)
    assert code == 2 and "read with --format triples" in err and "load_triples" not in err
    path = tmp_path / "h.npz"
    assert main(["train", str(data), "--model", "hybrid", "-q", "-o", str(path)]) == 0
    code, _, err = _run(["explain", str(path), "--user", "user1", "--item", "item1"], capsys)
    assert code == 2 and "models_[0]" not in err
    assert "run `minigraphrec explain` on that file" in err


def test_explain_labels_a_sum_that_is_not_the_score(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    for name in ("mf", "ngcf"):
        assert main(["train", str(data), "--model", name, "--epochs", "2", "--dim", "4", "-q",
                     "-o", str(tmp_path / f"{name}.npz")]) == 0
    capsys.readouterr()
    # MF's numbers are cosines: neither shares nor a sum (the sum was printed as "total")
    assert main(["explain", str(tmp_path / "mf.npz"), "--user", "user0", "--item", "item0",
                 "-k", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split() == ["source", "cosine"] and "%" not in "\n".join(lines)
    assert not any(line.split()[:1] in (["total"], ["(sum)"], ["(others)"]) for line in lines)
    assert lines[-1] == "(these are similarities to item item0, not a split of the score)"
    # NGCF's gradient x input does not add up to the score: its sum is labelled as such
    model = mgr.load(tmp_path / "ngcf.npz")
    e = model.explain(0, int(np.flatnonzero(model.item_ids_ == "item0")[0]), k=3)
    assert e.quantity == "gradient_input" and not e.additive
    assert main(["explain", str(tmp_path / "ngcf.npz"), "--user", "user0", "--item", "item0",
                 "-k", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "share" not in lines[2].split() and "%" not in "\n".join(lines)    # no shares
    assert not any(line.startswith("total") for line in lines)      # was "total -0.0029"
    (sum_row,) = [line for line in lines if line.split()[:1] == ["(sum)"]
                  and len(line.split()) == 2]                        # not the note below
    assert float(sum_row.split()[1]) == pytest.approx(e.total, rel=1e-5)
    assert lines[-1] == (f"(sum) is the sum over every source, {e.total:.6g}, not the score "
                         f"{e.score:.6g}: these numbers are not a split of the score, so no "
                         "shares")


@pytest.mark.parametrize("extra, message", [
    (["--model", "mf", "-p", "dim=8", "--dim", "16"],
     "--dim 16 and -p dim=8 both set dim; give one of them"),
    (["--model", "mf", "--loss", "bce", "-p", "loss=bpr"],
     "--loss bce and -p loss=bpr both set loss; give one of them"),
    (["--model", "lightgcn", "--layers", "2", "-p", "n_layers=1"],
     "--layers 2 and -p n_layers=1 both set n_layers"),
    (["--model", "ease", "-p", "l2=1", "-p", "l2=2"], "-p l2=1 and -p l2=2 both set l2"),
])
def test_conflicting_options_are_refused(tmp_path, capsys, monkeypatch, extra, message):
    import minigraphrec.cli as cli
    monkeypatch.setattr(cli, "_load", lambda *a, **k: pytest.fail("the data were read"))
    data = _write_triples(tmp_path / "ratings.csv")
    code, _, err = _run(["train", str(data), *extra], capsys)       # was: one silently won
    assert code == 2 and err.startswith(f"minigraphrec: {message}"), err
    assert len(err.strip().splitlines()) == 1


def test_a_test_file_read_in_data_s_format_says_so(tmp_path, capsys):
    train = tmp_path / "train.txt"
    train.write_text("".join(f"{u} 1 2 3\n" for u in range(5)) + "5 1 2\n")
    test = tmp_path / "t.csv"
    test.write_text("0,4,1\n")
    code, _, err = _run(["train", str(train), "--test", str(test), "--model", "popularity"],
                        capsys)
    assert code == 2 and err.splitlines()[-1] == (
        f"(the --test file is read in DATA's format: {train} is read as LightGCN adjacency "
        f"lists ('user item item ...'), and so is {test}; both files are read in one format, "
        "which --format sets)")


def test_the_triples_hint_only_where_a_triples_file_is_the_likely_cause(tmp_path, capsys):
    for line, hint in (("3 -1 2", False), ("# users and items", False),  # was hinted too
                       ("3 1 4.5", True), ("3,1,4", True), ("3 1 x", True)):
        data = tmp_path / "d.txt"
        data.write_text(line + "\n" + "".join(f"{u} 1 2 3 4\n" for u in range(4, 9)))
        code, _, err = _run(["train", str(data), "--model", "popularity"], capsys)
        assert code == 2 and "line 1" in err
        assert ("pass --format triples" in err) == hint, err


def test_demo_refuses_a_model_given_twice(capsys, monkeypatch):
    monkeypatch.setattr(mgr.datasets, "synthetic",
                        lambda *a, **k: pytest.fail("the data were generated"))
    code, out, err = _run(["demo", "--models", "mf", "popularity", "MF"], capsys)
    assert code == 2 and out == ""                   # was two MF rows and one top-5 block
    assert err.strip() == ("minigraphrec: --models: mf given more than once; each model is "
                           "compared once")


def test_small_slips_of_the_audit(tmp_path, capsys):
    import minigraphrec.cli as cli
    data = _write_triples(tmp_path / "ratings.csv")
    code, _, err = _run(["train", str(data), "-o", f"{data}/x.npz"], capsys)
    assert code == 2 and err.strip() == (f"minigraphrec: -o: cannot save to {data}/x.npz: "
                                         f"{data} is a file, not a folder")
    model = tmp_path / "m.npz"
    assert main(["train", str(data), "--model", "popularity", "-q", "-o", str(model)]) == 0
    code, _, err = _run(["train", str(model)], capsys)
    assert code == 2 and "is a .npz file, such as a model saved by `minigraphrec train -o`, " \
                         "not a data file" in err
    latin = tmp_path / "latin.csv"
    latin.write_bytes("José,item1\nAnn,item2\n".encode("latin-1"))
    code, _, err = _run(["train", str(latin), "--model", "popularity"], capsys)
    assert code == 2 and err.splitlines()[-1] == ("(if the file is in another encoding, give "
                                                  "it, e.g. --encoding latin-1)")
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == f"minigraphrec {mgr.__version__}\n"
    for command, text in (("demo", "models (--models):"), ("train", "models (--model):"),
                          ("train", "--dim DIM embedding width d (trainable models; default 64"),
                          ("train", "the model is trained, and saved by -o, on the remaining "
                                    "part only")):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert text in " ".join(capsys.readouterr().out.split())
    assert "n/a" in cli._table([{"metric": "auc", "value": float("nan")}], ["metric", "value"])


# ------------------------------------------- validation, checkpoints and resuming (train)
def _params_of(path):
    """A saved model's parameters, Adam state and epoch losses: what must match bit for bit."""
    model = mgr.load(path)
    return model, {k: v.copy() for k, v in model.params.items()}, \
        [r["loss"] for r in model.history_]


def _assert_same_run(a, b):
    """The models saved at ``a`` and ``b`` hold the same parameters (bit for bit), Adam
    state, epoch losses and epoch count."""
    (ma, pa, la), (mb, pb, lb) = _params_of(a), _params_of(b)
    assert sorted(pa) == sorted(pb)
    for k in pa:
        assert pa[k].dtype == pb[k].dtype and np.array_equal(pa[k], pb[k]), k
    assert la == lb and ma.epochs == mb.epochs == len(la)
    sa, sb = ma.optimizer_state_, mb.optimizer_state_
    assert sorted(sa) == sorted(sb) and all(np.array_equal(sa[k], sb[k]) for k in sa)
    assert ma.rng_state_ == mb.rng_state_


@pytest.mark.parametrize("checkpoint", [False, True])
def test_resume_continues_a_saved_run_bit_for_bit(tmp_path, capsys, checkpoint):
    data = _write_triples(tmp_path / "ratings.csv")
    base = ["train", str(data), "--test-size", "0.2", "--seed", "3", "-q"]
    straight, first, resumed = (tmp_path / f"{n}.npz" for n in ("straight", "first", "resumed"))
    ck = (lambda n: ["--checkpoint", str(tmp_path / f"ck{n}.npz")] if checkpoint else [])
    assert main([*base, "--dim", "8", "--layers", "2", "--epochs", "5", "-o", str(straight),
                 *ck(0)]) == 0
    assert main([*base, "--dim", "8", "--layers", "2", "--epochs", "2", "-o", str(first),
                 *ck(1)]) == 0
    assert len(mgr.load(first).history_) == 2
    start = tmp_path / "ck1.npz" if checkpoint else first       # either file resumes
    assert main([*base, "--resume", str(start), "--epochs", "3", "-o", str(resumed),
                 *ck(2)]) == 0                                  # was: no --resume flag
    err = capsys.readouterr().err
    assert "resuming LightGCN(" in err and f"from {start} after epoch 2, for 3 more" in err
    _assert_same_run(resumed, straight)
    if checkpoint:                        # the last checkpoint is the last epoch: the model
        _assert_same_run(tmp_path / "ck2.npz", straight)
        _assert_same_run(tmp_path / "ck0.npz", straight)


@pytest.mark.parametrize("validate", [False, True])
def test_an_interrupted_run_leaves_a_checkpoint_that_resumes_it(tmp_path, capsys, monkeypatch,
                                                                validate):
    import minigraphrec.train as train_module
    data = _write_triples(tmp_path / "ratings.csv")
    valid = ["--validation", str(_write_triples(tmp_path / "v.csv", seed=1))] if validate \
        else []
    base = ["train", str(data), "--model", "mf", "--dim", "4", "-q", *valid]
    straight, ck, out = tmp_path / "straight.npz", tmp_path / "ck.npz", tmp_path / "m.npz"
    straight_ck = tmp_path / "straight_ck.npz"
    assert main([*base, "--epochs", "5", "-o", str(straight), "--checkpoint",
                 str(straight_ck)]) == 0
    capsys.readouterr()
    real = train_module.batch_gradient

    error = FloatingPointError("MF: the loss became non-finite")

    def batch_gradient(model):                       # Ctrl-C in the first step of epoch 3
        step = real(model)

        def gradient(batch):
            if len(model.history_) == 2:
                raise error
            return step(batch)
        return gradient

    monkeypatch.setattr(train_module, "batch_gradient", batch_gradient)
    code, stdout, err = _run([*base, "--epochs", "5", "--checkpoint", str(ck), "-o", str(out)],
                             capsys)                 # a failure says what the file holds too
    assert code == 2 and stdout == "" and not out.exists()
    assert err.splitlines()[-1] == (f"minigraphrec: error: MF: the loss became non-finite; the "
                                    f"checkpoint {ck} holds epoch 2 (--resume {ck} continues "
                                    "from it)")
    ck.unlink()
    error = KeyboardInterrupt()
    code, stdout, err = _run([*base, "--epochs", "5", "--checkpoint", str(ck), "-o", str(out)],
                             capsys)
    assert code == 130 and stdout == "" and not out.exists()    # was: no --checkpoint flag
    assert err.endswith(f"minigraphrec: interrupted; the checkpoint {ck} holds epoch 2 "
                        f"(--resume {ck} continues from it)\n")
    assert [r["epoch"] for r in mgr.load(ck).history_] == [1, 2]
    monkeypatch.setattr(train_module, "batch_gradient", real)
    code, _, err = _run(["train", str(data), "-q", *valid, "--resume", str(ck),
                         "--checkpoint", str(ck), "-o", str(out)], capsys)   # its last 3 epochs
    assert code == 0 and f"from {ck} after epoch 2, for 3 more" in err
    _assert_same_run(out, straight)
    _assert_same_run(ck, straight_ck)                # the checkpoint moved on: epoch 5
    if validate:                                     # the model holds the best epoch's
        assert mgr.load(out).best_epoch_ == mgr.load(straight).best_epoch_ is not None
        code, _, err = _run(["train", str(data), "-q", "--resume", str(ck), "--epochs", "1"],
                            capsys)
        assert code == 0 and (f"minigraphrec: warning: the model in {ck} was trained with "
                              "validation data; without --validation this run goes on without "
                              "it (no early stopping, no best epoch kept)") in err


def test_validation_stops_early_as_fit_does_and_shows_the_metric(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    valid = _write_triples(tmp_path / "valid.csv", seed=1)
    path = tmp_path / "m.npz"
    code, _, err = _run(["train", str(data), "--validation", str(valid), "--model", "mf",
                         "--dim", "4", "--epochs", "40", "-p", "patience=2", "-p",
                         "metric=ndcg@10", "-o", str(path)], capsys)
    assert code == 0, err                                     # was: no --validation flag
    epochs = [line for line in err.splitlines() if " MF epoch " in line]
    assert epochs and all(re.search(r"ndcg@10 \d\.\d{4}", line) for line in epochs)
    model = mgr.load(path)
    # what the library gives for the same data: the --test way of reading the file
    train, validation = mgr.datasets.load_triples(data, test_path=valid)
    expected = mgr.MF(dim=4, epochs=40, patience=2, metric="ndcg@10", random_state=0).fit(
        train, validation=validation)
    assert len(model.history_) == len(expected.history_) < 40           # it stopped early
    assert model.best_epoch_ == expected.best_epoch_ is not None
    for k in expected.params:
        assert np.array_equal(model.params[k], expected.params[k]), k   # the best epoch's
    last = len(model.history_)
    best = expected.history_[expected.best_epoch_ - 1]["ndcg@10"]
    assert f"stopped early after epoch {last} of 40: no better ndcg@10 on the validation " \
           "data for 2 epochs" in err
    assert f"best epoch {model.best_epoch_} (ndcg@10 {best:.4f}): the model holds its " \
           "parameters" in err
    assert "has no effect without validation data" not in err
    assert err.count("left out") == 1 and "also training pairs" not in err   # warned once


def test_validation_pairs_are_left_out_of_the_test_rankings(tmp_path, capsys):
    """With --validation and --test, the test rankings leave out the validation pairs as
    well as the training ones (RecBole's protocol; ``evaluate``'s advice). Was: the
    validation pairs, which chose the epoch, stayed candidates and took test slots."""
    import json
    data = _write_triples(tmp_path / "ratings.csv")
    valid = _write_triples(tmp_path / "valid.csv", seed=1)
    test = _write_triples(tmp_path / "test.csv", seed=2)
    path = tmp_path / "m.npz"
    code, out, err = _run(["train", str(data), "--validation", str(valid), "--test", str(test),
                           "--model", "mf", "--dim", "4", "--epochs", "3", "-q", "--json",
                           "-k", "5", "-o", str(path)], capsys)
    assert code == 0, err
    printed = json.loads(out)["metrics"]
    model = mgr.load(path)
    train, test_part = mgr.datasets.load_triples(data, test_path=test)
    _, validation = mgr.datasets.load_triples(data, test_path=valid)
    seen = mgr.Interactions(np.concatenate([train.users, validation.users]),
                            np.concatenate([train.items, validation.items]),
                            n_users=train.n_users, n_items=train.n_items,
                            user_ids=train.user_ids, item_ids=train.item_ids)
    assert printed == mgr.evaluate(model, test_part, k=5, train=seen)
    assert printed != mgr.evaluate(model, test_part, k=5)               # the old ranking
    # `evaluate --exclude` gives the same numbers from the saved model (was: no such flag)
    base = ["evaluate", str(path), str(test), "-k", "5", "--json"]
    code, out, err = _run([*base, "--exclude", str(valid)], capsys)
    assert code == 0, err
    assert json.loads(out)["metrics"] == printed
    code, out, err = _run(["evaluate", "--exclude", str(valid), str(path), str(test), "-k",
                           "5", "--json"], capsys)        # before the positionals, too
    assert code == 0 and json.loads(out)["metrics"] == printed, err
    code, out, _ = _run(base, capsys)
    assert json.loads(out)["metrics"] == mgr.evaluate(model, test_part, k=5)
    code, _, err = _run([*base, "--exclude", str(test)], capsys)
    assert code == 2 and err.strip() == (f"minigraphrec: --exclude: {test} is the test file; "
                                         "leaving its pairs out would leave nothing to find")
    strangers = tmp_path / "strangers.csv"
    strangers.write_text("user,item\nstranger,item3\nuser0,item1\n")
    code, _, err = _run([*base, "--exclude", str(strangers)], capsys)
    assert code == 2 and "the --exclude file" in err and "'stranger'" in err
    code, out, err = _run([*base, "--exclude", str(strangers), "--on-unknown", "drop"], capsys)
    assert code == 0 and (f"{strangers}: dropped 1 of 2 interactions to exclude whose user or "
                          "item is unknown to the model") in err


def test_validation_ids_follow_the_test_file_s_rules(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    valid = tmp_path / "valid.csv"
    valid.write_text("user,item\nuser0,item1\nuser1,item2\nstranger,item3\n")
    base = ["train", str(data), "--validation", str(valid), "--model", "mf", "--dim", "4",
            "--epochs", "1", "-q"]
    code, _, err = _run(base, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1        # before any training
    assert err.splitlines()[-1] == (f"minigraphrec: error: the --validation file {valid}: 1 "
                                    "interaction has ids unknown to the model, the first is "
                                    "user 'stranger' (line 4); --on-unknown drop leaves them out")
    code, _, err = _run([*base, "--on-unknown", "drop"], capsys)
    assert code == 0 and (f"minigraphrec: warning: {valid}: dropped 1 of 3 validation "
                          "interactions whose user or item training never saw "
                          "(--on-unknown drop)") in err
    strangers = tmp_path / "strangers.csv"
    strangers.write_text("user,item\nstranger,item3\nuser0,nothing\n")
    code, _, err = _run(["train", str(data), "--validation", str(strangers), "--model", "mf",
                         "--on-unknown", "drop"], capsys)
    assert code == 2 and err.splitlines()[-1] == (
        f"minigraphrec: error: {strangers}: every validation interaction has an id training "
        "never saw (2); is it this data's validation file?")
    lists = tmp_path / "train.txt"                  # read in DATA's format, as --test is
    lists.write_text("".join(f"{u} 1 2 3\n" for u in range(5)) + "5 1 2\n")
    code, _, err = _run(["train", str(lists), "--validation", str(valid), "--model", "mf"],
                        capsys)
    assert code == 2 and err.splitlines()[-1] == (
        f"(the --validation file is read in DATA's format: {lists} is read as LightGCN "
        f"adjacency lists ('user item item ...'), and so is {valid}; both files are read in one "
        "format, which --format sets)")


@pytest.mark.parametrize("extra, message", [
    (["--validation", "{data}"], "--validation: {data} is the input file {data}; validate on "
                                 "interactions held out from training"),
    (["--validation", "{tmp}/alias.csv"], "--validation: {tmp}/alias.csv is the input file "
                                          "{data}"),
    (["--test", "{tmp}/t.csv", "--validation", "{tmp}/t.csv"],
     "--validation: {tmp}/t.csv is the --test file {tmp}/t.csv; validate on other "
     "interactions than the test ones (early stopping picks the epoch by them)"),
    (["--validation", "{tmp}/nope.csv"], "--validation: no such file or folder: {tmp}/nope.csv"),
    (["--model", "popularity", "--validation", "{tmp}/t.csv"],
     "--validation: Popularity is not trained by epochs, so early stopping needs epochs to "
     "stop; --validation applies to mf, lightgcn, gcn, ngcf, gat"),
    (["--model", "ease", "--checkpoint", "{tmp}/ck.npz"],
     "--checkpoint: EASE is not trained by epochs, so there is no epoch to save after"),
    (["--checkpoint", "{tmp}/alias.csv"],
     "--checkpoint: {tmp}/alias.csv is the input file {data}; saving would overwrite it"),
    (["--checkpoint", "{tmp}"], "--checkpoint: {tmp} names a folder; give a file name"),
    (["--checkpoint", "{tmp}/m.npz"], "--checkpoint and -o both name {tmp}/m.npz; the "
                                      "checkpoint holds the last epoch trained, -o the model "
                                      "the run ends with: give two files"),
    (["--resume", "{tmp}/nope.npz"], "--resume: no such file: {tmp}/nope.npz"),
    (["--resume", "{data}"], "--resume: {data} is not a model file saved by minigraphrec"),
])
def test_validation_checkpoint_and_resume_are_checked_before_reading(tmp_path, capsys,
                                                                     monkeypatch, extra,
                                                                     message):
    import minigraphrec.cli as cli
    data = _write_triples(tmp_path / "ratings.csv")
    os.link(data, tmp_path / "alias.csv")
    _write_triples(tmp_path / "t.csv", seed=1)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setattr(cli, "_load", lambda *a, **k: pytest.fail("the data were read"))
    fill = {"data": str(data), "tmp": str(tmp_path)}
    code, out, err = _run(["train", str(data), *(x.format(**fill) for x in extra), "-o",
                           str(tmp_path / "m.npz")], capsys)
    assert code == 2 and out == "" and not err.startswith("training")
    assert err.startswith(f"minigraphrec: {message.format(**fill)}"), err
    assert len(err.strip().splitlines()) == 1, err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_validation_is_refused_for_a_movielens_folder(tmp_path, capsys):
    folder = _write_movielens(tmp_path / "ml")
    valid = _write_triples(tmp_path / "valid.csv")
    code, _, err = _run(["train", str(folder), "--model", "mf", "--validation", str(valid)],
                        capsys)
    assert code == 2 and err.strip() == (
        "minigraphrec: --validation: the MovieLens folder is read as a whole, with no separate "
        "file; give its interactions as a triples file (u.data, --format triples) to add "
        "--validation")


def test_resume_refuses_what_it_cannot_continue_in_one_line(tmp_path, capsys, monkeypatch):
    import minigraphrec.cli as cli
    data = _write_triples(tmp_path / "ratings.csv")
    mf, ease = tmp_path / "mf.npz", tmp_path / "ease.npz"
    assert main(["train", str(data), "--model", "mf", "--dim", "4", "--epochs", "2", "-q",
                 "-o", str(mf)]) == 0
    assert main(["train", str(data), "--model", "ease", "-q", "-o", str(ease)]) == 0
    capsys.readouterr()
    real_load = cli._load
    monkeypatch.setattr(cli, "_load", lambda *a, **k: pytest.fail("the data were read"))
    for extra, message in (
            (["--resume", str(ease)], f"--resume: the model in {ease} is EASE, which is not "
                                      "trained by epochs; only mf, lightgcn, gcn, ngcf, gat "
                                      "models can be resumed"),
            (["--resume", str(mf), "--model", "lightgcn"],
             f"--model lightgcn: the model in {mf} is MF; leave --model out when resuming"),
            (["--resume", str(mf), "--dim", "8"],
             f"--dim 8: the MF in {mf} has dim=4, and a resumed run cannot change it; only lr, "
             "batch_size, reg, loss, n_negatives, epochs, patience, metric, scoring, "
             "random_state, verbose, score_dtype may change"),
            (["--resume", str(mf), "-p", "dtype=float64", "--epochs", "1"],
             f"-p dtype=float64: the MF in {mf} has dtype='float32', and a resumed run cannot "
             "change it"),
            (["--resume", str(mf), "-p", "bogus=1"], "-p bogus: MF has no hyperparameter "
                                                     "'bogus'"),
            (["--resume", str(mf)], f"--resume: {mf} has trained 2 epochs, all the 2 it was "
                                    "set to; give --epochs N to train N more"),
            (["--resume", str(mf), "--epochs", "-1"], "--epochs: the number of epochs more "
                                                      "must be an integer >= 0, got -1")):
        code, out, err = _run(["train", str(data), *extra], capsys)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
        assert err.startswith(f"minigraphrec: {message}"), err
    monkeypatch.setattr(cli, "_load", real_load)
    code, _, err = _run(["train", str(data), "--resume", str(mf), "--epochs", "1",
                         "--test-size", "0.2"], capsys)             # other training data
    train = mgr.datasets.load_triples(data)
    part, _ = mgr.split.random_split(train, test_size=0.2, random_state=0)
    n, m = len(train), len(part)                     # what the message counts
    assert code == 2 and err.splitlines()[-1] == (
        f"minigraphrec: --resume: cannot resume this MF: the training data differ from the "
        f"data it was fitted on: 0 training pair(s) not in the fitted data and {n - m} fitted "
        f"pair(s) missing ({n} fitted, {m} given) (a resumed run trains on the data it was "
        f"trained on: the same DATA, --test-size and --seed)")
    assert mgr.load(mf).epochs == 2                  # the file it read is untouched


def test_help_describes_validation_checkpoint_and_resume(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--validation FILE", "--checkpoint FILE", "--resume FILE"):
        assert flag in text
    assert "-p patience=N stops after N epochs without a better one" in text
    assert "with --resume, the epochs to train on top of the saved ones" in text


@pytest.mark.parametrize("flags", [[], ["-v"]])
def test_a_long_epoch_prints_its_progress(tmp_path, capsys, monkeypatch, flags):
    """Inside an epoch, every PROGRESS_SECONDS, a line with the batch and the time left,
    between the epoch lines, once (was: nothing for the minutes an epoch of a large data
    set takes); -q prints none."""
    import logging
    import re
    from minigraphrec import train as train_module
    data = _write_triples(tmp_path / "ratings.csv")
    monkeypatch.setattr(train_module, "PROGRESS_SECONDS", 0.0)       # a line at every batch
    argv = ["train", str(data), "--model", "mf", "--epochs", "2", "-p", "batch_size=64"]
    code, _, err = _run([*argv, *flags], capsys)
    assert code == 0
    progress = [line for line in err.splitlines() if " of " in line and "left" in line]
    n_batches = -(-320 // 64)                                         # 40 users x 8 items
    assert len(progress) == 2 * (n_batches - 1)
    assert re.fullmatch(rf"    MF epoch 1/2: batch 2 of {n_batches}, \d+ s, about \d+ s left",
                        progress[0]), progress[0]
    lines = err.splitlines()
    assert lines.index(progress[0]) < [i for i, line in enumerate(lines)
                                       if re.match(r"    MF epoch +1 ", line)][0]
    log = logging.getLogger("minigraphrec.progress")
    assert log.level == logging.NOTSET and log.propagate and not log.handlers   # restored
    code, _, err = _run([*argv, "-q"], capsys)
    assert code == 0 and "left" not in err


def test_overlapping_fits_restore_the_progress_logger():
    """Two fits printing progress at once (main from two threads): the first sets the
    logger's state, the last restores it (was: A in, B in, A out, B out left it silenced)."""
    import logging
    import minigraphrec.cli as cli
    log = logging.getLogger("minigraphrec.progress")
    a, b = cli._progress_lines(), cli._progress_lines()
    a.__enter__()
    b.__enter__()
    assert len(log.handlers) == 1 and not log.propagate
    a.__exit__(None, None, None)
    assert len(log.handlers) == 1 and not log.propagate               # B still printing
    b.__exit__(None, None, None)
    assert log.level == logging.NOTSET and log.propagate and not log.handlers


def test_explain_heads_an_additive_gradient_x_input_as_str_does(tmp_path, capsys, monkeypatch):
    """Gradient x input within 1 % of the score is a split: "contribution" with shares, as
    str(e) heads it (the command line headed it "grad×input", by ``exact``)."""
    data = _write_triples(tmp_path / "ratings.csv")
    assert main(["train", str(data), "--model", "ngcf", "--epochs", "1", "--dim", "4", "-q",
                 "-o", str(tmp_path / "ngcf.npz")]) == 0
    capsys.readouterr()
    from minigraphrec.explain import Explanation

    def explain(self, user, item, k=None):
        return Explanation.from_contributions(user, item, [0, 1], [0.6, 0.399], kind="item",
                                              score=1.0, exact=False)   # total 0.999
    monkeypatch.setattr(mgr.NGCF, "explain", explain)
    e = explain(None, 0, 0)
    assert e.quantity == "gradient_input" and e.additive
    assert main(["explain", str(tmp_path / "ngcf.npz"), "--user", "user0", "--item", "item0"]
                ) == 0
    (header,) = [line for line in capsys.readouterr().out.splitlines()
                 if line.startswith("source")]
    assert header.split() == ["source", "contribution", "share"]
    assert str(e).splitlines()[1].split() == ["item", "contribution", "share"]


# ----------------------------------------------------------------- sessions
def _write_session_log(path, n_sessions=400, n_items=60, seed=0):
    """``session,item,timestamp`` lines of synthetic sessions (one per session event)."""
    s = mgr.datasets.synthetic_sessions(n_sessions=n_sessions, n_items=n_items,
                                        random_state=seed)
    lines = ["session,item,timestamp"]
    for k in range(len(s)):
        items = s.items[s.indptr[k]:s.indptr[k + 1]]
        end = int(s.end_time[k])
        lines += [f"s{k},i{i},{end - 30 * (len(items) - 1 - j)}" for j, i in enumerate(items)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _session_pipeline(path, model, test_fraction=0.2, **load):
    """What ``minigraphrec sessions`` does, written with the library's functions."""
    from minigraphrec.sequences import (evaluate_next_item, filter_sessions,
                                        prefix_examples, split_sessions_by_time)
    sessions, _ = filter_sessions(mgr.datasets.load_sessions(path, "triples", **load))
    train, test, _ = split_sessions_by_time(sessions, test_fraction=test_fraction)
    model.fit(train)
    return model, evaluate_next_item(model, *prefix_examples(test), k=(5, 20))


def test_sessions_prints_the_library_pipelines_metrics(tmp_path, capsys):
    log = _write_session_log(tmp_path / "log.csv")
    code, out, err = _run(["sessions", str(log), "--test-fraction", "0.2", "--model",
                           "markov", "-k", "5", "20"], capsys)
    assert code == 0, err
    _, expected = _session_pipeline(log, mgr.MarkovChain())
    lines = out.splitlines()
    rows = dict(line.split() for line in lines[2:-1])
    assert set(rows) == {f"{m}@{k}" for m in ("hit", "mrr", "ndcg") for k in (5, 20)}
    for key, value in rows.items():
        assert float(value) == pytest.approx(expected[key], abs=5e-5)
    assert lines[-1].startswith(f"(averaged over {expected['n_examples']:,} test examples")
    assert "read 400 sessions" in err and "split at" in err
    code, out, _ = _run(["sessions", str(log), "--test-fraction", "0.2", "--model", "markov",
                         "--json"], capsys)
    assert json.loads(out)["metrics"] == {k: v for k, v in expected.items()
                                          if k.endswith("@20") or k == "n_examples"}


def test_sessions_trains_srgnn_and_saves_it(tmp_path, capsys):
    log = _write_session_log(tmp_path / "log.csv")
    path = tmp_path / "srgnn.npz"
    code, out, err = _run(["sessions", str(log), "--test-fraction", "0.2", "--epochs", "1",
                           "--dim", "8", "--seed", "3", "-p", "max_len=none", "-o", str(path),
                           "--json"], capsys)
    assert code == 0, err
    model, expected = _session_pipeline(log, mgr.SRGNN(dim=8, epochs=1, max_len=None,
                                                       random_state=3))
    got = json.loads(out)["metrics"]
    assert got == {k: v for k, v in expected.items() if k.endswith("@20") or k == "n_examples"}
    saved = mgr.load(path)
    for name, value in model.params.items():                    # the same seed, the same bits
        np.testing.assert_array_equal(saved.params[name], value)
    assert "SRGNN epoch    1" in err


def test_sessions_reads_a_cikm_log_by_its_header(tmp_path, capsys):
    rng = np.random.default_rng(0)
    lines = ["sessionId;userId;itemId;timeframe;eventdate"]
    for k in range(300):
        day = f"2016-05-{1 + k // 20:02d}"
        lines += [f"{k};NA;{int(i)};{1000 * j};{day}"
                  for j, i in enumerate(rng.integers(0, 30, size=4))]
    log = tmp_path / "train-item-views.csv"
    log.write_text("\n".join(lines) + "\n")
    code, out, err = _run(["sessions", str(log), "--test-span", str(3 * 86400), "--boundary",
                           "drop", "--model", "popularity"], capsys)
    assert code == 0, err
    assert "as cikm" in err and "hit@20" in out
    code, _, err = _run(["sessions", str(log), "--test-span", "86400", "--sep", ";"], capsys)
    assert code == 2 and "--sep: not for a CIKM Cup 2016 log" in err


@pytest.mark.parametrize("extra, message", [
    ([], "give one of --test-span SECONDS"),
    (["--test-span", "10", "--test-fraction", "0.1"], "give --test-span or --test-fraction, "
                                                      "not both"),
    (["--test-fraction", "0.1", "--boundary", "drop"], "--boundary drop goes with --test-span"),
    (["--test-fraction", "0.1", "--model", "markov", "--epochs", "3"],
     "--epochs: MarkovChain has no hyperparameter 'epochs'"),
    (["--test-fraction", "0.1", "-p", "dim=0"], "dim must be an integer >= 1"),
    (["--test-fraction", "1.5"], "expected a number in (0, 1)"),
    (["--test-span", "-1"], "expected a finite number >= 0"),
])
def test_sessions_refuses_bad_flags_before_reading(tmp_path, capsys, extra, message):
    log = tmp_path / "log.csv"
    log.write_text("not read\n")                      # a flag error comes before reading
    code, out, err = _run(["sessions", str(log), *extra], capsys)
    assert code == 2 and message in err and out == ""


def test_sessions_names_a_missing_log_and_keeps_it_from_being_overwritten(tmp_path, capsys):
    code, _, err = _run(["sessions", str(tmp_path / "none.csv"), "--test-span", "1"], capsys)
    assert code == 2 and "LOG: no such file" in err
    log = _write_session_log(tmp_path / "log.csv")
    before = log.read_bytes()
    code, _, err = _run(["sessions", str(log), "--test-span", "1", "-o", str(log)], capsys)
    assert code == 2 and "saving would overwrite it" in err and log.read_bytes() == before


def test_sessions_names_the_events_flag_where_the_library_says_events(tmp_path, capsys):
    log = tmp_path / "events.csv"
    rows = [f"{1000 + 60 * j},u{j % 7},{'view' if j % 3 else 'cart'},i{j % 11}"
            for j in range(200)]
    log.write_text("timestamp,user,event,item\n" + "\n".join(rows) + "\n")
    base = ["sessions", str(log), "--gap", "1800", "--test-fraction", "0.2"]
    code, _, err = _run(base, capsys)
    assert code == 2 and "pass --events TYPE to keep some of them (--events view)" in err
    assert "events=" not in err
    code, _, err = _run(base + ["--events", "buy"], capsys)
    assert code == 2 and "--events asks for ['buy']" in err
    code, out, err = _run(base + ["--events", "view", "--model", "popularity",
                                  "--min-item-count", "1"], capsys)
    assert code == 0, err


def test_user_item_commands_refuse_a_session_model_by_name(tmp_path, capsys):
    log = _write_session_log(tmp_path / "log.csv")
    path = tmp_path / "markov.npz"
    assert _run(["sessions", str(log), "--test-fraction", "0.2", "--model", "markov", "-o",
                 str(path)], capsys)[0] == 0
    for argv in (["recommend", str(path), "--user", "s0"],
                 ["evaluate", str(path), str(log)],
                 ["explain", str(path), "--user", "s0", "--item", "i1"]):
        code, _, err = _run(argv, capsys)
        assert code == 2 and (f"{argv[0]}: the model in {path} is MarkovChain, a session "
                              f"model") in err, err


# --------------------------------------------------- outputs that are no regular file
def _special_outputs(tmp_path):
    """A FIFO made here, and /dev/full where the machine has one: files a save would replace."""
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    out = [(str(fifo), "a FIFO")]
    if os.path.exists("/dev/full"):
        out.append(("/dev/full", "a character device"))
    return out


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("flag", ["-o", "--checkpoint"])
def test_an_output_that_is_no_regular_file_is_refused_before_the_data_are_read(
        tmp_path, capsys, monkeypatch, flag):
    """Was: refused by the save, after the whole training."""
    import minigraphrec.cli as cli

    data = _write_triples(tmp_path / "ratings.csv")
    monkeypatch.setattr(cli, "_load", lambda *a, **k: pytest.fail("the data were read"))
    for path, kind in _special_outputs(tmp_path):
        other = ["-o", str(tmp_path / "m.npz")] if flag == "--checkpoint" else []
        code, out, err = _run(["train", str(data), "--model", "mf", flag, path, *other], capsys)
        assert code == 2 and out == "" and "training" not in err
        assert err.strip() == (f"minigraphrec: {flag}: cannot save to {path}: it is {kind}, "
                               f"not a regular file, and would be replaced; remove it first "
                               f"or choose another name")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.npz", "ratings.csv"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_sessions_output_that_is_no_regular_file_is_refused_before_reading(tmp_path, capsys,
                                                                         monkeypatch):
    log = _write_session_log(tmp_path / "log.csv")
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    code, out, err = _run(["sessions", str(log), "--test-fraction", "0.2", "--model", "markov",
                           "-o", str(fifo)], capsys)
    assert code == 2 and out == "" and err.strip() == (
        f"minigraphrec: -o: cannot save to {fifo}: it is a FIFO, not a regular file, and "
        f"would be replaced; remove it first or choose another name")


def test_a_symbolic_link_output_is_still_replaced_by_the_model(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    (tmp_path / "target.txt").write_text("old")
    link = tmp_path / "m.npz"
    link.symlink_to(tmp_path / "target.txt")
    assert main(["train", str(data), "--model", "popularity", "-q", "-o", str(link)]) == 0
    assert not link.is_symlink() and (tmp_path / "target.txt").read_text() == "old"


def test_a_library_message_and_the_checkpoint_note_join_without_a_stray_period(tmp_path,
                                                                             capsys):
    """Was: "... Try a smaller lr (now 1e+30).; the checkpoint ..." """
    data = _write_triples(tmp_path / "ratings.csv")
    ck, out = tmp_path / "ck.npz", tmp_path / "big.npz"
    code, stdout, err = _run(["train", str(data), "--model", "mf", "--epochs", "2", "--lr",
                              "1e30", "-q", "--checkpoint", str(ck), "-o", str(out)], capsys)
    last = err.splitlines()[-1]
    assert code == 2 and stdout == "" and not out.exists()
    assert ".;" not in last and last.startswith("minigraphrec: error: MF: the loss became "
                                                "non-finite")
    assert last.endswith(f"Try a smaller lr (now 1e+30); the checkpoint {ck} holds epoch 1 "
                         f"(--resume {ck} continues from it)")


def test_joined_drops_only_a_final_period_and_only_before_more():
    from minigraphrec.cli import _joined
    assert _joined("Try a smaller lr.", "; the checkpoint") == "Try a smaller lr; the checkpoint"
    assert _joined("Try a smaller lr.", "") == "Try a smaller lr."
    assert _joined("no period", "; more") == "no period; more"


# ------------------------------------------------------- more user errors, named
@pytest.mark.parametrize("value, shown", [('["itemknn", 3]', "holds 3,"),
                                          ("itemknn,nope", "holds 'nope',"),
                                          ("itemknn,,userknn", "holds '',"),
                                          ("hybrid", "holds 'hybrid',")])
def test_hybrid_components_that_are_no_model_names_are_named_with_their_flag(tmp_path, capsys,
                                                                             value, shown):
    """Was: an AttributeError traceback for a number in the list, and no flag named."""
    code, out, err = _run(["train", str(tmp_path / "unread.csv"), "--model", "hybrid", "-p",
                           f"models={value}"], capsys)
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.startswith("minigraphrec: -p models: hybrid: models=") and shown in err
    assert "not the name of a component model" in err and "itemknn, userknn" in err


def test_demo_names_the_models_flag_for_an_unknown_model(capsys):
    code, _, err = _run(["demo", "--models", "popularity", "nope"], capsys)
    assert code == 2 and err.startswith("minigraphrec: --models: unknown model 'nope'")


def test_a_param_too_deeply_nested_to_parse_is_a_string_not_out_of_memory(tmp_path, capsys):
    """'----1' exhausts Python's parser (a MemoryError), which the command reported as running
    out of memory; the value is kept as text, which the model's check refuses."""
    code, _, err = _run(["train", str(tmp_path / "unread.csv"), "-p",
                         "dim=" + "-" * 100_000 + "1"], capsys)
    assert code == 2 and "out of memory" not in err
    assert err.startswith("minigraphrec: -p dim: dim must be an integer >= 1")


def test_library_advice_on_separators_and_columns_reads_as_flags(tmp_path, capsys):
    from minigraphrec.cli import _flags
    assert _flags("check sep= and columns=)") == "check --sep and --columns)"
    assert _flags("pass sep='|' or columns='a,b'") == "pass --sep '|' or --columns 'a,b'"
    assert _flags("needs format='triples'") == "needs --format triples"
    (tmp_path / "short.csv").write_text("0,1\n0\n1,2\n")
    code, _, err = _run(["train", str(tmp_path / "short.csv"), "--model", "popularity"], capsys)
    assert code == 2 and "(detected from line 1; pass --sep to choose it)" in err
    (tmp_path / "two.csv").write_text("s1,i1\ns1,i2\n")
    code, _, err = _run(["sessions", str(tmp_path / "two.csv"), "--test-fraction", "0.2",
                         "--model", "markov"], capsys)
    assert code == 2 and "(YooChoose's clicks: --columns 'session,timestamp,item,-')" in err
    log = _write_session_log(tmp_path / "log.csv", n_sessions=20)
    code, _, err = _run(["sessions", str(log), "--format", "cikm", "--test-fraction", "0.2",
                         "--model", "markov"], capsys)
    assert code == 2 and err.rstrip().endswith("lines needs --format triples")


def test_an_output_file_that_holds_no_model_is_not_replaced(tmp_path, capsys):
    """-o ratings.csv (a data file this run does not read) was replaced by the model; a saved
    model, an empty file and a symbolic link still are."""
    data = _write_triples(tmp_path / "train.csv")
    other = _write_triples(tmp_path / "ratings.csv", seed=1)
    kept = other.read_bytes()
    for argv in (["--model", "popularity", "-o", str(other)],
                 ["--model", "mf", "--epochs", "1", "--checkpoint", str(other)]):
        code, out, err = _run(["train", str(data), "-q", *argv], capsys)
        assert code == 2 and out == "" and "training" not in err     # before reading
        assert f"{other} exists and is not a model file saved by minigraphrec" in err
        assert f"e.g. {tmp_path / 'ratings.npz'}" in err and other.read_bytes() == kept
    log = _write_session_log(tmp_path / "log.csv", n_sessions=20)
    code, _, err = _run(["sessions", str(log), "--test-fraction", "0.2", "--model", "markov",
                         "-o", str(other)], capsys)
    assert code == 2 and "is not a model file" in err and other.read_bytes() == kept
    empty, model = tmp_path / "empty.npz", tmp_path / "model.npz"
    empty.write_bytes(b"")
    for path in (empty, model, model):                 # the second: over a saved model
        assert main(["train", str(data), "--model", "popularity", "-q", "-o", str(path)]) == 0
        assert isinstance(mgr.load(path), mgr.Popularity)


def test_demo_prints_the_same_results_for_the_same_seed(capsys):
    """Its table held the fit times (which differ run to run); they are on stderr."""
    outs = []
    for _ in range(2):
        assert main(["demo", "--models", "popularity", "itemknn"]) == 0
        out, err = capsys.readouterr()
        outs.append(out)
        assert "done in" in err
    assert outs[0] == outs[1] and "fit s" not in outs[0] and "ItemKNN" in outs[0]


def test_evaluate_refuses_the_test_file_as_exclude_before_reading(tmp_path, capsys):
    test = _write_triples(tmp_path / "test.csv")
    code, out, err = _run(["evaluate", str(tmp_path / "unread.npz"), str(test), "--exclude",
                           str(test)], capsys)
    assert code == 2 and out == ""
    assert err == f"minigraphrec: --exclude: {test} is the test file; leaving its pairs out " \
                  "would leave nothing to find\n"
