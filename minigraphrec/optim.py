r"""Optimisers over ``dict[str, ndarray]`` parameters, updated in place.

A model owns ``params`` and returns ``grads`` with the same keys and shapes;
an optimiser owns only its own state (momentum buffers, Adam moments, step
counts), keyed by parameter name and created on a key's first update::

    opt = Adam(lr=1e-3)
    for batch in batches:
        loss, grads = model.loss_and_grad(batch)
        opt.step(model.params, grads)          # model.params' arrays change in place

Semantics follow PyTorch's ``torch.optim.SGD`` and ``torch.optim.Adam``
(L2 ``weight_decay`` added to the gradient, not decoupled as in AdamW); the
formulas are in each class's docstring.

Missing gradients. ``grads`` may leave a key out, or map it to ``None``: that
parameter is not updated, and (as in PyTorch, where ``p.grad is None``) its
state and step count do not move. A key in ``grads`` that is not in
``params`` is an error. Gradients are dense arrays of the parameter's shape;
they are cast to the parameter's dtype.

Checkpoints. ``state_dict()`` returns a flat ``dict[str, ndarray]`` (0-d
arrays for scalars) that ``np.savez`` stores without pickle;
``load_state_dict`` restores it, hyperparameters included, after the checks
the constructor makes. Arrays are copied both ways.

All or nothing. ``step`` checks every key (its parameter, its gradient and its
state) before it updates any, and ``load_state_dict`` checks the whole state
before it replaces any: a call that raises leaves the parameters and the
optimiser as they were.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import DataError, check_backend, check_finite_number

__all__ = ["SGD", "Adam"]

#: arrays with fewer elements than this are updated by the serial kernel: waking the
#: thread pool costs more than the work (and much more when the cores are busy)
_PARALLEL_FROM = 1 << 18


class _Optimizer:
    """Shared bookkeeping: hyperparameter state, per-key validation."""

    _hyper: tuple = ()       # names of the float hyperparameters stored in state_dict
    _slots: tuple = ()       # names of the per-parameter state arrays

    def _pairs(self, params, grads):
        """``[(name, p, g)]`` for every key with a gradient, all checked before any update:
        the parameter, the gradient (cast to the parameter's dtype) and the key's state."""
        if not isinstance(params, dict) or not isinstance(grads, dict):
            raise TypeError("params and grads must be dicts of arrays, got "
                            f"{type(params).__name__} and {type(grads).__name__}")
        unknown = [k for k in grads if k not in params]
        if unknown:
            raise DataError(f"grads has keys {unknown} that are not in params {sorted(params)}")
        pairs = []
        for name, g in grads.items():
            if g is None:
                continue
            p = params[name]
            if not isinstance(p, np.ndarray):
                raise TypeError(f"params[{name!r}] must be an ndarray, got {type(p).__name__}")
            if not np.issubdtype(p.dtype, np.floating):
                raise DataError(f"params[{name!r}] must be floating, got dtype {p.dtype}")
            if not p.flags.writeable:
                raise DataError(f"params[{name!r}] is read-only; the optimiser updates it in place")
            if np.iscomplexobj(g):
                raise DataError(f"grads[{name!r}] is complex ({np.asarray(g).dtype})")
            g = np.asarray(g, dtype=p.dtype)
            if g.shape != p.shape:
                raise DataError(f"grads[{name!r}] has shape {g.shape}, "
                                f"params[{name!r}] has {p.shape}")
            for slot in self._array_slots:
                buf = getattr(self, slot).get(name)
                if buf is not None and (buf.shape != p.shape or buf.dtype != p.dtype):
                    raise DataError(f"optimiser state {slot}[{name!r}] has shape {buf.shape} "
                                    f"{buf.dtype} but the parameter has {p.shape} {p.dtype}")
            self._check_param(name, p)
            pairs.append((name, p, g))
        return pairs

    def _check_param(self, name, p):
        """A subclass's own condition on a parameter it is about to update."""

    @property
    def _array_slots(self):
        """The slots that hold one array per parameter, of its shape and dtype."""
        return tuple(s for s in self._slots if s != "t")

    def _buffer(self, slot, name, p):
        """The state array ``slot`` for parameter ``name``, created as zeros (its shape and
        dtype were checked by :meth:`_pairs`)."""
        store = getattr(self, slot)
        buf = store.get(name)
        if buf is None:
            buf = store[name] = np.zeros_like(p, order="C")
        return buf

    def state_dict(self):
        """Hyperparameters and per-parameter state as a flat dict of arrays (copies)."""
        state = {h: np.asarray(getattr(self, h), dtype=np.float64) for h in self._hyper}
        for slot in self._slots:
            for name, arr in getattr(self, slot).items():
                state[f"{slot}/{name}"] = np.asarray(arr).copy()
        return state

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned (arrays are copied), after checking all
        of it: the hyperparameters as the constructor checks them, every state array
        (floating, finite, one per parameter name in each slot)."""
        name_of = type(self).__name__
        if not isinstance(state, dict):
            raise TypeError(f"a {name_of} state_dict is a dict of arrays, got "
                            f"{type(state).__name__}")
        new = {slot: {} for slot in self._slots}
        hyper = {}
        for key, value in state.items():
            if key in self._hyper:
                value = np.asarray(value)
                if value.size != 1 or not np.issubdtype(value.dtype, np.number):
                    raise DataError(f"{name_of} state_dict[{key!r}] must be one number, got "
                                    f"{value.dtype} of shape {value.shape}")
                hyper[key] = float(value.reshape(()))
                continue
            slot, sep, name = str(key).partition("/")
            if not sep or slot not in new:
                raise DataError(f"unexpected key {key!r} in a {name_of} state_dict; "
                                f"expected {list(self._hyper)} and '<slot>/<param>' with slot "
                                f"in {list(self._slots)}")
            new[slot][name] = np.array(value, copy=True, order="C")
        missing = [h for h in self._hyper if h not in hyper]
        if missing:
            raise DataError(f"{name_of} state_dict lacks {missing}")
        self._with_hyper(hyper)                       # the constructor's checks, or raises
        for slot in self._array_slots:
            for name, arr in new[slot].items():
                if not np.issubdtype(arr.dtype, np.floating) or not np.isfinite(arr).all():
                    raise DataError(f"{name_of} state {slot}/{name} must be finite floating "
                                    f"values, got dtype {arr.dtype}"
                                    + ("" if not np.issubdtype(arr.dtype, np.floating)
                                       else " with non-finite entries"))
        self._check_loaded(new)
        for h, value in hyper.items():
            setattr(self, h, value)
        for slot, store in new.items():
            setattr(self, slot, store)
        return self

    def _with_hyper(self, hyper):
        """A new optimiser of this class with ``hyper``: the constructor's checks."""
        raise NotImplementedError

    def _check_loaded(self, new):
        pass


# ------------------------------------------------------------------ SGD
class SGD(_Optimizer):
    r"""Stochastic gradient descent with optional momentum and L2 weight decay.

    For each parameter ``p`` with gradient ``g`` (PyTorch's ``SGD`` with
    ``dampening=0, nesterov=False``):

    ``g' = g + weight_decay · p``;
    if ``momentum > 0``: ``buf = momentum · buf + g'`` (``buf = g'`` on the
    first step) and ``g' = buf``;
    ``p = p - lr · g'``.

    Parameters
    ----------
    lr : float >= 0
    momentum : float in [0, 1)
    weight_decay : float >= 0
    """

    _hyper = ("lr", "momentum", "weight_decay")
    _slots = ("momentum_buffer",)

    def __init__(self, lr, momentum=0.0, weight_decay=0.0):
        self.lr = check_finite_number(lr, "lr", at_least=0)
        self.momentum = check_finite_number(momentum, "momentum", at_least=0)
        if self.momentum >= 1:
            raise DataError(f"momentum must be in [0, 1), got {momentum}")
        self.weight_decay = check_finite_number(weight_decay, "weight_decay", at_least=0)
        self.momentum_buffer = {}

    def __repr__(self):
        return f"SGD(lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay})"

    def _with_hyper(self, hyper):
        return SGD(hyper["lr"], hyper["momentum"], hyper["weight_decay"])

    def step(self, params, grads):
        """Update every ``params[k]`` that has a gradient ``grads[k]``, in place (all keys are
        checked first)."""
        for name, p, g in self._pairs(params, grads):
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.momentum:
                buf = self.momentum_buffer.get(name)
                if buf is None:
                    buf = self.momentum_buffer[name] = np.array(g, dtype=p.dtype, order="C")
                else:
                    np.multiply(buf, self.momentum, out=buf)
                    np.add(buf, g, out=buf)
                g = buf
            p -= self.lr * g
        return self


# ----------------------------------------------------------------- Adam
class Adam(_Optimizer):
    r"""Adam (Kingma & Ba, 2015) with bias correction, as PyTorch computes it.

    For each parameter ``p`` with gradient ``g``, at its ``t``-th update
    (``t`` counted per parameter, from 1):

    ``g' = g + weight_decay · p``                (L2 penalty, not AdamW)
    ``m = β1 · m + (1 - β1) · g'``
    ``v = β2 · v + (1 - β2) · g'²``
    ``p = p - lr / (1 - β1^t) · m / (sqrt(v) / sqrt(1 - β2^t) + eps)``

    which is ``p - lr · m̂ / (sqrt(v̂) + eps)`` with ``m̂ = m / (1 - β1^t)``,
    ``v̂ = v / (1 - β2^t)``; the ``eps`` placement is PyTorch's. ``m`` and
    ``v`` start at zero and have the parameter's dtype; every operation runs
    in that dtype (the scalars are cast to it first).

    Parameters
    ----------
    lr : float >= 0
    betas : (β1, β2), each in [0, 1)
    eps : float > 0
    weight_decay : float >= 0
    backend : ``"numba"`` (default: one fused pass,
        :func:`minigraphrec.kernels.adam.adam_update`, parallel from 2^18 elements)
        or ``"numpy"`` (the reference: a dozen in-place NumPy passes); same bits.
        numba needs C-contiguous parameters.

    Attributes
    ----------
    m, v : dict name -> ndarray, the moment estimates
    t : dict name -> int, the number of updates each parameter has had
    nonfinite : list of str
        The parameters whose gradient (after weight decay) held a NaN or an infinity in the
        last ``step``, which updated them all the same (empty if none): the training loops'
        check, counted during the update instead of in a pass of its own.
    """

    _hyper = ("lr", "beta1", "beta2", "eps", "weight_decay")
    _slots = ("m", "v", "t")

    def __init__(self, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 backend="numba"):
        self.lr = check_finite_number(lr, "lr", at_least=0)
        if isinstance(betas, str) or np.ndim(betas) != 1 or len(betas) != 2:
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        beta1, beta2 = betas
        self.beta1 = check_finite_number(beta1, "beta1", at_least=0)
        self.beta2 = check_finite_number(beta2, "beta2", at_least=0)
        if not (self.beta1 < 1 and self.beta2 < 1):
            raise DataError(f"betas must be in [0, 1), got {betas}")
        self.eps = check_finite_number(eps, "eps", at_least=0)
        if self.eps == 0:
            raise DataError("eps must be > 0")
        self.weight_decay = check_finite_number(weight_decay, "weight_decay", at_least=0)
        self.backend = check_backend(backend)
        self.m, self.v, self.t = {}, {}, {}
        self.nonfinite = []     # the last step's parameters with a non-finite gradient
        self._scratch = {}      # name -> work array for the numpy path (not state)

    def __repr__(self):
        return (f"Adam(lr={self.lr}, betas=({self.beta1}, {self.beta2}), eps={self.eps}, "
                f"weight_decay={self.weight_decay}, backend={self.backend!r})")

    @property
    def betas(self):
        return (self.beta1, self.beta2)

    def _with_hyper(self, hyper):
        return Adam(hyper["lr"], (hyper["beta1"], hyper["beta2"]), hyper["eps"],
                    hyper["weight_decay"], backend=self.backend)

    def _check_param(self, name, p):
        if self.backend == "numba" and not p.flags.c_contiguous:
            raise DataError(f"params[{name!r}] is not C-contiguous; "
                            "Adam(backend='numba'), the default, updates it through a flat "
                            "view; pass a C-contiguous array or backend='numpy'")

    def step(self, params, grads):
        """Update every ``params[k]`` that has a gradient ``grads[k]``, in place (all keys are
        checked first)."""
        nonfinite = []
        for name, p, g in self._pairs(params, grads):
            m = self._buffer("m", name, p)
            v = self._buffer("v", name, p)
            t = int(self.t.get(name, 0)) + 1
            dt = p.dtype.type
            scalars = (dt(self.beta1), dt(1 - self.beta1), dt(self.beta2), dt(1 - self.beta2),
                       dt(self.lr / (1 - self.beta1 ** t)),        # step size lr / (1 - β1^t)
                       dt(math.sqrt(1 - self.beta2 ** t)),         # sqrt(1 - β2^t)
                       dt(self.eps), dt(self.weight_decay))
            if self.backend == "numba":
                from .kernels import adam as kernels
                update = (kernels.adam_update if p.size >= _PARALLEL_FROM
                          else kernels.adam_update_serial)
                bad = update(p.reshape(-1), np.ascontiguousarray(g).reshape(-1),
                             m.reshape(-1), v.reshape(-1), *scalars)
            else:
                bad = self._update_numpy(name, p, g, m, v, *scalars)
            if bad:
                nonfinite.append(name)
            self.t[name] = t
        self.nonfinite = nonfinite
        return self

    def _update_numpy(self, name, p, g, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2,
                      step_size, sqrt_bias2, eps, weight_decay):
        """The reference update, in place; the same operations, in the same order, as the kernel.
        Returns the number of non-finite entries of ``g'``, as the kernel does."""
        tmp = self._scratch.get(name)
        if tmp is None or tmp.shape != p.shape or tmp.dtype != p.dtype:
            tmp = self._scratch[name] = np.empty_like(p)
        if weight_decay != 0:
            g = g + weight_decay * p                  # g' (a new array; g is the caller's)
        np.multiply(m, beta1, out=m)                  # m = β1 m + (1-β1) g'
        np.multiply(g, one_minus_beta1, out=tmp)
        np.add(m, tmp, out=m)
        np.multiply(v, beta2, out=v)                  # v = β2 v + (g' g') (1-β2)
        np.multiply(g, g, out=tmp)
        np.multiply(tmp, one_minus_beta2, out=tmp)
        np.add(v, tmp, out=v)
        np.sqrt(v, out=tmp)                           # denom = sqrt(v) / sqrt(1-β2^t) + eps
        np.divide(tmp, sqrt_bias2, out=tmp)
        np.add(tmp, eps, out=tmp)
        np.divide(m, tmp, out=tmp)                    # p = p - (m / denom) · lr/(1-β1^t)
        np.multiply(tmp, step_size, out=tmp)
        np.subtract(p, tmp, out=p)
        return int(np.count_nonzero(~np.isfinite(g)))

    def _check_loaded(self, new):
        names = [set(new[s]) for s in self._slots]
        if not (names[0] == names[1] == names[2]):
            raise DataError("Adam state_dict must hold m/<name>, v/<name> and t/<name> for the "
                            f"same names; got m {sorted(names[0])}, v {sorted(names[1])}, "
                            f"t {sorted(names[2])}")
        for name in new["t"]:
            t = new["t"][name]
            if (t.size != 1 or not np.issubdtype(t.dtype, np.number)
                    or not np.isfinite(t).all() or float(t.reshape(())) != int(t.reshape(()))
                    or int(t.reshape(())) < 0):
                raise DataError(f"Adam state t/{name} must be a count of steps (an integer "
                                f">= 0), got {t.reshape(-1)[:3]} ({t.dtype})")
            new["t"][name] = int(t.reshape(()))
            if (new["v"][name] < 0).any():
                raise DataError(f"Adam state v/{name} holds negative entries: a second moment "
                                f"is >= 0")
            if new["m"][name].shape != new["v"][name].shape:
                raise DataError(f"Adam state for {name!r}: m has shape {new['m'][name].shape}, "
                                f"v has {new['v'][name].shape}")
