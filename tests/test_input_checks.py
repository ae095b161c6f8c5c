"""Bad arguments to the sequence tools, the graph options, threads, figures and metric keys:
each a clear error naming the argument, where they were truncated, flattened, taken as true
or failed inside NumPy (found by an audit of the public API)."""
import numpy as np
import pytest

import minigraphrec as mgr
from minigraphrec import graph, plot
from minigraphrec import sequences as sq
from minigraphrec.errors import DataError
from minigraphrec.metrics import metric_key
from minigraphrec.sequences import Sequences


@pytest.fixture
def log():
    return mgr.Interactions([0, 0, 1, 1], [0, 1, 1, 2], timestamps=[1, 2, 3, 50])


# ============================================================== Sequences
@pytest.mark.parametrize("make, error, match", [
    (lambda: Sequences.from_lists([[0.7, 1.2]]), DataError,
     r"sequence 0, position 0: 0.7 is not an integer item id"),            # was [0, 1]
    (lambda: Sequences.from_lists([[0, 1], [[2, 3]]]), DataError,
     r"sequence 1 must be a flat list of item ids, got shape \(1, 2\)"),   # was flattened
    (lambda: Sequences.from_lists([[0, np.nan]]), DataError, "position 1: nan"),
    (lambda: Sequences.from_lists([["a"]]), DataError, "must hold integer item ids"),
    (lambda: Sequences([0, 2], [0, 1], n_items=3, users=[-5]), DataError,
     r"users\[0\] is -5; a user id is >= 0, or -1 for none"),               # indexed from the end
    (lambda: Sequences([0, 2], [0, 1], n_items=2.9), DataError,
     "n_items must be an integer >= 1, got 2.9"),                          # was 2
    (lambda: Sequences([0, 3, 1], [0, 1, 2], n_items=3), DataError,
     r"it decreases at position 2 \(3 -> 1\)"),
])
def test_sequences_refuse_what_they_used_to_truncate(make, error, match):
    with pytest.raises(error, match=match):
        make()
    assert Sequences.from_lists([[0.0, 2.0]]).items.tolist() == [0, 2]     # whole floats: ids


def test_sequence_tools_name_an_argument_of_the_wrong_kind(log):
    s = sq.user_sequences(log)
    for call, match in ((lambda: sq.user_sequences(s), "data must be an Interactions"),
                        (lambda: sq.sessions_by_gap(s, gap=10), "data must be an Interactions"),
                        (lambda: sq.prefix_examples([[0, 1]]), "sequences must be a Sequences"),
                        (lambda: sq.leave_last_out(log), "sequences must be a Sequences"),
                        (lambda: sq.filter_sessions(log), "sessions must be a Sequences"),
                        (lambda: sq.split_sessions_by_time(log, cutoff=2),
                         "sessions must be a Sequences")):
        with pytest.raises(TypeError, match=match):
            call()


def test_sequence_tools_check_their_options(log):
    sessions = sq.sessions_by_gap(log, gap=10)
    with pytest.raises(DataError, match="data holds no interactions"):
        sq.user_sequences(mgr.Interactions([], [], timestamps=[]))      # was an IndexError
    with pytest.raises(TypeError, match="gap must be a real number, got str '100'"):
        sq.sessions_by_gap(log, gap="100")
    with pytest.raises(TypeError, match="cutoff must be a real number"):
        sq.split_sessions_by_time(sessions, cutoff="1")
    with pytest.raises(DataError, match="cutoff must be a finite number"):
        sq.split_sessions_by_time(sessions, cutoff=float("inf"))
    with pytest.raises(DataError, match="min_length must be an integer >= 1, got None"):
        sq.filter_sessions(sessions, min_length=None)    # was a TypeError after the check
    with pytest.raises(DataError, match="min_test_length must be an integer >= 1, got None"):
        sq.split_sessions_by_time(sessions, cutoff=1.0, min_test_length=None)
    with pytest.raises(DataError, match="min_item_count must be an integer >= 0, got nan"):
        sq.filter_sessions(sessions, min_item_count=float("nan"))
    with pytest.raises(ValueError, match="compact_items must be True or False, got 'no'"):
        sq.split_sessions_by_time(sessions, cutoff=2, compact_items="no")
    for bad in (True, "x", 2.5):                  # True was one; 'x' failed inside int()
        with pytest.raises(DataError, match="max_len must be an integer >= 1 or None"):
            sq.user_sequences(log, max_len=bad)
        with pytest.raises(DataError, match="max_len must be an integer >= 1 or None"):
            sq.prefix_examples(sq.user_sequences(log), max_len=bad)


# ================================================================ options
def test_boolean_options_refuse_truthy_strings():
    data = mgr.datasets.synthetic(random_state=0)
    A = graph.bipartite_adjacency(data.to_csr())
    with pytest.raises(ValueError, match="self_loops must be True or False, got 'no'"):
        graph.normalize_adjacency(A, self_loops="no")                  # used to add them
    with pytest.raises(ValueError, match="self_loops must be True or False"):
        graph.build_graph(data, self_loops="no")
    with pytest.raises(ValueError, match="compact must be True or False, got 'no'"):
        graph.k_core(data, 2, 2, compact="no")
    assert graph.normalize_adjacency(A, self_loops=np.True_).nnz > A.nnz   # NumPy's bools too


def test_threads_refuse_a_bool():
    for flag in (True, np.True_):
        with pytest.raises(DataError, match="the number of threads must be an integer >= 1"):
            mgr.set_threads(flag)


def test_save_figure_checks_its_arguments_before_closing_anything(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAPHREC_FIGURES", str(tmp_path))
    fig, _ = plot.subplots()
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure, got NoneType"):
        plot.save_figure(None, "x")
    with pytest.raises(TypeError, match="name must be a str"):
        plot.save_figure(fig, 5)
    assert plot.save_figure(fig, "kept").exists()                      # fig was left open
    assert not list(tmp_path.glob("x*"))


def test_metric_key_checks_what_it_names():
    assert metric_key("recall", 20) == "recall@20" and metric_key("auc", None) == "auc"
    with pytest.raises(ValueError, match="unknown metric 'foo'"):
        metric_key("foo", 1)
    with pytest.raises(ValueError, match="k must be an integer >= 1, got -1"):
        metric_key("recall", -1)


# ============================================================ odds and ends
def test_quantize_rows_refuses_values_float32_cannot_restore():
    from minigraphrec.quantization import dequantize_rows, quantize_rows
    for dtype in ("int8", "float16"):
        with pytest.raises(DataError, match=r"X row 1 holds 3e\+40, beyond float32"):
            quantize_rows([[1.0, 2.0], [3e40, 1.0]], dtype)             # came back inf / NaN
        Q, s = quantize_rows([[3e38, -1.0]], dtype)
        assert np.isfinite(dequantize_rows(Q, s)).all()


def test_sampling_and_optimisers_check_their_scalars():
    R = mgr.datasets.synthetic(random_state=0).to_csr()
    with pytest.raises(DataError, match="random_state must be None, an integer >= 0"):
        mgr.ops.sample_bpr(R, random_state=-1)
    with pytest.raises(DataError, match="random_state must be None, an integer >= 0"):
        mgr.ops.sample_negatives(R, [0, 1], random_state=-1)
    with pytest.raises(TypeError, match="lr must be a real number, got str 'x'"):
        mgr.Adam("x")
    with pytest.raises(TypeError, match="momentum must be a real number"):
        mgr.SGD(0.1, momentum=True)
    # a count is checked as every count is (check_int): it was a bare ValueError here
    with pytest.raises(DataError, match="n_negatives must be an integer >= 1, got 0"):
        mgr.ops.sample_negatives(R, [0, 1], n_negatives=0)


@pytest.mark.parametrize("model, bad, match", [
    ("MF", dict(lr="1e-3"), "lr must be a finite number > 0, got '1e-3'"),   # a raw TypeError
    ("MF", dict(reg="1e-4"), "reg must be a finite number >= 0, got '1e-4'"),  # was parsed
    ("MF", dict(reg=True), "reg must be a finite number >= 0, got True"),      # was 1.0
    ("MF", dict(lr=float("nan")), "lr must be a finite number > 0, got nan"),
    ("NGCF", dict(node_dropout="0.1"), "node_dropout must be a finite number >= 0, got '0.1'"),
    ("GAT", dict(attention_dropout=False), "attention_dropout must be a finite number >= 0"),
])
def test_float_hyperparameters_refuse_strings_and_bools(log, model, bad, match):
    """The embedding models' float hyperparameters parsed a string (``reg="1e-4"``) and read
    a bool as 0 or 1; ``lr="1e-3"`` passed the check and failed later in a comparison, a
    raw TypeError. Now each is a DataError naming the hyperparameter, as every bad
    hyperparameter value of a model is; ``l2_forward`` takes what the models take."""
    with pytest.raises(DataError, match=match):
        getattr(mgr, model)(dim=4, **bad).fit(log, epochs=0)
    for reg in ("1e-4", True):
        with pytest.raises(DataError, match="reg must be >= 0 and finite"):
            mgr.losses.l2_forward([np.ones(2)], reg, 2)


def test_ranked_lists_in_uint64_are_not_wrapped_into_padding():
    from minigraphrec.metrics import hit_matrix
    import scipy.sparse as sp
    ranked = np.array([[2**64 - 1, 1]], dtype=np.uint64)            # was read as -1: padding
    with pytest.raises(DataError, match=r"ranked\[0, 0\] = 18446744073709551615 is beyond "
                                        r"the int64 item ids"):
        hit_matrix(ranked, sp.csr_matrix(np.ones((1, 3))))


def test_serving_calls_check_exclude_seen_and_name_the_bad_entry():
    """``exclude_seen="no"`` was read as True and None as False; an unknown user in a list
    was not located; a bad item id to ``explain`` was a plain ValueError, not DataError."""
    data = mgr.datasets.synthetic(n_users=30, n_items=20, random_state=0)
    model = mgr.ItemKNN().fit(data)
    for bad in ("no", "False", None, np.array([True, False])):
        with pytest.raises(DataError, match="exclude_seen must be True or False"):
            model.recommend([0], exclude_seen=bad)
        with pytest.raises(DataError, match="exclude_seen must be True or False"):
            model.recommend_history([1, 2], exclude_seen=bad)
    assert model.recommend([0], exclude_seen=np.bool_(False))[0].shape == (1, 10)
    with pytest.raises(DataError, match=r"^users\[2\] = user id 30 is unknown"):
        model.recommend([0, 1, 30, 31])
    with pytest.raises(DataError, match=r"^user id 30 is unknown"):
        model.recommend(30)
    with pytest.raises(DataError, match="item 20 is not in the catalogue"):
        model.explain(0, 20)
    with pytest.raises(DataError, match="item must be one integer item id"):
        model.explain(0, 1.0)
