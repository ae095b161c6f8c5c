"""Every tutorial runs as a script and reports what its prose says.

Each runs from an empty working directory, with ``$MINIGRAPHREC_FIGURES`` pointing into it, and
``$MINIGRAPHREC_TUTORIAL_TINY=1`` for the tutorials whose default size takes more than a few
seconds; no real data set is visible (``$MINIGRAPHREC_ML100K`` unset).
"""
import runpy
from pathlib import Path

import numpy as np
import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"


@pytest.fixture
def run(tmp_path, monkeypatch):
    """``run(name, tiny=False) -> (globals, figures folder)``, in a fresh working directory."""
    def _run(name, tiny=False):
        figures = tmp_path / "figs"
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("MINIGRAPHREC_FIGURES", str(figures))
        monkeypatch.delenv("MINIGRAPHREC_ML100K", raising=False)
        if tiny:
            monkeypatch.setenv("MINIGRAPHREC_TUTORIAL_TINY", "1")
        else:
            monkeypatch.delenv("MINIGRAPHREC_TUTORIAL_TINY", raising=False)
        return runpy.run_path(str(TUTORIALS / name), run_name="__main__"), figures
    return _run


def figures_written(figures, *names):
    """Assert each ``<name>.png`` exists under ``figures`` and is a PNG."""
    for name in names:
        path = figures / f"{name}.png"
        assert path.is_file(), f"{path} was not written"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"


@pytest.mark.parametrize("name, line, new", [
    ("01_article_gcn.py", "hidden = 16 ", "hidden = 8 "),
    ("02_lightgcn_by_hand.py", "K = 3 ", "K = 2 "),
    ("03_logs_to_graph.py", "k_gowalla = 10 ", "k_gowalla = 16 "),
    ("03_logs_to_graph.py", "k_strict = 15 ", "k_strict = 12 "),
])
def test_parameter_changes_run(tmp_path, monkeypatch, name, line, new):
    """A value a student changes in a tutorial's parameters cell runs to the end (each of
    these stopped with an AssertionError or a DataError when the cell promised a choice)."""
    source = (TUTORIALS / name).read_text(encoding="utf-8")
    assert source.count("\n" + line) == 1
    script = tmp_path / name
    script.write_text(source.replace("\n" + line, "\n" + new), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINIGRAPHREC_FIGURES", str(tmp_path / "figs"))
    monkeypatch.delenv("MINIGRAPHREC_ML100K", raising=False)
    monkeypatch.delenv("MINIGRAPHREC_TUTORIAL_TINY", raising=False)
    runpy.run_path(str(script), run_name="__main__")


def test_01_article_gcn(run):
    ns, figures = run("01_article_gcn.py")
    assert ns["n_edges_as_printed"] == 0                       # the article's randint(0, 1)
    assert np.allclose(ns["H1"], ns["H1_by_hand"], rtol=1e-12, atol=1e-12)
    assert ns["graph_top_u1"] == "v5"                          # the toy's planted answer
    assert ns["last_loss"] < 0.5 * ns["first_loss"]            # training moved the loss
    assert ns["gap"] > 0.2                                     # observed pairs score higher
    assert ns["n_params"] == 592                               # 2·10·16 + 16² + 16, as printed
    # the article's sum over N(v): no self-loops; a ReLU output cannot go below log(2)/2
    assert not ns["model"].self_loops and ns["model"].batch_size == 68
    assert ns["relu_last_loss"] >= np.log(2) / 2 > ns["last_loss"]
    assert len(ns["seeds_top_u1"]) == 3
    figures_written(figures, "01_output_activation")


def test_02_lightgcn_by_hand(run):
    ns, figures = run("02_lightgcn_by_hand.py")
    K, M, S = ns["K"], ns["M"], ns["S"]
    # the numbers the closing prose quotes (loss 0.667 -> 0.091, Recall@20 0.432 vs 0.160)
    assert abs(ns["first_loss"] - 0.667) < 2e-3 and abs(ns["last_loss"] - 0.091) < 2e-3
    assert abs(ns["recall_lightgcn"] - 0.432) < 2e-3
    assert abs(ns["recall_popularity"] - 0.160) < 2e-3
    # 1. Â = D^-1/2 A D^-1/2, isolated nodes (u11, v11) with zero rows
    assert np.allclose(ns["A_hat"].toarray(), ns["A_hat_by_hand"], rtol=1e-14, atol=0)
    assert list(ns["node_names"][ns["isolated"]]) == ["u11", "v11"]
    assert not np.any(ns["A_hat"].toarray()[ns["isolated"]])
    # 2. Xavier E0 and E = 1/(K+1) Σ Â^k E0
    assert np.array_equal(ns["E0"], ns["E0_by_hand"])
    assert np.allclose(ns["E_model"], ns["E_by_hand"], rtol=1e-12, atol=1e-15)
    assert np.allclose(ns["E_op"], ns["E_by_hand"], rtol=1e-12, atol=1e-15)
    # 3. the BPR loss with L2 on the batch's layer-0 rows
    assert np.isclose(ns["loss"], ns["loss_by_hand"], rtol=1e-12, atol=0)
    assert ns["l2_part"] > 0
    # 4. dE0 = M G + L2 term, and finite differences agree
    assert np.allclose(M, M.T, rtol=0, atol=1e-15)
    assert np.allclose(ns["grads"]["E0"], ns["dE0_by_hand"], rtol=1e-12, atol=1e-16)
    numeric, exact = ns["fd_check"]["E0"]
    assert np.isclose(numeric, exact, rtol=1e-6, atol=0)
    assert np.allclose(ns["fd_numeric"], ns["dE0_by_hand"], rtol=1e-6, atol=1e-8)
    # 5. hop balls: nested, growing, not the whole graph; E[S_0] from E0 on S_K alone
    sizes = ns["ball_sizes"]
    assert all(np.all(S[h] <= S[h + 1]) for h in range(K))
    assert sizes == sorted(set(sizes)) and sizes[K] < ns["n"]
    assert all(np.array_equal(ns["level"] <= h, S[h]) for h in range(K + 1))
    S0 = S[0]
    assert np.allclose(ns["E_from_ball"][S0], ns["E_by_hand"][S0], rtol=1e-15, atol=0)
    assert not np.allclose(ns["E_one_short"][S0], ns["E_by_hand"][S0], rtol=1e-6, atol=0)
    assert not np.any(ns["grads"]["E0"][~S[K]])
    assert list(ns["node_names"][S[K] & ~ns["grad_rows"]]) == ["u6", "u7", "u9"]
    assert np.allclose(ns["E_rows"], ns["E_by_hand"][ns["nodes"]], rtol=1e-12, atol=1e-15)
    assert np.allclose(ns["dE0_rows"], M @ ns["G"], rtol=1e-12, atol=1e-16)
    assert ns["entries_read"] < ns["entries_full"]
    # 6. two Adam steps; the first moves each coordinate by almost exactly lr
    assert np.allclose(ns["model"].params["E0"], ns["E0_adam_by_hand"], rtol=1e-14, atol=1e-18)
    lr = ns["lr"]
    assert np.all(ns["first_step"] <= lr * (1 + 1e-9)) and np.median(ns["first_step"]) > 0.999 * lr
    assert ns["adam_loss_after"] < ns["loss"]
    # 7. training: the loss fell, LightGCN beats popularity by a wide margin
    assert ns["last_loss"] < 0.5 * ns["first_loss"]
    assert ns["recall_lightgcn"] > 1.5 * ns["recall_popularity"]
    figures_written(figures, "02_training_run")


# ---- tutorials 03, 04 ----
def test_03_logs_to_graph(run):
    ns, figures = run("03_logs_to_graph.py")
    log, row_of = ns["log"], ns["row_of"]
    # the degree tail the prose quotes: 0.436 of items at degree >= 10, 0.033 at >= 100
    assert abs(ns["ccdf_slope"] + 1.12) < 0.01
    assert abs(ns["ccdf_10"] - 0.436) < 2e-3 and abs(ns["ccdf_100"] - 0.033) < 2e-3
    # 1-3. the 13-event log: header and comment skipped, ids in order of first appearance
    assert (ns["n_events"], ns["n_edges_log"], ns["n_pairs"]) == (13, 9, 9)
    assert list(log.user_ids) == ["alice", "bob", "carol", "dave", "erin"]
    assert list(log.item_ids) == ["dune", "neuromancer", "foundation", "hyperion", "solaris"]
    assert np.array_equal(ns["A"].toarray(), ns["A_by_hand"])
    # 5. each keep= rule on the repeated pairs the prose names
    alice, bob, carol = (log.user_index[x] for x in ("alice", "bob", "carol"))
    dune, foundation = log.item_index["dune"], log.item_index["foundation"]
    d = ns["dedup"]
    assert d["count"].weights[row_of(d["count"], alice, dune)] == 3
    assert d["sum"].weights[row_of(d["sum"], alice, dune)] == 5 + 4 + 5
    assert d["count"].timestamps[row_of(d["count"], alice, dune)] == 1_700_005_400
    k = row_of(d["first"], carol, foundation)             # the late line wins "first"
    assert (d["first"].weights[k], d["first"].timestamps[k]) == (5, 1_700_000_300)
    assert d["first"].weights[row_of(d["first"], bob, foundation)] == 2      # tie: first line
    assert d["last"].weights[row_of(d["last"], bob, foundation)] == 3        # tie: last line
    # 4. degrees of synthetic 3000 x 3000 as the prose quotes them
    du, di = ns["user_degree"], ns["item_degree"]
    assert (du.min(), np.median(du), du.max()) == (9, 20, 34)
    assert (di.min(), np.median(di), di.max()) == (0, 8, 524)
    assert ns["n_isolated_items"] == 7 and abs(ns["top10_share"] - 0.55) < 0.005
    # 6. the (10, 10)-core in three rounds, and the (15, 15)-core collapsing in ten
    sizes = ns["rounds"]
    assert ns["n_rounds_gowalla"] == 3 and np.sum(du < 10) == 1
    assert (sizes[0][1] - sizes[1][1], sizes[0][2] - sizes[1][2]) == (1689, 9405)
    assert (sizes[1][0] - sizes[2][0], sizes[2][1] - sizes[3][1]) == (27, 3)
    assert ns["core_sizes"] == (2972, 1301, 50622)
    assert (ns["core"].n_users, ns["core"].n_items, len(ns["core"])) == (2972, 1301, 50622)
    assert abs(50622 / sizes[0][2] - 0.84) < 0.005
    assert ns["n_rounds_strict"] == 10 and "empty" in ns["strict_error"]
    assert abs(ns["strict_users_below"] - 0.07) < 0.005
    assert abs(ns["strict_items_below"] - 0.72) < 0.005
    figures_written(figures, "03_degree_distribution", "03_kcore_rounds")


def test_04_node_edge_features(run):
    ns, figures = run("04_node_edge_features.py")
    # 1. the encodings; film 5's missing year is the median of 1977, 1986, 1994, 1999
    assert ns["Xu_by_hand"].shape == (6, 7) and ns["Xi_by_hand"].shape == (5, 21)
    assert ns["imputed_year"] == 1990.0 and ns["Xi_by_hand"][-1, -1] == 1.0
    assert np.array_equal(ns["mini"].user_features, ns["Xu_by_hand"])
    assert abs(ns["feature_agreement"] - 0.73) < 0.02
    # 2. about 2 events per pair; the weights by hand equal the library's
    assert abs(len(ns["events"]) / len(ns["data"]) - 2.0) < 0.02
    assert ns["R_count"].data.max() == 19
    assert np.allclose(ns["R_decay"].toarray(), ns["decay_by_hand"], rtol=1e-12, atol=0)
    assert np.all(ns["R_decay"].data <= ns["R_count"].data)        # each event weighs <= 1
    # user 36's shares of its averaged message, as the prose quotes them
    share = ns["share"]
    decay = share[[name for name in share if name.startswith("time decay")][0]]   # oldest first
    assert ns["u_show"] == 36 and ns["nbrs"].size == 30
    assert np.allclose(share["binary"], 1 / 30, rtol=1e-14)
    assert abs(ns["share_count_top"] - 7 / 74) < 1e-12 and np.sum(share["count"] == 7 / 74) == 3
    assert abs(ns["share_decay_top"] - 0.20) < 0.005
    assert ns["weightings"]["count"][np.argmax(decay)] == 7           # one of the three
    assert ns["n_decayed_below_1pc"] == 11 and np.sum(decay[:12] < 0.01) == 11
    # 3. normalisations: the top item has degree 186, the median one 7, 5 isolated nodes
    assert (ns["top_degree"], ns["median_degree"], ns["isolated"].size) == (186, 7, 5)
    v, m = ns["v"], ns["median_item"]
    row_sum, message = ns["row_sum"], ns["message"]
    assert row_sum["none"][v] == 186 and np.isclose(row_sum["left"][v], 1.0, rtol=1e-14)
    ratio = row_sum["symmetric"][v] / row_sum["symmetric"][m]        # grows like sqrt(d)
    assert abs(ratio / np.sqrt(186 / 7) - 1) < 0.1
    # the random messages, against the mean over every item of the median degree (98 of
    # them): one degree-7 item's norm, a sum of 7 random rows, spreads by about ±30 %; the
    # item the unstable argsort picked passed (NumPy 2.4), the stable sort's pick does not
    d, n_users = ns["d"], ns["n_users"]
    peers = n_users + np.flatnonzero(d[n_users:] == d[m])
    flat = message["symmetric"][v] / message["symmetric"][peers].mean()
    assert peers.size > 50 and 0.8 < flat < 1.25
    assert message["left"][v] < 0.3 * message["left"][peers].mean()        # shrinks
    assert message["none"][v] > 3 * message["none"][peers].mean()          # grows
    # 4. the models propagate with the weighted, normalised matrices
    assert np.allclose(ns["light"].A_hat_.toarray(),
                       ns["normalize_by_hand"](ns["A_count"].toarray(), "symmetric", False),
                       rtol=1e-14, atol=0)
    figures_written(figures, "04_feature_matrices", "04_time_decay", "04_user_edge_weights",
                    "04_normalisation_vs_degree")


# ---- tutorials 05, 06 ----

def test_05_backprop_by_hand(run):
    ns, figures = run("05_backprop_by_hand.py")
    # 2. the layer's gradients by hand equal the ops' backward pass and the per-node sum
    assert np.allclose(ns["dX"], ns["dX_op"], rtol=1e-12, atol=1e-14)
    assert np.allclose(ns["dX_per_node"], ns["dX"], rtol=1e-12, atol=1e-14)
    assert np.allclose(ns["dW"], ns["dW_op"], rtol=1e-12, atol=1e-14)
    assert np.allclose(ns["db"], ns["db_op"], rtol=1e-12, atol=1e-14)
    # 3. finite differences agree, and the step stays clear of the ReLU kinks
    for numeric, exact in ns["checks"].values():
        assert np.isclose(numeric, exact, rtol=1e-6, atol=0)
    assert ns["worst_dW"] < 1e-7 and ns["min_abs_Z"] > 1e3 * ns["eps_check"]
    assert ns["max_move_Z"] < ns["min_abs_Z"] and ns["worst_W0"] < 1e-7
    # 4. BCE: the naive form overflows where the stable one is exact; the tiny gradient survives
    assert not np.all(np.isfinite(ns["naive"])) and np.all(np.isfinite(ns["stable"]))
    assert np.isclose(ns["stable"][0], 1000.0, rtol=1e-15) and 4.2e-18 < ns["stable"][5] < 4.3e-18
    assert ns["rounded_to_zero"] == 0 and -4.3e-18 < ns["tiny_gradient"] < -4.2e-18
    # 5. the whole model by hand equals model.loss_and_grad, and its check passes
    assert np.isclose(ns["loss_lib"], ns["loss_by_hand"], rtol=1e-12)
    for k, (numeric, exact) in ns["model_check"].items():
        assert np.isclose(numeric, exact, rtol=1e-6, atol=0), k
    # 6. the V curve: eps^2 and 1/eps arms for central, eps for one-sided, minimum near 1e-5..1e-6
    assert 1.8 < ns["slope_central_right"] < 2.2
    assert -1.3 < ns["slope_central_left"] < -0.7
    assert 0.9 < ns["slope_forward_right"] < 1.1
    assert 1e-7 <= ns["eps_best_central"] <= 1e-4 and ns["err_best_central"] < 1e-9
    assert 1e-10 <= ns["eps_best_forward"] <= 1e-7
    assert ns["err_best_forward"] > 100 * ns["err_best_central"]
    assert ns["err_at_check"] < 1e-9
    # 7. every planted bug is caught; the correct gradient is not
    assert set(ns["caught"]) == set(ns["bugs"]) and all(ns["caught"].values())
    errors = ns["rel_errors"]
    assert max(errors["correct"].values()) < 1e-8
    assert all(max(errors[bug].values()) > 1e-2 for bug in ns["bugs"])
    # a transposed W0 breaks only the gradients below the layer
    assert errors["W not transposed"]["W0"] == errors["correct"]["W0"]
    assert errors["W not transposed"]["W_user_in"] > 1e-2
    assert ns["entrywise_message"] is not None and "256 entries" in ns["entrywise_message"]
    figures_written(figures, "05_v_curve", "05_wrong_gradients")


def test_06_article_section5_code(run):
    ns, figures = run("06_article_section5_code.py")
    n_users = ns["n_users"]
    # 1. neither module is installed; 2. randint(0, 1) draws no edge, every node the same
    assert not any(ns["article_modules"].values())
    assert ns["n_edges_as_printed"] == 0 and 30 < ns["n_edges_coin"] < 70
    assert ns["n_distinct_rows_empty"] == 1
    assert ns["empty_fit_error"] is not None and "no interactions" in ns["empty_fit_error"]
    # 3. all-zero labels: the loss goes to ~0 while the structure is lost, not learned
    assert ns["zero_losses"][-1] < 0.01 < ns["zero_losses"][0]
    assert ns["prob_zero"].max() < 0.1
    assert ns["auc_zero_after"] < ns["auc_zero_before"] and abs(ns["auc_zero_after"] - 0.5) < 0.05
    # 4. output_size=1: cosine is only ±1, ties at the top, at most two dot rankings
    assert set(ns["values_1d"]) <= {-1.0, 0.0, 1.0}
    assert min(ns["ties_at_top_1d"]) >= 2 and ns["n_dot_rankings_1d"] <= 2
    # 5. the repaired program: hand init and loop equal fit; the loss fell
    assert all(np.array_equal(ns["model"].params[k], ns["fitted"].params[k])
               or np.allclose(ns["model"].params[k], ns["fitted"].params[k], rtol=1e-12)
               for k in ns["model"].params)
    assert np.allclose(ns["loop_losses"], ns["fit_losses"], rtol=1e-12, atol=0)
    assert len(ns["loop_losses"]) == ns["epochs"] == 100
    assert ns["last_loss"] < 0.2 * ns["first_loss"]
    # 6. cosine by hand equals the library; the top-3 table; what the prose quotes
    assert np.allclose(ns["S"], ns["fitted"].score(np.arange(n_users)), rtol=1e-12, atol=1e-14)
    table = ns["top3_table"]
    assert len(table) == n_users and all(len(items) == 3 for items in table.values())
    seen = ns["observed"]
    assert not any(seen[u, ns["top_items"][u]].any() for u in range(n_users))
    assert ns["n_argmax_seen"] == 9 and ns["n_dot_top3_differs"] == 1
    assert ns["n_top1_in_group"] == 8 and ns["n_agree_graph"] == 5
    assert table["u1"][:2] == ["v7", "v5"]
    assert abs(ns["auc_repaired"] - 0.95) < 0.01 and ns["gap"] > 0.3
    assert abs(ns["auc_zero_before"] - 0.61) < 0.01 and abs(ns["auc_zero_after"] - 0.51) < 0.01
    figures_written(figures, "06_one_dim_output", "06_loss_curves", "06_cosine_heatmap")

# ---- tutorials 07, 08 ----

def test_07_ranking_and_evaluation(run):
    ns, figures = run("07_ranking_and_evaluation.py", tiny=True)
    # 1. the three scores of user 0 by hand equal score_matrix
    for kind, by_hand in (("dot", "dot_by_hand"), ("cosine", "cos_by_hand"),
                          ("euclidean", "euc_by_hand")):
        assert np.allclose(ns["scores"][kind][ns["u"]], ns[by_hand], rtol=1e-12, atol=1e-15)
    # 2. long vectors for popular items; dot leans to the head, Euclidean to the tail
    assert ns["norm_popularity_corr"] > 0.9
    pop = ns["mean_pop"]
    assert pop["dot"] > pop["cosine"] > pop["euclidean"] > ns["popularity"].mean()
    overlaps = ns["overlaps"]
    assert overlaps["cosine/euclidean"] > max(overlaps["dot/cosine"], overlaps["dot/euclidean"])
    assert all(0 < v < 1 for v in overlaps.values())
    recall = ns["recall_by_kind"]
    assert recall["dot"] > recall["cosine"] > recall["euclidean"]
    assert ns["lightgcn"].scoring == "dot"
    # 3. one user's metrics by hand equal mgr.metrics; evaluate averages them
    assert len(ns["test_items"]) >= 3 and sum(ns["rel"]) >= 2
    assert ns["ranked"][0].tolist() == ns["L"]
    for name, value in ns["by_hand"].items():
        assert np.isclose(ns["library"][name], value, rtol=1e-12, atol=0), name
    assert 0 < ns["ndcg_by_hand"] <= 1 and 0.5 < ns["auc_by_hand"] <= 1
    result = ns["result"]
    assert np.isclose(result["recall@20"], np.nanmean(ns["per_user_recall"]), rtol=1e-12)
    assert result["recall@20"] >= result["recall@10"] and result["precision@20"] <= 0.2
    # 4. full ranking and sampled negatives order ItemKNN (10 nbrs) and MF differently
    full, expected, drawn = ns["full_recall"], ns["expected_hr"], ns["sampled_hr"]
    assert full["ItemKNN (10 nbrs)"] > full["MF"]
    assert expected["ItemKNN (10 nbrs)"] < expected["MF"] - 0.05
    assert drawn["ItemKNN (10 nbrs)"] < drawn["MF"]
    assert ns["order_full"] != ns["order_sampled"]
    assert ns["order_full"][0] == ns["order_sampled"][0] == "LightGCN"
    assert ns["gap_full"] > 1.5 * ns["gap_sampled"] > 1.5
    assert ns["zero_scored"]["ItemKNN (10 nbrs)"] > 0.3 and ns["zero_scored"]["MF"] < 0.01
    for name in drawn:
        se = np.sqrt(expected[name] * (1 - expected[name]) / ns["n_pairs"])
        assert abs(drawn[name] - expected[name]) < 4 * se, name
    figures_written(figures, "07_similarity_norms", "07_full_vs_sampled")


def test_08_classical_algorithms(run):
    ns, figures = run("08_classical_algorithms.py", tiny=True)
    u = [ns["user"]]
    # one user's scores by hand equal each model's score
    for model, by_hand in (("content", "content_by_hand"), ("userknn", "userknn_by_hand"),
                           ("itemknn", "itemknn_by_hand"), ("hybrid", "hybrid_by_hand")):
        assert np.allclose(ns[model].score(u)[0], ns[by_hand], rtol=1e-12, atol=1e-15), model
    # pruning and shrinkage: at most k neighbours, shrunk below the plain cosine
    k = ns["k_neighbors"]
    assert 0 < len(ns["neighbours_u"]) <= k
    assert np.all(np.diff(ns["itemknn"].similarity_.indptr) <= k)
    assert 0 < ns["neighbours_u"][ns["best_v"]] < ns["cosine_best_v"]
    assert np.count_nonzero(ns["itemknn_by_hand"]) < ns["n_i"]
    # the hybrid's weights sum to 1 and content + popularity beats both parts by far
    recall = ns["recall20"]
    assert np.isclose(ns["w_content"] + ns["w_popularity"], 1.0, rtol=1e-12)
    assert 0 < ns["w_content"] < 1
    assert recall["ContentBased"] < recall["Popularity"]
    assert recall["Hybrid: content + Popularity"] > 1.5 * recall["Popularity"]
    assert ns["hybrid_cf"].weights_[0] <= 0.1                  # content adds little to ItemKNN
    assert abs(recall["Hybrid: content + ItemKNN"] - recall["ItemKNN"]) < 0.01
    # every collaborative model is far above popularity; the table has them all
    assert set(ns["table"]) == {"Popularity", "ContentBased", "UserKNN", "ItemKNN", "EASE",
                                "GFCF", "LightGCN", "Hybrid: content + Popularity",
                                "Hybrid: content + ItemKNN"}
    for name in ("UserKNN", "ItemKNN", "EASE", "GFCF", "LightGCN"):
        assert recall[name] > 2 * recall["Popularity"], name
        assert 0 < ns["ndcg20"][name] < 1
    figures_written(figures, "08_hybrid_weights", "08_model_comparison")


# ---- tutorials 09, 10 ----

def test_09_training_gnn_recommenders(run):
    ns, figures = run("09_training_gnn_recommenders.py", tiny=True)
    models, batch, epochs = ns["models"], ns["batch"], ns["epochs"]
    assert list(models) == ["MF", "GCN", "NGCF", "LightGCN"]
    # 2. one BPR batch by hand = loss_and_grad, near log 2 at initialisation and after training
    for name, model in models.items():
        assert abs(ns["init_loss"][name] - np.log(2)) < 0.02, name
        loss, _ = model.loss_and_grad(batch)
        assert np.isclose(loss, ns["bpr_loss_by_hand"](model), rtol=1e-5, atol=0), name
        assert loss < ns["init_loss"][name] - 0.02, name
    # 3. the same budget, one history_ record per epoch with validation recall, the loss fell
    for name, model in models.items():
        assert (model.dim, model.epochs, model.lr, model.batch_size) == (
            ns["dim"], epochs, ns["lr"], ns["batch_size"]), name
        assert [r["epoch"] for r in model.history_] == list(range(1, epochs + 1)), name
        assert all(0 <= r["recall@20"] <= 1 for r in model.history_), name
        assert ns["last_loss"][name] < ns["first_loss"][name], name
    fl = ns["first_loss"]                                   # GCN and NGCF's first epoch fall most
    assert max(fl["GCN"], fl["NGCF"]) < min(fl["MF"], fl["LightGCN"])
    recall = ns["test_recall"]
    assert max(recall, key=recall.get) == "LightGCN"
    assert recall["LightGCN"] > recall["MF"] + 0.05
    assert recall["LightGCN"] > ns["test_recall_popularity"] + 0.05
    assert ns["epochs_to_beat_mf"]["LightGCN"] == 1         # ahead of MF's best after epoch 1
    # 4. depth: LightGCN K = 0 is MF bit for bit; K = 1 gains most, then it levels off
    mf, k0 = models["MF"], ns["lightgcn_by_depth"][0]
    assert np.array_equal(k0.user_embeddings_, mf.user_embeddings_)
    by_k = ns["recall_lightgcn_by_depth"]
    assert list(by_k) == [0, 1, 2, 3, 4]
    assert by_k[1] - by_k[0] > max(by_k[k + 1] - by_k[k] for k in range(1, 4))
    assert max(by_k[k] for k in (2, 3, 4)) - min(by_k[k] for k in (2, 3, 4)) < 0.03
    by_l = ns["recall_gcn_by_depth"]
    assert by_l[max(by_l)] <= by_l[1] + 0.005                # the GCN gains nothing from depth
    # 5. over-smoothing: Â^k E0 collapses to cosine 1, the layer mean much more slowly
    power, mean = ns["cosine_power"], ns["cosine_mean"]
    assert abs(power[0]) < 0.05 and power[-1] > 0.99 and ns["steps_to_099"] <= 32
    assert mean[4] < 0.1 * power[4] and mean[-1] < power[-1] - 0.1
    assert ns["users_in_one_component"]
    trained = ns["cosine_trained"]
    assert all(trained[k + 1] > trained[k] for k in range(1, 4))   # alike-ness grows with K
    figures_written(figures, "09_training_curves", "09_depth_oversmoothing")


def test_09_max_steps_below_the_deepest_lightgcn_is_refused(tmp_path, monkeypatch):
    """A student's ``max_steps`` below the deepest LightGCN stops in the parameters cell with
    a ValueError that says why, not with an IndexError after training every model."""
    src = (TUTORIALS / "09_training_gnn_recommenders.py").read_text(encoding="utf-8")
    assert "max_steps = 64 " in src
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINIGRAPHREC_FIGURES", str(tmp_path / "figs"))
    monkeypatch.setenv("MINIGRAPHREC_TUTORIAL_TINY", "1")
    monkeypatch.delenv("MINIGRAPHREC_ML100K", raising=False)
    with pytest.raises(ValueError, match=r"max_steps=2 must be at least"):
        exec(compile(src.replace("max_steps = 64 ", "max_steps = 2 ", 1),
                     "09_training_gnn_recommenders.py", "exec"), {"__name__": "__main__"})

def test_10_graph_attention(run):
    ns, figures = run("10_graph_attention.py", tiny=True)
    v, indptr = ns["v"], ns["indptr"]
    row = slice(indptr[v], indptr[v + 1])
    # 1-3. scores, softmax, weighted sum and both head combinations, by hand = the ops
    assert np.allclose(ns["e"][row], ns["e_by_hand"], rtol=1e-12, atol=1e-14)
    assert np.allclose(ns["alpha"][row], ns["alpha_by_hand"], rtol=1e-12, atol=1e-15)
    assert np.allclose(ns["H_concat"][v], ns["concat_by_hand"], rtol=1e-12, atol=1e-14)
    assert np.allclose(ns["H_mean"][v], ns["mean_by_hand"], rtol=1e-12, atol=1e-14)
    assert ns["H_concat"].shape == (20, ns["n_heads"] * ns["d_head"])
    assert ns["H_mean"].shape == (20, ns["d_head"])
    assert not np.allclose(ns["alpha_by_hand"], 1 / len(ns["neighbours"]), atol=1e-3)
    # 4. static attention, checked on some pairs
    assert ns["n_pairs_checked"] >= 10
    # 5. α ∝ w^β exp(e); a = 0 and β = 1 is the weighted mean aggregation
    assert np.allclose(ns["alpha_w"][row], ns["alpha_w_by_hand"], rtol=1e-12, atol=1e-15)
    assert not np.allclose(ns["alpha_w"][row], ns["alpha"][row], atol=1e-3)
    assert np.allclose(ns["H_w"][v], ns["concat_w_by_hand"], rtol=1e-12, atol=1e-14)
    assert np.allclose(ns["H_flat"], ns["A_mean"] @ ns["H"] @ ns["W"], rtol=1e-12, atol=1e-14)
    # 6. the ops reproduce the trained model; the weights help
    gat = ns["gat"]
    n_users = ns["n_users"]
    assert np.allclose(ns["E_by_ops"][:n_users], gat.user_embeddings_, rtol=1e-5, atol=1e-6)
    assert np.all(ns["beta_learned"] > 0)
    assert ns["recall_weighted"] > ns["recall_plain"]
    assert ns["epochs_ahead"] > ns["epochs"] / 2
    # 7-8. with the ratings, attention shifts to high ratings and the user's own community
    ratio = ns["by_rating_rated"] / ns["by_rating_plain"]    # (5 ratings, heads)
    assert np.all(np.diff(ratio, axis=0) > 0)
    assert np.all(ns["mass_inside_rated"] > ns["mass_inside_plain"] + 0.02)
    assert ns["rating_gap"](ns["user"]) > 1.0
    figures_written(figures, "10_attention_one_user", "10_attention_by_rating",
                    "10_weights_recall")


# ---- tutorials 11, 12 ----

def test_11_efficiency(run):
    ns, figures = run("11_efficiency.py", tiny=True)
    # 1. one stored entry per event, per pair, per surviving pair; same product either way
    raw, dedup, core = ns["raw"], ns["dedup"], ns["core"]
    assert ns["A_raw"].nnz == 2 * len(raw) and ns["A_dedup"].nnz == 2 * len(dedup)
    assert len(dedup) == len(ns["base"]) < len(raw)
    assert np.isclose(dedup.weights.sum(), len(raw), rtol=0, atol=0)
    assert np.allclose(ns["AX_raw"], ns["AX_dedup"], rtol=1e-12, atol=1e-12)
    stats = ns["stage_stats"]
    assert stats["10-core"]["items"] < stats["de-duplicated"]["items"]
    stored = [stats[name]["stored"] for name in ("10-core", "de-duplicated", "raw log")]
    assert stored == sorted(set(stored))
    assert 0.3 < ns["entries_saved_dedup"] < ns["entries_saved_core"] < 0.9
    assert np.all(np.bincount(core.users) >= 10) and np.all(np.bincount(core.items) >= 10)
    # 2. every kernel returned the reference's arrays; timings are there, not judged
    kernel_stats = ns["kernel_stats"]
    assert set(kernel_stats) == {"spmm", "sample_bpr", "top_k", "adam"}
    for s in kernel_stats.values():
        assert s["identical"] is True
        assert all(np.isfinite(s[key]) and s[key] > 0
                   for key in ("numpy_s", "numba_s", "numba_1_thread_s", "first_call_s"))
    # 3. balls nested and growing with the batch; the first hops read less than the graph
    K, n, batch_stats = ns["K"], ns["n"], ns["batch_stats"]
    for b, s in batch_stats.items():
        sizes = s["sizes"]
        assert sizes == sorted(sizes) and sizes[0] <= 3 * b and sizes[K] <= n
        assert s["rows_read"] == sum(sizes[:K]) and 0 < s["rows_fraction"] <= 1
    smallest, largest = min(batch_stats), max(batch_stats)
    assert batch_stats[smallest]["rows_fraction"] < 0.9
    assert batch_stats[smallest]["rows_fraction"] <= batch_stats[largest]["rows_fraction"]
    assert np.allclose(ns["E_rows"], ns["E_full"][ns["nodes"]], rtol=1e-12, atol=1e-12)
    # 4. the hand formulas match; the filters and LightGCN beat popularity
    u = ns["u"]
    assert np.allclose(ns["gfcf"].score([u])[0], ns["s_gfcf_by_hand"], rtol=1e-10, atol=1e-12)
    assert np.allclose(ns["ease"].score([u])[0], ns["s_ease_by_hand"], rtol=1e-12, atol=1e-12)
    recall = ns["recall_of"]
    lightgcn = next(name for name in recall if name.startswith("LightGCN"))
    gfcf = [f"GF-CF, k = {k}" for k in ns["gfcf_factors"]]
    assert len(gfcf) >= 2 and ns["gfcf"].V_.shape[1] in ns["gfcf_factors"]
    for name in ("EASE", *gfcf, lightgcn):
        assert recall[name] > 1.5 * recall["Popularity"], (name, recall)
    fit_stats = ns["filter_stats"]                # fits timed on one thread
    assert all(f["fit_cpu_s"] >= 0 and f["fit_s"] > 0 for f in fit_stats.values())
    # 5. float32 scores within the rounding bound; the model is left as it was
    assert ns["S32"].dtype == np.float32 and ns["S64"].dtype == np.float64
    assert 0 < ns["error_over_bound"].max() <= 1.0
    assert ns["lightgcn"].score([0]).dtype == np.float64
    assert 0 <= ns["n_other_items"] <= ns["n_reordered"] <= ns["everyone"].size
    stats = ns["precision_stats"]                 # a list with another item moves one recall
    n_evaluated = np.unique(ns["test"].users).size
    assert abs(stats["float32"]["recall@20"] - stats["float64"]["recall@20"]) <= \
        ns["n_other_items"] / n_evaluated + 1e-12
    assert set(ns["product_seconds"]) == {"float64", "float32"}
    figures_written(figures, "11_pruning", "11_kernel_speedups", "11_batch_balls",
                    "11_filters_vs_training", "11_float32_scores")


def test_11_parameters_change_what_they_claim(tmp_path, monkeypatch):
    """gfcf_factors without 64 runs (every k checked by hand: a KeyError before), and
    min_degree names the core it builds."""
    source = (TUTORIALS / "11_efficiency.py").read_text(encoding="utf-8")
    for line, new in (("gfcf_factors = (16, 64, 256)", "gfcf_factors = (16, 128)"),
                      ("min_degree = 10 ", "min_degree = 5 ")):
        assert source.count("\n" + line) == 1
        source = source.replace("\n" + line, "\n" + new)
    script = tmp_path / "11_efficiency.py"
    script.write_text(source, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINIGRAPHREC_FIGURES", str(tmp_path / "figs"))
    monkeypatch.delenv("MINIGRAPHREC_ML100K", raising=False)
    monkeypatch.setenv("MINIGRAPHREC_TUTORIAL_TINY", "1")
    ns = runpy.run_path(str(script), run_name="__main__")
    assert set(ns["stage_stats"]) == {"raw log", "de-duplicated", "5-core"}
    assert "5-core / de-duplicated" in ns["time_ratios"]
    assert ns["gfcf"].V_.shape[1] == 128
    assert {"GF-CF, k = 16", "GF-CF, k = 128"} <= set(ns["fitted"])

def test_12_open_problems(run):
    ns, figures = run("12_open_problems.py", tiny=True)
    # 1. cold items are absent from training; features beat ids on them
    train, cold_items = ns["train"], ns["cold_items"]
    assert not np.isin(train.items, cold_items).any() and cold_items.size > 0
    auc = ns["cold_auc"]
    assert auc["Popularity"] == 0.5
    assert auc["GCN, features"] > 0.65 and auc["oracle"] > auc["GCN, features"]
    for name in ("GCN, ids", "LightGCN (ids)"):
        assert abs(auc[name] - 0.5) < 0.1 and auc["GCN, features"] > auc[name] + 0.1
    S, T = ns["cold_scores"]["GCN, features"], ns["T_cold"]
    assert np.isclose(ns["auc_by_hand"](S, T), auc["GCN, features"], rtol=1e-12, atol=0)
    # 2. explain: the contributions add up to the score, as computed by hand
    user = ns["user"]
    for name, model in (("ItemKNN", ns["itemknn"]), ("EASE", ns["ease"])):
        item, e = ns["explanations"][name]
        assert set(e.sources) == set(model.R_[user].indices) and e.exact and e.kind == "item"
        assert np.all(np.diff(e.contributions) <= 0)
        assert np.isclose(e.contributions.sum(), model.score([user])[0, item],
                          rtol=1e-12, atol=1e-15)
        sources, contributions = ns["explain_by_hand"](model, user, item)
        assert np.array_equal(sources, e.sources)
        assert np.allclose(contributions, e.contributions, rtol=1e-12, atol=0)
    assert 0.2 < ns["negative_share"] < 0.8 and np.all(ns["S_knn"] >= 0)
    e_nodes, e_paths = ns["e_nodes"], ns["e_paths"]
    assert e_nodes.exact and e_nodes.kind == "node" and len(e_paths) > len(e_nodes)
    assert np.isclose(e_nodes.contributions.sum(), e_nodes.score, rtol=1e-5, atol=0)
    assert np.isclose(e_paths.contributions.sum(), e_nodes.score, rtol=1e-5, atol=0)
    assert np.allclose(ns["c_by_hand"][e_nodes.sources], e_nodes.contributions, rtol=1e-12,
                       atol=1e-15)
    assert ns["history_in_top"] >= 5
    # 4. the membership attack: the retrain leaves the forgotten pairs at the held-out level
    a, se = ns["audit"], ns["audit_se"]
    assert abs(a["retrain"].auc - 0.5) < 4 * se
    assert a["before"].auc > 0.5 + 4 * se and a["fine_tune"].auc > a["retrain"].auc + 2 * se
    assert not ns["gcn_explanation"].exact
    assert not np.isclose(ns["gcn_explanation"].total, ns["gcn_explanation"].score, rtol=0.05)
    # 3. score_history (fold-in) is close to a refit; partial_fit and the Sherman-Morrison
    #    update by hand equal it
    for name, f in ns["fold_in"].items():
        assert f["top_k_overlap"] >= 0.8 and 0 < f["max_relative_gap"] < 0.3
        assert not np.allclose(f["fold"], f["refit"], rtol=1e-6, atol=0)
    G0, P0, history = ns["G_before"], ns["P_before"], ns["history"]
    for name, after in (("ItemKNN", ns["itemknn"]), ("EASE", ns["ease"])):
        S_after = ns["item_item_matrix"](after)
        for S in (ns["update_by_hand"](name, G0, P0, history)[2],
                  ns["item_item_matrix"](ns["updated"][name])):
            assert np.allclose(S, S_after, rtol=0, atol=1e-12 * np.abs(S_after).max())
    realtime = ns["realtime"]        # new items: partial_fit learns them, a refit more
    assert realtime["before"] < 0.02 < realtime["partial_fit"] - 0.05
    assert realtime["refit"] > realtime["partial_fit"]
    # 4. forgetting changes the model, and forget / the downdate equal the refit without
    #    the user; fine-tuning an MF leaves the forgotten pairs ranked as before, retrain not
    forgotten = ns["forgotten"]
    assert 0 < forgotten["ItemKNN"]["entries_changed"] < forgotten["EASE"]["entries_changed"]
    median = {m: np.median(ns["unlearning"][m]) for m in ("before", "fine_tune", "retrain")}
    assert median["retrain"] > 2 * max(median["before"], median["fine_tune"])
    assert median["fine_tune"] < 2 * median["before"]
    # 5. quantisation: bytes as the formula says, Recall@20 within 0.01, top-20 lists kept
    for name, rows in ns["quantization"].items():
        full = rows["full"]["bytes"]
        if name == "EASE":             # float64 n x n against int8 / float16 n x n + scales
            n = ns["train"].n_items
            assert full / rows["int8"]["bytes"] == pytest.approx(8 * n / (n + 4))
            assert full / rows["float16"]["bytes"] == pytest.approx(8 * n / (2 * n + 4))
        else:                          # d = 32 float32 rows against d + 4 / 2d + 4 bytes
            assert full / rows["int8"]["bytes"] == pytest.approx(128 / 36)
            assert full / rows["float16"]["bytes"] == pytest.approx(128 / 68)
        for dtype in ("float16", "int8"):
            assert abs(rows[dtype]["recall"] - rows["full"]["recall"]) < 0.01
            assert rows[dtype]["top_k_overlap"] > 0.95
    recall = [ns["sparsify_recall"][n][1] for n in ("all edges", "drop 10%", "drop 25%",
                                                    "drop 50%")]
    assert np.all(np.diff(recall) < 0)
    figures_written(figures, "12_cold_start_auc", "12_explanations", "12_fold_in",
                    "12_unlearning", "12_quantization")


# ---- tutorial 13 ----
def test_13_session_graphs(run):
    ns, figures = run("13_session_graphs.py", tiny=True)
    # the session [5, 2, 5, 7, 3, 7, 6]: nodes 2, 3, 5, 6, 7 and six distinct edges
    assert ns["nodes"].tolist() == [2, 3, 5, 6, 7] and ns["n_edges"] == 6
    assert ns["alias"].tolist() == [2, 0, 2, 4, 1, 4, 3]
    np.testing.assert_array_equal(ns["A_out_by_hand"][4], [0, 0.5, 0, 0.5, 0])   # 7 -> 3, 6
    np.testing.assert_array_equal(ns["A_in_by_hand"][4], [0, 0.5, 0.5, 0, 0])    # 3, 5 -> 7
    assert not ns["A_out_by_hand"][3].any()                     # 6, the last item, points nowhere
    np.testing.assert_allclose(ns["H1"], ns["H1_by_hand"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ns["s_h"][0], ns["s_h_by_hand"], rtol=1e-12, atol=1e-14)
    assert np.isclose(ns["loss"], ns["loss_by_hand"], rtol=1e-12)
    z = ns["z"]
    assert z.shape == (5, 4) and np.all((z > 0) & (z < 1))
    # the readout written out in section 7 scores as the library does
    library = ns["library_scores"]
    np.testing.assert_allclose(ns["scores_drawn"], library, rtol=1e-4,
                               atol=1e-5 * np.abs(library).max())
    # the short run (tiny: 600 sessions, 3 epochs): SR-GNN learned, above popularity
    losses = ns["losses"]
    assert len(losses) == 3 and np.all(np.diff(losses) < 0) and losses[-1] < losses[0] - 0.5
    assert ns["hit_srgnn"] > ns["hit_pop"] + 0.03
    assert ns["hit_markov"] > ns["hit_pop"] + 0.1
    figures_written(figures, "13_session_graph", "13_training_loss")


def test_every_tutorial_is_tested():
    """Each ``NN_name.py`` has its ``test_NN_name`` (other tests of a tutorial may join it)."""
    tested = {name[len("test_"):] + ".py" for name in globals() if name.startswith("test_")}
    untested = {p.name for p in TUTORIALS.glob("[0-9][0-9]_*.py")} - tested
    assert not untested, f"tutorials without their test_NN_name: {sorted(untested)}"
