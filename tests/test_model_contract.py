"""The model contract of docs/extending.md, enforced: what a model of one's own gets wrong
is refused at once, naming the hook and the value, instead of training on silently."""
import re

import numpy as np
import pytest

import minigraphrec as mgr
from minigraphrec.errors import DataError
from minigraphrec.models import MF, EmbeddingRecommender
from minigraphrec.models.embedding_base import id_embeddings


def _data():
    return mgr.datasets.synthetic(n_users=40, n_items=30, n_communities=2,
                                  mean_interactions=6, min_interactions=3, random_state=0)


class Mapped(EmbeddingRecommender):
    """Z = E0[nodes] @ W: two parameters, one of them shared, as in docs/extending.md."""

    def __init__(self, dim=4, loss="bpr", lr=1e-2, batch_size=64, reg=1e-4, n_negatives=1,
                 epochs=1, patience=None, metric="recall@20", scoring="dot", dtype="float32",
                 random_state=0, verbose=False, score_dtype="float64"):
        self.dim = dim
        self.loss = loss
        self.lr = lr
        self.batch_size = batch_size
        self.reg = reg
        self.n_negatives = n_negatives
        self.epochs = epochs
        self.patience = patience
        self.metric = metric
        self.scoring = scoring
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.score_dtype = score_dtype

    def _build(self, R, user_features, item_features):
        pass

    def _init_params(self, rng):
        return {"E0": id_embeddings(rng, self.n_users_, self.n_items_, self.dim, self._dtype),
                "W": np.eye(self.dim, dtype=self._dtype)}

    def _all_embeddings(self):
        return self.params["E0"] @ self.params["W"]

    def _forward_rows(self, nodes):
        H0 = self.params["E0"][nodes]                             # (m, d)
        return H0 @ self.params["W"], H0, (nodes, H0)

    def _backward_rows(self, cache, dZ, dH0, reuse=False):
        nodes, H0 = cache
        dE0 = np.zeros_like(self.params["E0"])
        dE0[nodes] = dZ @ self.params["W"].T + dH0
        return {"E0": dE0, "W": H0.T @ dZ}


# ============================================ 1. gradients that do not match params
class NoW(Mapped):
    def _backward_rows(self, cache, dZ, dH0, reuse=False):
        grads = super()._backward_rows(cache, dZ, dH0, reuse)
        del grads["W"]
        return grads


class ExtraKey(Mapped):
    def _backward_rows(self, cache, dZ, dH0, reuse=False):
        return {**super()._backward_rows(cache, dZ, dH0, reuse), "bias": np.zeros(3)}


class RowGrad(Mapped):
    def _backward_rows(self, cache, dZ, dH0, reuse=False):
        grads = super()._backward_rows(cache, dZ, dH0, reuse)
        grads["E0"] = grads["E0"][cache[0]]                       # (m, d), not (n_nodes, d)
        return grads


class Float64Grad(Mapped):
    def _backward_rows(self, cache, dZ, dH0, reuse=False):
        grads = super()._backward_rows(cache, dZ, dH0, reuse)
        grads["W"] = grads["W"].astype(np.float64)
        return grads


class OwnLossNoW(Mapped):
    def loss_and_grad(self, batch):
        loss, grads = super().loss_and_grad(batch)
        return loss, {"E0": grads["E0"]}


@pytest.mark.parametrize("cls, message", [
    (NoW, r"NoW\._backward_rows returned gradients that do not match NoW\.params: no "
          r"gradient for 'W' \(that parameter would never be trained\)\. It must return the "
          r"gradient of every parameter"),
    (ExtraKey, r"ExtraKey\._backward_rows returned gradients .*: gradients for 'bias', which "
               r"is not a parameter \(params: 'E0', 'W'\)"),
    (RowGrad, r"RowGrad\._backward_rows returned .*: grads\['E0'\] is \(\d+, 4\) float32, "
              r"params\['E0'\] is \(70, 4\) float32"),
    (Float64Grad, r"Float64Grad\._backward_rows .*: grads\['W'\] is \(4, 4\) float64, "
                  r"params\['W'\] is \(4, 4\) float32"),
    (OwnLossNoW, r"OwnLossNoW\.loss_and_grad \(or the _backward_rows it calls\) returned "
                 r"gradients .*no gradient for 'W'"),
])
def test_fit_refuses_gradients_that_do_not_match_the_parameters(cls, message):
    """A missing "W" trained 3 epochs with W frozen (Adam skips missing keys)."""
    model = cls()
    with pytest.raises(DataError, match=message):
        model.fit(_data())
    assert not hasattr(model, "params")                           # all or nothing


def test_an_update_refuses_them_too():
    model = Mapped().fit(_data())                                 # the contract model trains
    assert not np.array_equal(model.params["W"], np.eye(4))       # W too
    model.__class__ = NoW                                         # a model's code changed
    before = {k: v.copy() for k, v in model.params.items()}
    with pytest.raises(DataError, match=r"NoW\._backward_rows .*no gradient for 'W'"):
        model.forget(users=[0], method="fine_tune")
    for k, v in before.items():
        np.testing.assert_array_equal(model.params[k], v)


# ======================================== 2. the constructor's arguments, by name
class Kwargs(MF):
    def __init__(self, dim=8, **kwargs):
        super().__init__(dim=dim, **kwargs)


class Args(MF):
    def __init__(self, *args, dim=8):
        super().__init__(dim=dim)


@pytest.mark.parametrize("cls, what", [(Kwargs, r"\*\*kwargs"), (Args, r"\*args")])
def test_an_init_with_varargs_is_refused_naming_the_class(cls, what):
    """Kwargs(epochs=1) repr'd as Kwargs(dim=8), and saved and loaded with epochs=10."""
    model = cls(random_state=0) if cls is Kwargs else cls()
    message = (rf"{cls.__name__}\.__init__ takes {what}: a model's hyperparameters must be "
               r"named in its __init__'s signature")
    for call in (model.get_params, lambda: model.fit(_data())):
        with pytest.raises(TypeError, match=message):
            call()
    assert not hasattr(model, "R_")
    # a repr must not raise (notebooks, debuggers, logs): it says why instead
    assert repr(model) == (f"{cls.__name__}(<hyperparameters unreadable: {cls.__name__}."
                           f"__init__ takes {what.replace(chr(92), '')}>)")


class Renamed(Mapped):
    def __init__(self, K=2, dim=4):
        super().__init__(dim=dim)
        self.n_hops = K


def test_an_argument_stored_under_another_name_is_named():
    model = Renamed()
    message = (r"Renamed has no attribute 'K': the constructor argument 'K' must be stored "
               r"as self\.K = K")
    with pytest.raises(AttributeError, match=message):
        model.get_params()
    assert repr(model) == "Renamed(<hyperparameters unreadable: Renamed has no attribute 'K'>)"


# ================================================== 4. the dtype of _init_params
class Float32Init(Mapped):
    def _init_params(self, rng):
        return {k: v.astype(np.float32) for k, v in super()._init_params(rng).items()}


class ListInit(Mapped):
    def _init_params(self, rng):
        params = super()._init_params(rng)
        params["W"] = params["W"].tolist()
        return params


def test_fit_refuses_init_params_in_another_dtype():
    """A float64 model whose _init_params gave float32 trained silently in float32."""
    model = Float32Init(dtype="float64")
    with pytest.raises(DataError, match=r"Float32Init\._init_params\(rng\) returned "
                                        r"params\['E0'\] in float32, but the model's dtype is "
                                        r"float64: return every parameter in self\._dtype"):
        model.fit(_data(), epochs=0)
    assert not hasattr(model, "params")
    with pytest.raises(DataError, match=r"ListInit\._init_params\(rng\) returned "
                                        r"params\['W'\] as list"):
        ListInit().fit(_data(), epochs=0)


# =========================================== 5. the shapes _forward_rows returns
class ShortZ(Mapped):
    def _forward_rows(self, nodes):
        Z, H0, cache = super()._forward_rows(nodes)
        return Z[:-1], H0, cache


class FlatH0(Mapped):
    def _forward_rows(self, nodes):
        Z, H0, cache = super()._forward_rows(nodes)
        return Z, H0.ravel(), cache


@pytest.mark.parametrize("cls, message", [
    (ShortZ, r"ShortZ\._forward_rows\(nodes\) returned Z with shape \((\d+), 4\); expected "
             r"\((\d+), d_out\): one row per entry of nodes"),
    (FlatH0, r"FlatH0\._forward_rows\(nodes\) returned H0 with shape \(\d+,\); expected "
             r"\(\d+, d_0\)"),
])
def test_forward_rows_shapes_are_checked(cls, message):
    """Z one row short gave "idx[320] = 291 is out of range 0..290", naming neither."""
    with pytest.raises(DataError, match=message) as err:
        cls().fit(_data())
    if cls is ShortZ:
        got, want = re.search(message, str(err.value)).groups()
        assert int(got) == int(want) - 1
    model = Mapped(dtype="float64").fit(_data(), epochs=0)
    model.__class__ = cls
    batch = mgr.train.bpr_batches(model.R_, 16, np.random.default_rng(0))[0]
    with pytest.raises(DataError, match=message):
        model.loss_and_grad(batch)


# ============================================ 6. what _all_embeddings returns
class ShortTable(Mapped):
    def _all_embeddings(self):
        return super()._all_embeddings()[:-1]                     # the last item left out


def test_the_scoring_table_s_rows_are_checked_at_fit():
    """A table one row short fitted silently, with the item table one item short."""
    model = ShortTable()
    with pytest.raises(DataError, match=r"ShortTable\._all_embeddings\(\) returned shape "
                                        r"\(69, 4\); expected \(n_users \+ n_items, d_out\) = "
                                        r"\(70, d_out\): one row per node, the 40 users first, "
                                        r"then the 30 items"):
        model.fit(_data())
    assert not hasattr(model, "params")                           # all or nothing
