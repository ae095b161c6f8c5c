# %% [markdown]
# # From logs to a graph: ids, R, A, degrees, de-duplication and k-cores
#
# A recommender starts from a log of who touched what (article §1, "用户行为数据收集",
# collecting behaviour data). The article's §3 then builds a graph from it: users
# and items become nodes with unique ids, interactions become edges ("图构建",
# "特征提取": assign each node a unique id), and the structure is cleaned by
# "剪枝、去重" (pruning and de-duplication). This tutorial walks that path:
#
# 1. a raw log, with a comment, a header, string ids and repeated events, through
#    the loader `mgr.datasets.load_triples`;
# 2. the id maps (raw id ↔ 0-based internal id) and the user–item matrix $R$;
# 3. the bipartite adjacency $A = \begin{pmatrix} 0 & R \\ R^\top & 0 \end{pmatrix}$;
# 4. degree distributions on a larger graph, on a log-log plot;
# 5. de-duplication, each `keep=` rule by hand;
# 6. k-core pruning, round by round, by hand, and what each round removes.
#
# Every step is computed by hand in plain Python/NumPy and asserted equal to the
# library. Data: a 13-event log written by this script (sections 1–3 and 5) and
# the embedded `mgr.datasets.synthetic(...)` at 3,000 users × 3,000 items
# (sections 4 and 6); the numbers quoted in the text come from these. Set
# `MINIGRAPHREC_ML100K=/path/to/ml-100k` to add MovieLens-100K to the degree plot
# and to the k-core section.
#
# Run it as a script (`python tutorials/03_logs_to_graph.py`) or cell by cell.

# %% parameters
import os

seed = 0
n_users, n_items = 3000, 3000      # synthetic graph for degrees and k-cores (~60k edges)
k_gowalla = 10                     # NGCF/LightGCN's Gowalla and Yelp2018 are 10-cores
k_strict = 15                      # a threshold at which this graph's core collapses (to none)
ml100k_folder = os.environ.get("MINIGRAPHREC_ML100K")   # optional real data

# %%
import csv
import tempfile
from pathlib import Path

import numpy as np

import minigraphrec as mgr
from minigraphrec import graph, plot

# %% [markdown]
# ## 1. A raw log through a loader
# A CSV export from a (made-up) reading app: one line per event, `user,item,rating,timestamp`
# with Unix seconds. Like real logs it has a comment, a header and repeats: alice
# read *dune* three times, bob's *foundation* rating was logged twice in the same
# second, and carol's first *foundation* event arrived late (line 13 carries a time
# earlier than line 6's).

# %%
raw_log = """\
# reading-app export, one line per event
user,item,rating,timestamp
alice,dune,5,1700000000
bob,dune,4,1700000600
alice,neuromancer,3,1700001200
carol,foundation,4,1700001800
bob,foundation,2,1700002400
alice,dune,4,1700003000
dave,hyperion,5,1700003600
bob,foundation,3,1700002400
carol,dune,5,1700004200
erin,hyperion,4,1700004800
carol,foundation,5,1700000300
alice,dune,5,1700005400
erin,solaris,2,1700006000
"""
workdir = tempfile.TemporaryDirectory()
log_path = Path(workdir.name) / "reading_log.csv"
log_path.write_text(raw_log, encoding="utf-8")

log = mgr.datasets.load_triples(log_path)        # separator and header are detected
print(log)

# %% [markdown]
# The loader skipped the comment above the data, recognised the header (every field
# is a column name it knows: `user`, `item`, `rating`, `timestamp`), read the
# columns' roles from those names, and kept all 13 events, repeats included: it
# never drops data silently (a line whose user or item id is empty or `NA` stops it
# too, at that line, unless you pass `on_missing="drop"` to drop such lines with a
# counted warning). Rating and timestamp became `weights` and `timestamps`.
# Where a first line could be either (two columns of words, `alice,dune`), it stops
# and asks for `header=True` or `header=False` rather than guess.
#
# ## 2. Ids: raw ↔ internal, and the matrix $R$
# Models index arrays, so each raw id gets an internal id $0, 1, \dots$ in order of
# first appearance (§3, "为每个节点分配唯一的ID"). By hand, with the `csv` module
# and a dict that numbers each new id:

# %%
rows = [r for r in csv.reader(raw_log.splitlines()) if r and not r[0].startswith("#")][1:]
user_number, item_number = {}, {}                 # raw id -> internal id
users_by_hand, items_by_hand = [], []
for user, item, rating, timestamp in rows:
    users_by_hand.append(user_number.setdefault(user, len(user_number)))
    items_by_hand.append(item_number.setdefault(item, len(item_number)))
ratings_by_hand = np.array([float(r[2]) for r in rows])
times_by_hand = np.array([float(r[3]) for r in rows])

assert list(log.user_ids) == list(user_number) and list(log.item_ids) == list(item_number)
assert np.array_equal(log.users, users_by_hand) and np.array_equal(log.items, items_by_hand)
assert np.array_equal(log.weights, ratings_by_hand)
assert np.array_equal(log.timestamps, times_by_hand)
n_events = len(log)
print("internal -> raw users:", dict(enumerate(log.user_ids.tolist())))
print("internal -> raw items:", dict(enumerate(log.item_ids.tolist())))
print("raw -> internal: carol is user", log.user_index["carol"],
      "and hyperion is item", log.item_index["hyperion"])

# %% [markdown]
# $R$ is the $n_u \times n_i$ matrix with $R_{ui} = 1$ when user $u$ touched item $i$
# at least once: repeats collapse to one edge. `to_csr(weighted=True)` instead
# sums the events' weights (here the ratings; the count when there are none).

# %%
R = log.to_csr()                                   # (5 users, 5 items) CSR, binary
R_by_hand = np.zeros((log.n_users, log.n_items))
R_rating_sum = np.zeros((log.n_users, log.n_items))
for u, i, r in zip(users_by_hand, items_by_hand, ratings_by_hand):
    R_by_hand[u, i] = 1.0
    R_rating_sum[u, i] += r
assert np.array_equal(R.toarray(), R_by_hand)
assert np.array_equal(log.to_csr(weighted=True).toarray(), R_rating_sum)
n_edges_log = R.nnz                                 # distinct (user, item) pairs
print(f"{n_events} events, {n_edges_log} distinct pairs (edges)")
print(R_by_hand.astype(int))

# %% [markdown]
# ## 3. The bipartite graph
# Users and items are the nodes, users first: node $u$ is user $u$ and node
# $n_u + i$ is item $i$. Edges only join a user to an item, so the adjacency matrix
# has two zero blocks:
#
# $$A = \begin{pmatrix} 0 & R \\ R^\top & 0 \end{pmatrix}, \qquad
#   A \in \{0, 1\}^{(n_u + n_i) \times (n_u + n_i)} .$$
#
# A node's degree $d_v = \sum_w A_{vw}$ is its number of distinct partners.

# %%
n_u, n_i = log.n_users, log.n_items
A_by_hand = np.block([[np.zeros((n_u, n_u)), R_by_hand],
                      [R_by_hand.T, np.zeros((n_i, n_i))]])      # (10, 10)
A = graph.bipartite_adjacency(R)                                 # (10, 10) CSR
assert np.array_equal(A.toarray(), A_by_hand)
assert np.array_equal(A_by_hand, A_by_hand.T)                     # undirected

node_names = np.concatenate([log.user_ids, log.item_ids])        # (10,)
degree = A_by_hand.sum(axis=1)                                   # (10,)
distinct_partners = [len({i for u, i in zip(users_by_hand, items_by_hand) if u == v})
                     for v in range(n_u)]
distinct_partners += [len({u for u, i in zip(users_by_hand, items_by_hand) if i == v})
                      for v in range(n_i)]
assert np.array_equal(degree, distinct_partners)
print("degrees:", dict(zip(node_names.tolist(), degree.astype(int).tolist())))

# %% [markdown]
# ## 4. Degree distributions
# Thirteen events show no distribution, so we switch to the embedded synthetic data
# at 3,000 users × 3,000 items. Its generator (see `synthetic`'s docstring) gives
# every user $5 + \mathrm{Poisson}(15)$ distinct items, drawn with probability 0.8
# from the user's own community (one of 10) and otherwise from all items, in both
# cases with Zipf popularity $w_i \propto 1/(\text{rank}_i + 1)$, $\text{rank}_i$
# the item's popularity rank (0, 1, 2, ...) inside its community.
# So user degrees cluster around 20 while item degrees spread over two orders of
# magnitude: a few hits, a long tail. On log-log axes the tail shows as a roughly
# straight line. We plot, for each degree $d$, how many nodes have it, and the
# complementary CDF $P(D \ge d)$, which is smoother for heavy tails.

# %%
data = mgr.datasets.synthetic(n_users=n_users, n_items=n_items, random_state=seed)
R_syn = data.to_csr()                                            # (3000, 3000)
user_degree = np.diff(R_syn.indptr)                              # (n_users,) row counts
item_degree = np.bincount(R_syn.indices, minlength=data.n_items)  # (n_items,) column counts
A_syn = graph.bipartite_adjacency(R_syn)
assert np.array_equal(np.asarray(A_syn.sum(axis=1)).ravel(),
                      np.concatenate([user_degree, item_degree]))

n_edges_syn = R_syn.nnz
top10 = np.sort(item_degree)[::-1][: data.n_items // 10]
top10_share = top10.sum() / n_edges_syn          # share of edges on the 10% most popular items
n_isolated_items = int(np.sum(item_degree == 0))
print(data)
print(f"user degree: min {user_degree.min()}, median {np.median(user_degree):.0f}, "
      f"max {user_degree.max()}")
print(f"item degree: min {item_degree.min()}, median {np.median(item_degree):.0f}, "
      f"max {item_degree.max()}; {n_isolated_items} items have no interaction")
print(f"the 10% most popular items hold {top10_share:.1%} of the edges")
# the item CCDF's slope on log-log axes between degrees 10 and 100 (items with a user)
di_pos = item_degree[item_degree > 0]
ccdf_10, ccdf_100 = np.mean(di_pos >= 10), np.mean(di_pos >= 100)
ccdf_slope = np.log(ccdf_100 / ccdf_10) / np.log(100 / 10)
print(f"item CCDF: P(D >= 10) = {ccdf_10:.3f}, P(D >= 100) = {ccdf_100:.3f}, "
      f"slope {ccdf_slope:.2f} between them")

degree_sets = [("synthetic", user_degree, item_degree)]
if ml100k_folder:
    ml = mgr.datasets.load_movielens_100k(ml100k_folder)
    R_ml = ml.to_csr()
    degree_sets.append(("ML-100K", np.diff(R_ml.indptr),
                        np.bincount(R_ml.indices, minlength=ml.n_items)))
    print(ml)

fig, axes = plot.subplots(1, 2, figsize=(10, 4))
for (name, du, di), style in zip(degree_sets, ["o", "^"]):
    for deg, side, colour in ((du, "users", "tab:blue"), (di, "items", "tab:orange")):
        deg = deg[deg > 0]                             # log axes: isolated nodes left out
        values, counts = np.unique(deg, return_counts=True)
        axes[0].loglog(values, counts, style, ms=3.5, color=colour, alpha=0.75,
                       label=f"{name} {side}")
        ccdf = 1.0 - np.arange(deg.size) / deg.size   # P(D >= d) at the sorted degrees
        axes[1].loglog(np.sort(deg), ccdf, "-" if name == "synthetic" else "--",
                       color=colour, label=f"{name} {side}")
d_ref = np.array([10.0, float(item_degree.max())])
axes[1].loglog(d_ref, 2.0 / d_ref, ":", color="gray", label="slope −1 (Zipf)")
axes[0].set(xlabel="degree d (distinct partners)", ylabel="number of nodes with degree d",
            title="degree histogram (isolated nodes left out)")
axes[1].set(xlabel="degree d", ylabel="P(D ≥ d) (nodes with a partner)",
            title="complementary CDF")
for ax in axes:
    ax.legend(fontsize=8)
print("wrote", plot.save_figure(fig, "03_degree_distribution"))

# %% [markdown]
# On this synthetic graph user degrees run from 9 to 34 (median 20) and item
# degrees from 0 to 524 (median 8): the 10% most popular items hold 55% of the
# edges, and 7 items have no interaction at all (isolated nodes, an edge case for
# the normalisations of tutorial 04, which divide by degrees). From degree 10 up the
# item CCDF falls close to the slope −1 of the planted Zipf law (from 0.436 at
# $d = 10$ to 0.033 at $d = 100$, a slope of −1.12; flatter below, where the sampling
# of few interactions blurs it): an item of
# popularity rank $r$ in its community gets a degree of about $c/r$, so about $c/d$
# items per community have degree $\ge d$. The long item tail is what k-core
# pruning cuts (section 6).
#
# ## 5. De-duplication (§3 "去重")
# Most models want one edge per (user, item) pair. `graph.deduplicate(data, keep=...)`
# keeps one row per pair, and `keep` says what that row carries:
#
# * `"count"`: weight = the number of events, timestamp = the latest one;
# * `"sum"`: weight = the sum of the events' weights (here ratings), timestamp = the latest;
# * `"first"` / `"last"`: the earliest / latest event by timestamp, with its own rating
#   and time; a tie in time goes to the first / last such line of the file.
#
# By hand: group the rows of each pair (a dict keeps the pairs in order of their
# first event), then apply each rule.

# %%
pair_rows = {}                                      # (u, i) -> its row numbers, in file order
for row, (u, i) in enumerate(zip(users_by_hand, items_by_hand)):
    pair_rows.setdefault((u, i), []).append(row)


def dedup_by_hand(keep):
    """(users, items, weights, timestamps) of the de-duplicated log, rule ``keep``."""
    out = []
    for (u, i), rs in pair_rows.items():
        t_latest = max(times_by_hand[r] for r in rs)
        if keep == "count":
            out.append((rs[0], u, i, float(len(rs)), t_latest))
        elif keep == "sum":
            out.append((rs[0], u, i, sum(ratings_by_hand[r] for r in rs), t_latest))
        else:                                       # by (time, line): ties go to file order
            pick = (min if keep == "first" else max)(rs, key=lambda r: (times_by_hand[r], r))
            out.append((pick, u, i, ratings_by_hand[pick], times_by_hand[pick]))
    out.sort()                                      # rows in file order
    return tuple(np.array([o[k] for o in out]) for k in (1, 2, 3, 4))


dedup = {}
for keep in ("count", "sum", "first", "last"):
    dedup[keep] = graph.deduplicate(log, keep=keep)
    users_k, items_k, weights_k, times_k = dedup_by_hand(keep)
    assert np.array_equal(dedup[keep].users, users_k)
    assert np.array_equal(dedup[keep].items, items_k)
    assert np.array_equal(dedup[keep].weights, weights_k)
    assert np.array_equal(dedup[keep].timestamps, times_k)

n_pairs = len(dedup["count"])


def row_of(d, u, i):
    """The row of pair (u, i) in the de-duplicated log ``d``."""
    return int(np.flatnonzero((d.users == u) & (d.items == i))[0])


print(f"{n_events} events -> {n_pairs} pairs; the {n_events - n_pairs} removed rows are repeats")
for (u, i), rs in pair_rows.items():
    if len(rs) > 1:
        picks = {keep: f"{dedup[keep].weights[row_of(dedup[keep], u, i)]:g}"
                 for keep in ("count", "sum")}
        for keep in ("first", "last"):
            k = row_of(dedup[keep], u, i)
            picks[keep] = (f"rating {dedup[keep].weights[k]:g} "
                           f"@ {dedup[keep].timestamps[k] - 1.7e9:.0f}")
        print(f"  {log.user_ids[u]:>5} {log.item_ids[i]:<10} lines {[r + 3 for r in rs]}: "
              + ", ".join(f"{k}={v}" for k, v in picks.items()))

# carol's late line: "first" is the earlier *time* (line 13), not the earlier line (line 6)
carol, foundation = log.user_index["carol"], log.item_index["foundation"]
early_line, late_line = pair_rows[(carol, foundation)]
first_carol = dedup["first"].timestamps[row_of(dedup["first"], carol, foundation)]
assert first_carol == times_by_hand[late_line] < times_by_hand[early_line]
# bob's tie (two events in the same second): "first" keeps the first line, "last" the last
bob = log.user_index["bob"]
assert dedup["first"].weights[row_of(dedup["first"], bob, foundation)] == 2.0
assert dedup["last"].weights[row_of(dedup["last"], bob, foundation)] == 3.0

# %% [markdown]
# (Line numbers count the comment and the header; times are shown as seconds after
# 1.7e9.) Which rule is right depends on the use: `"count"` keeps how often, for
# the frequency weights of tutorial 04; `"last"` keeps the most recent rating; and
# `"first"` keeps when the user first met the item. Without `deduplicate`,
# `to_csr()` collapses the repeats anyway; de-duplicate explicitly before a split,
# so that row counts mean pair counts.
#
# ## 6. k-core pruning (§3 "剪枝"), round by round
# A $(k_u, k_i)$-core keeps only users with at least $k_u$ distinct items and items
# with at least $k_i$ distinct users. Removing a rare item lowers the degree of its
# users, which may push them below $k_u$ in turn, so pruning is repeated until
# nothing changes. By hand, with a set of partners per node: each round takes the
# degrees at its start and removes every node below its threshold at once.


# %%
def k_core_by_hand(users, items, min_user, min_item, order="together"):
    """Survivors ``(user set, item set, edge set)`` and the sizes after each round.

    ``order="together"`` removes low users and low items in the same round;
    ``"users_first"`` alternates: a round of users only, then a round of items only.
    """
    items_of, users_of = {}, {}                    # node -> set of partners
    for u, i in zip(users.tolist(), items.tolist()):
        items_of.setdefault(u, set()).add(i)
        users_of.setdefault(i, set()).add(u)
    sizes = [(len(items_of), len(users_of), sum(map(len, items_of.values())))]
    step, quiet = 0, 0                              # quiet: steps in a row that removed nothing
    while quiet < (1 if order == "together" else 2):
        check_users = order == "together" or step % 2 == 0
        check_items = order == "together" or step % 2 == 1
        low_users = [u for u, s in items_of.items() if check_users and len(s) < min_user]
        low_items = [i for i, s in users_of.items() if check_items and len(s) < min_item]
        for u in low_users:
            for i in items_of.pop(u):
                users_of[i].discard(u)
        for i in low_items:
            for u in users_of.pop(i):
                if u in items_of:
                    items_of[u].discard(i)
        # a node that lost all its partners is no longer in the graph
        items_of = {u: s for u, s in items_of.items() if s}
        users_of = {i: s for i, s in users_of.items() if s}
        step += 1
        if low_users or low_items:
            sizes.append((len(items_of), len(users_of), sum(map(len, items_of.values()))))
            quiet = 0
        else:
            quiet += 1
    edges = {(u, i) for u, s in items_of.items() for i in s}
    return set(items_of), set(users_of), edges, sizes


users_core, items_core, edges_core, rounds = k_core_by_hand(
    data.users, data.items, k_gowalla, k_gowalla)
try:
    core = graph.k_core(data, min_user=k_gowalla, min_item=k_gowalla)
except mgr.DataError as exc:                     # an empty core is refused (end of section)
    core = None
    print(f"k_gowalla = {k_gowalla}: {exc}")
if core is None:
    assert not users_core and not items_core
else:
    # the library renumbers the survivors 0..n-1; its raw ids are synthetic's old ids
    assert (set(core.user_ids.tolist()) == users_core
            and set(core.item_ids.tolist()) == items_core)
    assert {(int(core.user_ids[u]), int(core.item_ids[i]))
            for u, i in zip(core.users, core.items)} == edges_core
    assert core.n_users == len(users_core) and core.n_items == len(items_core)
    assert np.array_equal(core.user_features, data.user_features[core.user_ids])  # rows follow

# the same core whatever the order of removal
users_alt, items_alt, edges_alt, rounds_alt = k_core_by_hand(
    data.users, data.items, k_gowalla, k_gowalla, order="users_first")
assert (users_alt, items_alt, edges_alt) == (users_core, items_core, edges_core)

for r, ((nu, ni, ne), (pu, pi, pe)) in enumerate(zip(rounds[1:], rounds[:-1]), 1):
    print(f"({k_gowalla},{k_gowalla})-core round {r}: removed {pu - nu:4d} users, "
          f"{pi - ni:4d} items, {pe - ne:5d} edges -> {nu} users, {ni} items, {ne} edges")
n_rounds_gowalla = len(rounds) - 1
if n_rounds_gowalla == 0:
    print(f"({k_gowalla},{k_gowalla})-core: every node already meets the thresholds")
core_sizes = rounds[-1]

# %% [markdown]
# On this synthetic graph the first round removes the long item tail, 1,689 items
# with fewer than 10 users, and the one user who started with 9 items: 9,405 edges
# in all. That pushes 27 users below 10 items, who go in round 2, and their
# departure takes 3 more items in round 3. The core keeps 2,972 of the 3,000 users
# but only 1,301 items (43%), and 84% of the edges. The result does not depend on the
# order of removal (checked above with alternating user and item rounds): it is the
# unique largest sub-graph that meets both thresholds.
#
# A slightly stricter threshold shows how far the cascade can go. With $k = 15$
# only 7% of the users start below the threshold, but 72% of the items with a user
# do; losing those items drags many users under 15, losing those users drags more
# items under 15, and so on until, after 10 rounds, nothing survives (figure
# below, right). The library reports an empty core as an error instead of
# returning an empty data set:

# %%
strict_users_below = np.mean(user_degree < k_strict)                  # 7% of the users
strict_items_below = np.mean(item_degree[item_degree > 0] < k_strict)  # 72% of the items
users_strict, items_strict, _, rounds_strict = k_core_by_hand(
    data.users, data.items, k_strict, k_strict)
try:
    strict_core = graph.k_core(data, min_user=k_strict, min_item=k_strict)
    strict_error = None
except mgr.DataError as exc:
    strict_core, strict_error = None, str(exc)
# the library refuses exactly the cores the hand pruning empties
assert (strict_error is not None) == (not users_strict and not items_strict)
assert strict_error is None or "empty" in strict_error
n_rounds_strict = len(rounds_strict) - 1
print(f"below {k_strict} at the start: {strict_users_below:.0%} of the users, "
      f"{strict_items_below:.0%} of the items with a user")
if strict_error is not None:
    print(f"({k_strict},{k_strict})-core: empty after {n_rounds_strict} rounds; library says:",
          strict_error)
else:
    assert (strict_core.n_users, strict_core.n_items) == (len(users_strict), len(items_strict))
    print(f"({k_strict},{k_strict})-core: {strict_core.n_users} users, {strict_core.n_items} "
          f"items after {n_rounds_strict} rounds")

fig, axes = plot.subplots(1, 2, figsize=(10, 3.8), sharey=True)
for ax, k, sizes in ((axes[0], k_gowalla, rounds), (axes[1], k_strict, rounds_strict)):
    sizes = np.array(sizes, dtype=float)                   # (rounds + 1, 3)
    for col, (name, colour) in enumerate([("users", "tab:blue"),
                                          ("items with a user", "tab:orange"),
                                          ("edges", "tab:green")]):
        ax.plot(np.arange(len(sizes)), sizes[:, col] / sizes[0, col], "o-", color=colour,
                label=f"{name} (start {sizes[0, col]:,.0f})")
    ax.set(xlabel="round (0: before pruning)",
           title=f"({k}, {k})-core of synthetic {n_users}×{n_items}")
    ax.set_xticks(np.arange(len(sizes)))
    ax.legend(fontsize=8)
axes[0].set_ylabel("fraction remaining")
print("wrote", plot.save_figure(fig, "03_kcore_rounds"))

if ml100k_folder:
    ml_core = graph.k_core(ml, min_user=k_gowalla, min_item=k_gowalla)
    print(f"ML-100K ({k_gowalla},{k_gowalla})-core: {ml.n_users} -> {ml_core.n_users} users, "
          f"{ml.n_items} -> {ml_core.n_items} items, {len(ml)} -> {len(ml_core)} ratings")

# %% [markdown]
# `k_core` keeps the events of the surviving pairs (repeats included, with their
# weights and timestamps), renumbers users and items from 0, and carries the raw-id
# maps and feature rows along, so `core.user_ids[u]` still names the original user.
# The usual order is de-duplicate, then prune, then split:
# `graph.k_core(graph.deduplicate(raw, keep="count"), 10, 10)`.

# %%
workdir.cleanup()
