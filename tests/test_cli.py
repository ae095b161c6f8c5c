"""The `minigraphrec` command, end to end on small files it writes itself."""
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
    out = capsys.readouterr().out
    assert "recall@20" in out and "Popularity" in out and "LightGCN" in out
    assert "LightGCN epoch    2" in out                          # per-epoch progress
    assert "top-5 for users" in out


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
    assert "recall@5" in capsys.readouterr().out

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


@pytest.mark.parametrize("name", ["popularity", "itemknn", "ease"])
def test_train_any_model_by_name(tmp_path, capsys, name):
    data = _write_triples(tmp_path / "ratings.csv")
    path = tmp_path / f"{name}.npz"
    assert main(["train", str(data), "--model", name, "--test-size", "0.2", "--seed", "0",
                 "-o", str(path)]) == 0
    assert "recall@20" in capsys.readouterr().out
    assert main(["recommend", str(path), "--user", "user0", "-k", "3"]) == 0


def test_recommend_unknown_user_names_it(tmp_path):
    data = _write_triples(tmp_path / "ratings.csv")
    path = tmp_path / "m.npz"
    main(["train", str(data), "--model", "popularity", "-o", str(path)])
    with pytest.raises(SystemExit, match="user 'nobody' is not known"):
        main(["recommend", str(path), "--user", "nobody"])


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
    with pytest.raises(SystemExit, match="no hyperparameter 'bogus'"):
        main(["train", str(data), "--model", "ease", "-p", "bogus=1"])


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
    with pytest.raises(SystemExit, match="unknown component"):
        main(["train", str(data), "--model", "hybrid", "-p", "models=itemknn,nope"])


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
    triples.write_text("u1 i1 4.5\nu2 i2 3\n")                  # triples in a .txt file
    assert main(["train", str(triples), "--model", "popularity"]) == 2
    assert "pass --format triples" in capsys.readouterr().err
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
    with pytest.raises(SystemExit, match="--user: user 'nobody' is not known"):
        main(["explain", str(path), "--user", "nobody", "--item", "item1"])
    with pytest.raises(SystemExit, match="--item: item 'item999' is not in the model's catalogue"):
        main(["explain", str(path), "--user", "user1", "--item", "item999"])
    with pytest.raises(SystemExit, match="--k must be"):
        main(["explain", str(path), "--user", "user1", "--item", "item1", "--k", "-1"])
    hybrid = tmp_path / "hybrid.npz"
    main(["train", str(data), "--model", "hybrid", "-q", "-o", str(hybrid)])
    with pytest.raises(SystemExit, match="Hybrid does not explain"):
        main(["explain", str(hybrid), "--user", "user1", "--item", "item1"])


def test_explain_user_based_model_lists_neighbours(tmp_path, capsys):
    data = _write_triples(tmp_path / "ratings.csv")
    path = tmp_path / "userknn.npz"
    main(["train", str(data), "--model", "userknn", "-q", "-o", str(path)])
    capsys.readouterr()
    assert main(["explain", str(path), "--user", "user2", "--item", "item4"]) == 0
    out = capsys.readouterr().out
    assert "exact: s_ui = Σ_v W_uv R_vi" in out and "\nuser user" in out
