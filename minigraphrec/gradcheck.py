r"""Gradient checks: compare a hand-written backward pass with finite differences.

Public API, for the library's own tests and for your ops:

* :func:`check_vjp` -- the directional check every op and model goes through.
  For random directions ``u`` (input-shaped) and ``v`` (output-shaped) it
  compares ``<v, J u>``, estimated by a central difference
  ``<v, f(x + εu) - f(x - εu)> / 2ε``, with ``<Jᵀ v, u>`` from your
  vector-Jacobian product. One scalar per check, any input size.
* :func:`check_grad` / :func:`numerical_grad` -- the element-by-element
  central-difference gradient of a scalar function, for small inputs and for
  seeing *which* entry is wrong.
* :func:`check_param_grads` / :func:`check_model_grads` -- the directional
  check for a loss of a ``dict`` of parameters, one key at a time, e.g. a
  model's ``loss_and_grad``.

Everything runs in float64: float32 round-off (about 1e-7 relative) is larger
than what a central difference with ``eps = 1e-6`` can resolve. The
functions raise ``AssertionError`` with the numeric and the exact value when
a check fails, and return them when it passes.

Tolerance. A check passes when
``|numeric - exact| <= atol + rtol · max(|numeric|, |exact|)``.
With ``atol=None`` the absolute tolerance is the round-off floor of the
difference quotient, ``100 · ε_mach · Σ|v| (|f(x+εu)| + |f(x-εu)|) / 2ε``:
it only matters where the exact value is near zero relative to ``f`` (a
zero gradient), and is far below any real error elsewhere.
"""
from __future__ import annotations

import numpy as np

from .errors import DataError

__all__ = ["check_vjp", "check_grad", "numerical_grad", "check_param_grads",
           "check_model_grads"]

_ROUNDOFF = 100 * np.finfo(np.float64).eps


def _float64(name, x):
    x = np.asarray(x)
    if x.dtype != np.float64:
        raise TypeError(f"{name} must be float64 for a finite-difference check, got {x.dtype} "
                        "(float32 round-off swamps a central difference)")
    return x


def _rng(rng):
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def _compare(numeric, exact, rtol, atol, what):
    if not (np.isfinite(numeric) and np.isfinite(exact)):
        raise AssertionError(f"{what}: non-finite value, numeric {numeric!r}, exact {exact!r}")
    if abs(numeric - exact) > atol + rtol * max(abs(numeric), abs(exact)):
        rel = abs(numeric - exact) / max(abs(numeric), abs(exact), 1e-300)
        raise AssertionError(f"{what}: numeric {numeric!r} != exact {exact!r} "
                             f"(|diff| {abs(numeric - exact):.3e}, relative {rel:.3e}; "
                             f"rtol {rtol:g}, atol {atol:.3e})")


def check_vjp(f, vjp, x, rng=None, eps=1e-6, rtol=1e-6, atol=None):
    r"""Directional check of a vector-Jacobian product.

    Draws ``u ~ N(0, I)`` shaped like ``x`` and ``v ~ N(0, I)`` shaped like
    ``f(x)``, then compares

    ``numeric = Σ v · (f(x + eps·u) - f(x - eps·u)) / (2 eps)``   (≈ ⟨v, J u⟩)
    ``exact   = Σ vjp(x, v) · u``                                  (= ⟨Jᵀ v, u⟩)

    Parameters
    ----------
    f : callable ndarray -> ndarray or float
    vjp : callable ``(x, v) -> Jᵀ v``, shaped like ``x``
    x : float64 ndarray, the point; not modified
    rng : numpy Generator, seed or None (seed 0)
    eps : float, finite-difference step
    rtol, atol : tolerances (see the module docstring; ``atol=None`` is the
        round-off floor)

    Returns
    -------
    (numeric, exact) : two floats.

    Raises
    ------
    AssertionError if they disagree; TypeError if ``x`` is not float64.
    """
    rng = _rng(rng)
    x = _float64("x", x)
    y = np.asarray(f(x))
    u = rng.standard_normal(x.shape)
    v = rng.standard_normal(y.shape)
    f_plus = np.asarray(f(x + eps * u), dtype=np.float64)
    f_minus = np.asarray(f(x - eps * u), dtype=np.float64)
    if f_plus.shape != y.shape or f_minus.shape != y.shape:
        raise DataError(f"f changed output shape: {y.shape} at x, {f_plus.shape} and "
                        f"{f_minus.shape} at x ± eps·u")
    numeric = float(np.sum(v * (f_plus - f_minus)) / (2 * eps))
    g = np.asarray(vjp(x, v))
    if g.shape != x.shape:
        raise DataError(f"vjp returned shape {g.shape}, expected the shape of x {x.shape}")
    exact = float(np.sum(g * u))
    if atol is None:
        atol = _ROUNDOFF * float(np.sum(np.abs(v) * (np.abs(f_plus) + np.abs(f_minus)))) / (2 * eps)
    _compare(numeric, exact, rtol, atol, "check_vjp")
    return numeric, exact


def numerical_grad(f, x, eps=1e-6):
    r"""Central-difference gradient of a scalar ``f``, entry by entry.

    ``g_i = (f(x + eps e_i) - f(x - eps e_i)) / 2eps``.

    Costs ``2 · x.size`` calls of ``f``; ``x`` (float64) is perturbed in a
    copy and not modified. Returns an array shaped like ``x``.
    """
    x = _float64("x", x)
    xp = x.astype(np.float64, copy=True)
    grad = np.empty_like(xp)
    flat, gflat = xp.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        f_plus = float(f(xp))
        flat[i] = orig - eps
        f_minus = float(f(xp))
        flat[i] = orig
        gflat[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def check_grad(f, grad, x, eps=1e-6, rtol=1e-6, atol=1e-8):
    r"""Compare ``grad(x)`` with :func:`numerical_grad` entry by entry.

    Passes when ``|numeric_i - exact_i| <= atol + rtol · |numeric_i|`` for
    every ``i`` (``np.allclose``). For small ``x`` (2 · x.size calls of ``f``).

    Returns ``(numeric, exact)`` arrays; raises ``AssertionError`` naming the
    worst entry otherwise.
    """
    x = _float64("x", x)
    numeric = numerical_grad(f, x, eps)
    exact = np.asarray(grad(x), dtype=np.float64)
    if exact.shape != x.shape:
        raise DataError(f"grad returned shape {exact.shape}, expected the shape of x {x.shape}")
    bad = np.abs(numeric - exact) > atol + rtol * np.abs(numeric)
    if bad.any() or not np.all(np.isfinite(exact)):
        err = np.where(np.isfinite(exact), np.abs(numeric - exact), np.inf)
        worst = np.unravel_index(np.argmax(err), x.shape)
        raise AssertionError(f"check_grad: {int(bad.sum())} of {x.size} entries differ; worst at "
                             f"index {tuple(int(i) for i in worst)}: "
                             f"numeric {float(numeric[worst])!r}, exact {float(exact[worst])!r}")
    return numeric, exact


def check_param_grads(loss_fn, params, grads, rng=None, eps=1e-6, rtol=1e-6, atol=None,
                      keys=None):
    r"""Directional check of a scalar loss of a parameter dict, one key at a time.

    For each key ``k`` draws ``u ~ N(0, I)`` shaped like ``params[k]`` and
    compares ``(L(p_k + eps u) - L(p_k - eps u)) / 2eps`` with
    ``Σ grads[k] · u``. The arrays are perturbed *in place* (so a model that
    holds references to them sees the change) and restored bit for bit from a
    copy afterwards, also when the check fails.

    Parameters
    ----------
    loss_fn : callable () -> float, the loss at the current ``params``
    params : dict name -> float64 ndarray
    grads : dict name -> ndarray, the claimed gradient at the current params
    keys : names to check (default: every key of ``params``)

    Returns
    -------
    dict name -> (numeric, exact)
    """
    rng = _rng(rng)
    keys = list(params) if keys is None else list(keys)
    results = {}
    for k in keys:
        if k not in params or k not in grads:
            raise KeyError(f"key {k!r} must be in both params {sorted(params)} "
                           f"and grads {sorted(grads)}")
        if not isinstance(params[k], np.ndarray):
            raise TypeError(f"params[{k!r}] must be an ndarray to be perturbed in place, "
                            f"got {type(params[k]).__name__}")
        p = _float64(f"params[{k!r}]", params[k])
        g = np.asarray(grads[k], dtype=np.float64)
        if g.shape != p.shape:
            raise DataError(f"grads[{k!r}] has shape {g.shape}, params[{k!r}] has {p.shape}")
        u = rng.standard_normal(p.shape)
        saved = p.copy()
        try:
            np.add(saved, eps * u, out=p)
            f_plus = float(loss_fn())
            np.subtract(saved, eps * u, out=p)
            f_minus = float(loss_fn())
        finally:
            p[...] = saved
        numeric = (f_plus - f_minus) / (2 * eps)
        exact = float(np.sum(g * u))
        tol = _ROUNDOFF * (abs(f_plus) + abs(f_minus)) / (2 * eps) if atol is None else atol
        _compare(numeric, exact, rtol, tol, f"gradient of {k!r}")
        results[k] = (numeric, exact)
    return results


def check_model_grads(model, batch, rng=None, eps=1e-6, rtol=1e-6, atol=None, keys=None):
    r"""Check ``model.loss_and_grad(batch)`` against finite differences of its loss.

    Calls ``loss, grads = model.loss_and_grad(batch)`` once, then runs
    :func:`check_param_grads` on ``model.params`` with
    ``loss_fn = lambda: model.loss_and_grad(batch)[0]``: every key (or those
    in ``keys``) is perturbed in place along a random direction and restored
    afterwards.

    The model must be float64 (``dtype=np.float64``) and its loss a
    deterministic function of ``params`` and ``batch``: switch dropout off
    (or make it reseed on every call) and let ``loss_and_grad`` recompute
    everything it derives from ``params``.

    Returns
    -------
    dict name -> (numeric, exact)
    """
    params = getattr(model, "params", None)
    if not isinstance(params, dict) or not params:
        raise TypeError(f"model must have a non-empty params dict, got {type(params).__name__}; "
                        "call fit(train, epochs=0) first")
    loss, grads = model.loss_and_grad(batch)
    if set(grads) != set(params):
        raise AssertionError(f"loss_and_grad returned grads for {sorted(grads)}, "
                             f"params has {sorted(params)}")
    return check_param_grads(lambda: model.loss_and_grad(batch)[0], params, grads,
                             rng=rng, eps=eps, rtol=rtol, atol=atol, keys=keys)
