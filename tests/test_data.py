"""Interactions: what the constructor accepts, and the clear errors for what it does not."""
import numpy as np
import pytest
import scipy.sparse as sp

from minigraphrec.data import Interactions
from minigraphrec.errors import DataError


def test_sizes_and_defaults():
    data = Interactions([0, 2, 2], [1, 0, 1])
    assert (data.n_users, data.n_items, len(data)) == (3, 2, 3)
    np.testing.assert_array_equal(data.user_ids, [0, 1, 2])
    assert Interactions([], [], n_users=2, n_items=3).to_csr().shape == (2, 3)
    whole = Interactions(np.array([0.0, 1.0]), [0, 1])               # whole floats are ids
    assert whole.users.dtype == np.int64


@pytest.mark.parametrize("kwargs, match", [
    (dict(users=[0, 1], items=[0]), r"items has 1 entries, expected 2"),
    (dict(users=[[0]], items=[0]), r"users must be 1-d"),
    (dict(users=[0, 5], items=[0, 0], n_users=3), r"user id 5 at position 1 is out of range 0..2"),
    (dict(users=[0], items=[-1]), r"item id -1 at position 0 is out of range"),
    (dict(users=[0, 0.5], items=[0, 0]), r"users\[1\] is 0.5, not an integer id"),
    (dict(users=[0], items=[np.nan]), r"items\[0\] is nan, not an integer id"),
    (dict(users=["a"], items=[0]), r"users must hold integer ids"),
    (dict(users=[0], items=[0], weights=[np.inf]), r"weights\[0\] is inf; values must be finite"),
    (dict(users=[0], items=[0], timestamps=[np.nan]), r"timestamps\[0\] is nan"),
    (dict(users=[0], items=[0], user_ids=[["a"]]), r"user_ids has shape \(1, 1\), expected \(1,\)"),
    (dict(users=[0, 1], items=[0, 0], user_ids=["a", "a"]),
     r"user_ids holds 'a' twice \(positions 0 and 1\)"),
    (dict(users=[0], items=[0], item_ids=[7, 7], n_items=2), r"item_ids holds 7 twice"),
    (dict(users=np.array([2**63 + 5], dtype=np.uint64), items=[0]),
     r"users\[0\] is 9223372036854775813, beyond the int64 ids"),
    (dict(users=[1e19], items=[0]), r"users\[0\] is 1e\+19, not an integer id \(beyond int64\)"),
    (dict(users=[0], items=[0], n_users=2.5), r"n_users must be an integer >= 0, got 2.5"),
    (dict(users=[0], items=[1j]), r"items is complex"),
    (dict(users=np.array([True, False]), items=[0, 1]),                # check_ids' convention
     r"users must hold integer ids, got dtype bool"),
    (dict(users=[0], items=np.array([True])), r"items must hold integer ids, got dtype bool"),
    (dict(users=np.array(["2016-05-09"], dtype="M8[D]"), items=[0]),
     r"users must hold integer ids, got dtype datetime64\[D\]"),
    (dict(users=[0], items=[0], weights=np.array(["2016-05-09"], dtype="M8[s]")),
     r"weights must hold numbers, got dtype datetime64\[s\]"),
    (dict(users=[0, 1], items=[0, 0], timestamps=np.array(["2016-05-09", "NaT"], dtype="M8[s]")),
     r"timestamps\[1\] is NaT \(a missing date-time\)"),
    (dict(users=[0], items=[0], timestamps=np.array([3600], dtype="m8[s]")),
     r"timestamps is timedelta64\[s\] \(durations\), not points in time"),
    (dict(users=[0, 1], items=[0, 0], user_ids=["a"]),
     r"user id 1 at position 1 is out of range 0..0 \(n_users = len\(user_ids\) = 1\)"),
    # below int64 (an OverflowError, or a wrapped id in the message), as beyond it
    (dict(users=[-2**70], items=[0]),
     r"users\[0\] is -1180591620717411303424, not an integer id \(beyond int64\)"),
    (dict(users=np.array([0.0, -1e19]), items=[0, 0]),
     r"users\[1\] is -1e\+19, not an integer id \(beyond int64\)"),
    # an object array refuses the strings and bools a typed array refuses by its dtype
    (dict(users=np.array([0, "1"], dtype=object), items=[0, 0]),
     r"users\[1\] is '1' \(a str\), not an integer id"),
    (dict(users=[0, 0], items=np.array([1, True], dtype=object)),
     r"items\[1\] is True \(a bool\), not an integer id"),
    # strings are raw ids, never parsed: '7', '007', '+7' and ' 7' were all the user 7
    (dict(users=np.array(["7", "007", "+7", " 7"]), items=np.array(["0", "1", "2", "3"])),
     r"users must hold integer ids, got strings \(dtype <U3\); string ids are raw ids: "
     r"map them first, raw, users = np.unique\(values, return_inverse=True\), and pass "
     r"user_ids=raw"),
    (dict(users=[0], items=np.array([b"1e1"])),                        # was a bare ValueError
     r"items must hold integer ids, got strings \(dtype \|S3\).* pass item_ids=raw"),
    (dict(users=[0], items=[0], weights=np.array(["5"])),             # was 5.0
     r"weights must hold numbers, got strings \(dtype <U1\); convert them to numbers"),
    (dict(users=[0, 0], items=[0, 1], weights=np.array([4.0, "5"], dtype=object)),
     r"weights\[1\] is '5' \(a str\), not a number"),
    (dict(users=[0], items=[0], timestamps=["1462795200"]),
     r"timestamps must hold numbers, got strings .*astype\('datetime64\[s\]'\)"),
])
def test_constructor_rejects(kwargs, match):
    """Every rejection is a DataError (they were plain ValueErrors), naming what and where."""
    with pytest.raises(DataError, match=match):
        Interactions(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(users=None, items=[0]), r"users must be an array of integer ids, got NoneType"),
    (dict(users=[0], items=None), r"items must be an array of integer ids, got NoneType"),
    (dict(users="01", items=[0, 1]), r"users must be an array of integer ids, got str"),
    (dict(users=[0], items=[0], weights={1.0}), r"weights must be an array of numbers, got set"),
])
def test_constructor_no_array_is_a_type_error(kwargs, match):
    """As check_ids: no array at all is a TypeError (None was "must be 1-d, got shape ()")."""
    with pytest.raises(TypeError, match=match):
        Interactions(**kwargs)


def test_string_ids_go_to_the_raw_id_maps():
    """What the refusal advises keeps '7' and '007' apart."""
    raw_users = np.array(["7", "007", "+7", " 7"])
    user_ids, users = np.unique(raw_users, return_inverse=True)
    data = Interactions(users, [0, 1, 2, 3], user_ids=user_ids)
    assert data.n_users == 4
    assert data.user_ids[data.users].tolist() == raw_users.tolist()
    empty = Interactions(np.array([], dtype=str), np.array([], dtype=str))  # nothing to parse
    assert (empty.n_users, empty.n_items) == (0, 0)


@pytest.mark.parametrize("unit", ["D", "h", "m", "s", "ms", "us", "ns", "10ms"])
def test_datetime64_timestamps_are_unix_seconds_in_any_unit(unit):
    """A pandas column's ``.values`` (datetime64[us] or [ns]) gives Unix seconds: they were
    the unit's count (1.46e15 for 2016), and time_decay_weights' half_life was 1e6 off."""
    times = np.array(["2016-05-09", "1969-12-31", "1970-01-01"], dtype=f"M8[{unit}]")
    data = Interactions([0, 0, 0], [0, 1, 2], timestamps=times)
    assert data.timestamps.dtype == np.float64
    assert data.timestamps.tolist() == [1462752000.0, -86400.0, 0.0]


def test_datetime64_fractions_are_kept():
    t = np.array(["2016-05-09T12:00:00.25", "1969-12-31T23:59:59.5"], dtype="M8[ns]")
    assert Interactions([0, 0], [0, 1], timestamps=t).timestamps.tolist() == [
        1462795200.25, -0.5]
    t = np.array(["2016-05-09T12:00:00.123456789"], dtype="M8[ns]")
    assert Interactions([0], [0], timestamps=t).timestamps[0] == 1462795200 + 0.123456789
    month = np.array(["2016-05"], dtype="M8[M]")                      # a calendar unit
    assert Interactions([0], [0], timestamps=month).timestamps.tolist() == [1462060800.0]
    assert Interactions([], [], timestamps=np.array([], dtype="M8[ns]")).timestamps.size == 0


def test_datetime64_seconds_are_the_correctly_rounded_quotient():
    """Within 2**53 ticks a date is one correctly rounded division, the float the loaders
    give for its ISO text (microseconds / 1e6) or its milliseconds (/ 1e3). Whole seconds
    plus the fraction was one ulp off for these nanosecond values."""
    ns = np.array([117390773480, 850987560191, -20587088778198, 990548883558, 1432090532])
    got = Interactions(np.zeros(5, int), np.arange(5), timestamps=ns.astype("M8[ns]"))
    np.testing.assert_array_equal(got.timestamps, ns / 1e9)
    rng = np.random.default_rng(0)
    micro = rng.integers(-2**53, 2**53, 2000)
    milli = rng.integers(-2**53, 2**53, 2000)
    for ticks, unit, per in ((micro, "us", 1e6), (milli, "ms", 1e3)):
        got = Interactions(np.zeros(2000, int), np.arange(2000),
                           timestamps=ticks.astype(f"M8[{unit}]")).timestamps
        np.testing.assert_array_equal(got, ticks / per)


def test_datetime64_timestamps_give_the_half_life_in_seconds():
    from minigraphrec.graph import time_decay_weights
    day = 86400.0
    seconds = Interactions([0, 0], [0, 1], timestamps=[1462795200.0, 1462795200.0 + day])
    dates = Interactions([0, 0], [0, 1],
                         timestamps=np.array(["2016-05-09T12:00", "2016-05-10T12:00"],
                                             dtype="M8[us]"))
    got = time_decay_weights(dates, half_life=day).toarray()
    np.testing.assert_array_equal(got, time_decay_weights(seconds, half_life=day).toarray())
    np.testing.assert_array_equal(got, [[0.5, 1.0]])                  # a day old: half


def test_subset_takes_positions_or_a_mask_only():
    data = Interactions([0, 1, 2], [1, 0, 1], user_ids=["a", "b", "c"])
    assert data.subset([2, 0]).users.tolist() == [2, 0]
    assert data.subset(np.array([True, False, True])).user_ids is data.user_ids
    for bad, match in (([-1], r"index\[0\] = -1"), ([5], r"index\[0\] = 5"),
                       ([0.0], "index"), (np.ones(2, dtype=bool), "mask has shape")):
        with pytest.raises(DataError, match=match):
            data.subset(bad)


def test_align_refuses_a_target_with_a_raw_id_twice():
    data = Interactions([0], [0], user_ids=["a"], item_ids=["x"])
    with pytest.raises(DataError, match="user_ids holds 'a' twice"):
        data.align(["a", "a"], ["x"])


def test_features_are_checked():
    ok = Interactions([0, 1], [0, 1], user_features=np.ones((2, 3)),
                      item_features=sp.random(2, 4, density=0.5, random_state=0),
                      item_feature_names="abcd")
    assert ok.user_features.dtype == np.float64 and sp.issparse(ok.item_features)
    assert ok.item_feature_names == ["a", "b", "c", "d"]
    for kwargs, match in [
        (dict(user_features=np.ones((3, 2))), r"user_features has 3 rows, expected one per "
                                              r"user \(2\)"),
        (dict(item_features=np.ones(2)), r"item_features must be 2-d \(n_items, n_features\)"),
        (dict(item_features=np.array([[1.0], [np.nan]])), r"item_features contains NaN or inf"),
        (dict(item_features=sp.csr_matrix(np.array([[np.inf], [0.0]]))), r"contains NaN or inf"),
        (dict(user_features=np.ones((2, 2)), user_feature_names=["x"]),
         r"user_feature_names has 1 names for 2 feature columns"),
        (dict(item_feature_names=["x"]), r"item_feature_names given without the features"),
    ]:
        with pytest.raises(DataError, match=match):
            Interactions([0, 1], [0, 1], **kwargs)


def test_item_labels_are_checked_and_kept():
    d = Interactions([0, 1], [1, 0], item_labels=["a", "b"])
    assert d.item_labels.tolist() == ["a", "b"]
    assert d.subset([True, False]).item_labels.tolist() == ["a", "b"]
    with pytest.raises(DataError, match=r"item_labels has shape \(3,\), expected \(2,\)"):
        Interactions([0, 1], [1, 0], item_labels=["a", "b", "c"])


def test_match_raw_ids_matches_integer_and_string_spellings():
    from minigraphrec.data import match_raw_ids
    ints = np.array([5, 7, 12])
    np.testing.assert_array_equal(
        match_raw_ids(np.array(["7", "007", "+7", " 12", "x", "7.0", "8", ""]), ints),
        [1, 1, 1, 2, -1, -1, -1, -1])
    np.testing.assert_array_equal(match_raw_ids(np.array([7, 12, 6]), ints), [1, 2, -1])
    strings = np.array(["7", "007", "u1"])
    np.testing.assert_array_equal(match_raw_ids(np.array([7, 1]), strings), [0, -1])
    np.testing.assert_array_equal(match_raw_ids(np.array(["007", "U1", "u1"]), strings),
                                  [1, -1, 2])


def test_align_names_the_line_of_an_unknown_id():
    target_users, target_items = np.array(["a", "b"]), np.array([0, 1, 2])
    data = Interactions([0, 1, 0], [0, 1, 2], user_ids=["a", "zed"], item_ids=["0", "1", "9"])
    with pytest.raises(DataError, match=r"f.csv: 2 interactions have ids unknown to the model, "
                                        r"the first is user 'zed' \(interaction 1\); "
                                        r"on_unknown='drop' leaves them out"):
        data.align(target_users, target_items, source="f.csv")
    data.lines = np.array([3, 5, 8])
    with pytest.raises(DataError, match=r"the first is user 'zed' \(line 5\)"):
        data.align(target_users, target_items, source="f.csv")
    kept = data.align(target_users, target_items, on_unknown="drop")
    assert kept.n_dropped == 2 and kept.users.tolist() == [0] and kept.items.tolist() == [0]
    none = Interactions([0], [0], user_ids=["q"], item_ids=["0"])
    with pytest.raises(DataError, match=r"its one interaction has ids unknown to the model"):
        none.align(target_users, target_items)


@pytest.mark.parametrize("kwargs, match", [
    # raw ids passed as ids: the inferred size leaves almost all ids unused
    (dict(users=[0, 10**15], items=[0, 0]),
     r"user id 1000000000000000 at position 1 implies 1000000000000001 users for 2 "
     r"interaction\(s\); ids are positions 0..n_users-1, not raw ids: map raw ids first "
     r"\(raw, users = np.unique\(raw_ids, return_inverse=True\), then pass user_ids=raw\)"),
    (dict(users=[2**62], items=[0]), r"user id 4611686018427387904 at position 0 implies"),
    (dict(users=[0, 0, 0], items=[5, 3_000_000_000, 1]),      # a timestamp as an item id
     r"item id 3000000000 at position 1 implies 3000000001 items for 3"),
    (dict(users=[0, 2**21], items=[0, 0]),                     # sparse, but could be real
     r"user id 2097152 at position 1 implies 2097153 users .*, or pass n_users=2097153 if "
     r"the id space really is that large"),
    # a size no id space needs (its raw-id map alone would be 72.8 TiB)
    (dict(users=[0], items=[0], n_users=10**13),
     r"n_users=10000000000000 is more than the 2147483648 \(2\*\*31\) users an id space "
     r"may hold"),
    (dict(users=[0], items=[0], n_items=2**31 + 1), r"n_items=2147483649 is more than"),
])
def test_huge_ids_and_sizes_are_refused_before_any_allocation(kwargs, match):
    """A huge id or size gave a MemoryError, or "array is too big", naming no id; an id
    around 1e9 allocated 8 GB silently. Nothing of that size is allocated here."""
    with pytest.raises(DataError, match=match):
        Interactions(**kwargs)


def test_large_but_legitimate_id_spaces_are_taken():
    """The huge-id check leaves alone what can be real: cold users given by n_users, and
    ids up to 2**20 (or 64 per interaction) inferred from the data."""
    assert Interactions([0], [0], n_users=3_000_000).n_users == 3_000_000
    assert Interactions([0, 2**21], [0, 0], n_users=2**21 + 1).n_users == 2**21 + 1
    assert Interactions([0, 2**20 - 1], [0, 0]).n_users == 2**20
    users = np.arange(20_000) * 64                            # 64 ids per interaction
    assert Interactions(users, np.zeros(20_000, dtype=int)).n_users == 64 * 19_999 + 1
    users[-1] = 64 * 20_000                                   # one id more: refused
    with pytest.raises(DataError, match="user id 1280000 at position 19999 implies 1280001"):
        Interactions(users, np.zeros(20_000, dtype=int))


def test_a_size_that_cannot_be_allocated_is_a_data_error(monkeypatch):
    """A size under the cap whose raw-id map does not fit in memory names n_users."""
    arange = np.arange

    def no_memory(n, *args, **kwargs):
        if isinstance(n, int) and n >= 10**9:
            raise MemoryError("Unable to allocate 7.45 GiB")
        return arange(n, *args, **kwargs)

    monkeypatch.setattr(np, "arange", no_memory)
    with pytest.raises(DataError, match=r"n_users=1000000000: its default raw-id map "
                                        r"\(0..n_users-1, 7.45 GiB\) cannot be allocated"):
        Interactions([0], [0], n_users=10**9)


def _row_order_sums(users, items, weights):
    """{(u, i): sum of the pair's weights, added one row at a time in row order}."""
    sums = {}
    for u, i, w in zip(users.tolist(), items.tolist(), weights.tolist()):
        sums[u, i] = sums[u, i] + w if (u, i) in sums else w
    return sums


@pytest.mark.parametrize("packed", [True, False])
def test_to_csr_weighted_adds_a_pairs_weights_in_row_order(packed, monkeypatch):
    """to_csr(weighted=True) sums a pair's weights in row order, bit for bit (SciPy's
    sum_duplicates summed after an unstable sort, so the last bit varied); ``packed=False``
    takes the path for sizes whose pair and row numbers do not fit one int64."""
    from minigraphrec import data as data_module

    if not packed:
        monkeypatch.setattr(data_module, "_SORT_BITS", 0)
    rng = np.random.default_rng(5)
    for trial in range(200):
        n = int(rng.integers(1, 60))
        u, i = rng.integers(0, 3, n), rng.integers(0, 4, n)
        w = rng.random(n) * 10
        R = Interactions(u, i, n_users=3, n_items=4, weights=w).to_csr(weighted=True)
        sums = _row_order_sums(u, i, w)
        assert R.nnz == len(sums) and R.has_canonical_format
        coo = R.tocoo()
        assert {(a, b): c for a, b, c in zip(coo.row.tolist(), coo.col.tolist(),
                                             coo.data.tolist())} == sums, trial


def test_to_csr_weighted_keeps_zero_sums_and_sorts():
    """A pair whose weights sum to 0 stays an (explicit) entry, as SciPy's sum kept it."""
    data = Interactions([1, 0, 1, 1, 0], [2, 1, 0, 2, 0], n_users=3, n_items=3,
                        weights=[0.0, 2.0, 1.5, 0.0, 1.0])
    R = data.to_csr(weighted=True)
    assert R.indptr.tolist() == [0, 2, 4, 4] and R.indices.tolist() == [0, 1, 0, 2]
    assert R.data.tolist() == [1.0, 2.0, 1.5, 0.0] and R.has_canonical_format
    assert Interactions([], [], n_users=2, n_items=2).to_csr(weighted=True).nnz == 0


@pytest.mark.parametrize("make", [
    lambda rng, n: rng.permutation(10 * n)[:n],
    lambda rng, n: rng.permutation(10 * n)[:n] * 0.5,
    lambda rng, n: np.array([f"u{v}" for v in rng.permutation(10 * n)[:n]]),
    lambda rng, n: np.array([f"u{v}".encode() for v in rng.permutation(10 * n)[:n]]),
    lambda rng, n: rng.permutation(10 * n)[:n].astype(object),
])
def test_duplicate_raw_ids_are_found_in_any_dtype(make):
    """Numbers and strings are compared sorted in NumPy (1M int64 ids: 0.6 s -> 0.05 s);
    the result and the message are those of the Python comparison."""
    from minigraphrec.data import _check_unique
    rng = np.random.default_rng(0)
    for n in (2, 7, 500):
        raw = make(rng, n)
        _check_unique("user", raw)                       # distinct: nothing to say
        i, j = sorted(rng.choice(n, 2, replace=False))
        raw[j] = raw[i]
        with pytest.raises(DataError, match=fr"user_ids holds .* twice \(positions {i} and {j}\)"):
            _check_unique("user", raw)


def test_repr_counts_in_the_singular_and_the_plural():
    one = Interactions([0], [0])
    assert repr(one) == "Interactions(1 user, 1 item, 1 interaction)"
    two = Interactions([0, 1], [1, 0], weights=[1.0, 2.0])
    assert repr(two) == "Interactions(2 users, 2 items, 2 interactions, with weights)"


def test_sparse_features_with_bad_index_arrays_are_refused():
    """An edited CSR's column index out of range: SciPy's toarray() crashed the process."""
    F = sp.csr_matrix(np.ones((2, 2)))
    F.indices[1] = 10**7
    with pytest.raises(DataError, match=r"user_features is not a valid CSR matrix of shape "
                                        r"\(2, 2\): row 0 holds column index 10000000"):
        Interactions([0, 1], [0, 1], user_features=F)
    G = sp.coo_matrix(np.ones((2, 2)))
    G.col[0] = -1
    with pytest.raises(DataError, match="item_features is not a valid COO matrix"):
        Interactions([0, 1], [0, 1], item_features=G)


@pytest.mark.skipif(sp.coo_array(np.ones(2)).ndim != 1,
                    reason="SciPy before 1.13 makes no 1-d sparse arrays")
def test_sparse_features_must_be_2d():
    with pytest.raises(DataError, match=r"item_features must be a 2-d matrix, got a sparse "
                                        r"array of shape \(2,\)"):
        Interactions([0, 1], [0, 1], item_features=sp.coo_array(np.ones(2)))


def test_features_must_be_rectangular():
    with pytest.raises(DataError, match=r"user_features must be a 2-d array \(n_users, "
                                        r"n_features\)"):
        Interactions([0, 1], [0, 1], user_features=[[1.0], [1.0, 2.0]])
