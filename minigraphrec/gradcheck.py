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

Everything runs in float64: the point, every value of ``f`` and the exact
gradient (a float32 array in any of them raises ``TypeError``). float32
round-off (about 6e-8 relative) is larger than what a central difference with
``eps = 1e-6`` can resolve; a float32 step hidden inside ``f`` shows up as
round-off the checks do not accept (see "Kinks"). A failed check raises
:class:`GradientMismatchError` (an ``AssertionError``) with the numeric and the
exact value, a passed one returns them; a gradient that is not finite is a
mismatch, a value of ``f`` that is not finite a failure (``AssertionError``: the
step left ``f``'s domain). Two other outcomes are *no* verdict on the gradient:
:class:`NotDifferentiableError` (also an ``AssertionError``, "Kinks" below) and a
pass with :class:`RoundoffFloorWarning` ("Tolerance" below). To count wrong
gradients, catch ``GradientMismatchError``, not ``AssertionError``. A function that
returned the same value, bit for bit, at every point of the step while the exact
derivative is not 0 is a mismatch too, and the message leads with that (``f`` ignores its
argument; ``loss_fn`` of :func:`check_param_grads` does not read ``params`` in place, e.g.
reads a copy or a torch tensor made from them once): the finite differences are exact
there (``f`` is smooth, and 0 is its derivative along the step), so either ``f`` is not the
function meant or the gradient claims a dependence ``f`` does not have, and the check
cannot tell which; a gradient that should be 0 there is wrong, and code that counts
mismatches must count it, which no verdict would hide::

    try:
        check_vjp(f, vjp, x)
    except GradientMismatchError as err:      # the gradient is wrong
        ...
    except NotDifferentiableError as err:     # no verdict: try another point
        ...

Your functions' arguments. Every call of ``f``, ``grad`` and ``vjp`` gets an array of its
own (a fresh copy of the point, or of ``v``), so one that works in place (``v *= mask``, an
in-place activation) neither changes your ``x`` nor the points the check evaluates next; a
value ``f`` returns is copied too (a buffer it reuses is not overwritten under the check).
``loss_fn`` of :func:`check_param_grads` reads ``params`` in place and must leave them as
they are: a change to any parameter is a ``DataError`` (and every parameter is put back).
The point itself must be finite and, for :func:`check_vjp` and :func:`check_grad`,
non-empty (``DataError``): a check of no entry would pass whatever the gradient.

One direction. A directional check sees the gradient through one number, ``Σ g · u``: an
error ``δ`` in a single entry of a gradient of ``n`` entries moves it by ``δ · u_i``
against a sum of size about ``√n · |g|``, so it is caught only where ``|δ / g_i|`` is
larger than about ``rtol · √n`` (at ``n = 10,000``, a 0.1 % error in one entry of the
vjp of ``sin`` went unseen with four of five seeds). To look for such an error, run the
check with several ``rng`` seeds, or use :func:`check_grad`, which checks each entry
(``2 n`` calls of ``f``; 10,000 entries of a cheap ``f`` took 2-3 seconds on one core).

The line. Each check looks at one scalar function of a step ``t`` along its
direction, ``φ(t) = Σ v · f(x + t u)`` (``check_grad``: ``u = e_i``; a scalar
loss: ``v = 1``), and at its central difference
``D(s) = (φ(s) - φ(-s)) / 2s``, the ``numeric`` value; ``ε`` (``eps``) is
the first step.

The step's scale. Each entry of a direction is scaled by ``max(1, |x_i|)``
(``check_grad``: entry ``i``'s step is ``ε · max(1, |x_i|)``), as SciPy's
``approx_derivative`` scales its steps: with a fixed step, ``x + εu`` rounds
away most of the step once ``|x|`` nears ``ε / ε_mach`` (a Unix timestamp,
1.7e9, moves in units of 2.4e-7), and a correct gradient would fail. The
directional checks compare ``D`` with ``Σ g · u`` for the scaled ``u``, so
nothing else changes; at ``|x| <= 1`` the directions are those of a plain
``N(0, I)``.

Tolerance, one rule for every checker. ``numeric`` and ``exact`` agree when
``|numeric - exact| <= atol + rtol · max(|numeric|, |exact|)``. With
``atol=None`` (the default of every checker) ``atol`` is the round-off floor
of the difference quotient. Each value ``f(x + t u)`` comes out rounded; one
unit of that is ``ν(t) = ε_mach · ‖v ⊙ f(x + t u)‖₂`` (``ε_mach = 2.2e-16``,
``ε_mach · |f|`` for a scalar; the entries' errors enter with random weights
``v``, so they add in the 2-norm). A combination ``Σ_j c_j φ(t_j) / s`` is
trusted to ``4 · Σ_j |c_j| ν(t_j) / s``, four units per value; for ``D(s)``:
``floor(s) = 4 · (ν(s) + ν(-s)) / 2s`` (a scalar ``f``: about
``4 ε_mach |f| / s``). Measured on the library's BPR losses at their default
size (1000 x 1500 data, dim 64, batch 2048), the round-off of ``D(1e-6)`` has a
standard deviation of 0.2-0.35 ``ε_mach |f| / s``, so the floor is more than
ten of them. It decides only where ``rtol · |exact|`` is smaller, i.e. where
``|exact| ≲ 1e-3 |f|`` at the default step: a gradient that should be zero,
or a parameter with a small gradient under a large loss. When the floor, not
``rtol``, let a value pass and ``|exact|`` is below that floor, ``-exact`` and
``0`` would have passed too (a sign-flipped gradient of a loss plus ``1e6``
does): the check then warns, :class:`RoundoffFloorWarning`, naming the
parameter (or entry), the floor and ``|exact|``. For a real verdict make ``|f|``
smaller where it does not depend on the parameter (subtract the constant,
check a smaller batch, drop a large penalty). A value that is a zero to rounding is
not warned about: in a check where ``rtol`` decided other values (other entries of
:func:`check_grad`, other keys of :func:`check_param_grads`), a floor-decided pass
whose ``|exact|`` is at most ``1e-12`` of the check's largest is taken as an entry or
parameter ``f`` does not depend on (these come out as rounding residue, about
``1e-16`` of the others); when the floor decided every value, each one warns.

Kinks. ``D(s)`` is the mean slope over ``[-s, s]``. If a point where ``f`` is
not differentiable (ReLU or LeakyReLU at 0, max, ``|·|``) lies within the step,
``D(s)`` mixes the slopes on both sides and can be far from a correct
gradient. At the built-in data's default size a ReLU GCN has several
pre-activations within ``1e-6`` of 0, so this is common. A check therefore
calls a disagreement of ``D(ε)`` with ``exact`` a mismatch only where the
finite differences show ``φ`` smooth. For ``s = ε, ε/2, ε/4, …, ε/1024`` it
evaluates ``φ(±s/2)`` and ``φ(0)`` and calls ``φ`` smooth within ``±s`` when
both

* ``D(s)`` and ``D(s/2)`` agree by the rule above, with ``atol`` their two
  floors (smooth: they differ by ``s² φ'''/8``; a slope jump ``Δ`` at ``t₀``
  inside moves them apart by ``|Δ| min(|t₀|, s - |t₀|) / 2s``), and
* the fourth difference ``δ⁴ = φ(s) - 4φ(s/2) + 6φ(0) - 4φ(-s/2) + φ(-s)``
  is round-off: ``|δ⁴| / s <= 4 · Σ_j |c_j| ν(t_j) / s + rtol · max(|D(s)|,
  |D(s/2)|)`` (smooth: ``δ⁴ = s⁴ φ''''/16``; a jump ``Δ`` at ``|t₀| < s/2``:
  ``|δ⁴| / s = |Δ| · |s - 3|t₀|| / s``, which catches the kink at or next
  to 0 that moves ``D(s)`` and ``D(s/2)`` alike).

At the first step ``s`` where ``φ`` is smooth the check decides, with
``numeric = D(s/2)`` and ``atol = floor(s/2) + |D(s) - D(s/2)| + |δ⁴| / s``:
by the two formulas above, one kink within ``±s`` moves ``D(s/2)`` by at most
``|D(s) - D(s/2)| + |δ⁴| / s``, and a smooth ``φ`` only by round-off and
``s² φ'''/24``. Outside that the gradient is wrong (:class:`GradientMismatchError`).
At a smooth point this ``atol`` comes to about three ``floor(ε)``; it grows
like ``1/s``, so a check next to a kink is coarser (at ``s = ε/16``, 16
times). A user-given ``atol`` replaces the sum and is added to both
smoothness tests. The check raises :class:`NotDifferentiableError`, a
subclass of ``AssertionError`` that is no verdict on the gradient, if ``φ``
is smooth at no step down to ``ε/1024`` (``f`` has a kink at or within about
``1e-9 |u|`` of ``x`` along the direction, or more round-off than float64),
or if ``f`` stops changing at all, bit for bit, within a step after it was
not smooth at a larger one (``f`` does not resolve such steps: float32
inside ``f``). Check another point or direction. When the evidence points to
float32 (``f`` stops changing as above, or every value of ``f`` off the point
is exactly a float32 number, three or more distinct ones not all integers: a
float64 result lands on one by chance once in about 2^29), the message leads
with that, and a check that would have been a mismatch or a kink is this
no-verdict error instead: float32 round-off decides nothing. A check that passes at
``ε`` costs two evaluations of ``f``, as before; each step looked at again
costs two more (``φ(±s/2)``), and ``φ(0)`` one (none for ``check_vjp``,
which has ``f(x)``; one per ``check_grad``).
"""
from __future__ import annotations

import sys
import warnings

import numpy as np

from .errors import DataError, check_finite_number, check_random_state
from .train import check_gradients

__all__ = ["check_vjp", "check_grad", "numerical_grad", "check_param_grads",
           "check_model_grads", "GradientMismatchError", "NotDifferentiableError",
           "RoundoffFloorWarning"]

_EPS = np.finfo(np.float64).eps
_UNITS = 4             # round-off units trusted per value of f (module docstring)
_HALVINGS = 10         # the smallest step tried near a kink is eps / 2**10


class GradientMismatchError(AssertionError):
    """The verdict that the gradient is wrong: the exact value is outside what round-off and
    a kink within the step explain (module docstring, "Tolerance" and "Kinks").

    A subclass of ``AssertionError``, as is :class:`NotDifferentiableError`, which is *no*
    verdict: catch this class to count wrong gradients, not ``AssertionError``.
    """


class RoundoffFloorWarning(UserWarning):
    """A check passed only because the exact value is below the round-off floor of ``f``.

    With ``atol=None`` the floor is about ``4 ε_mach |f| / eps``: under a large ``|f|`` (a
    loss plus a large constant) it can exceed ``|exact|``, and then the exact value, its
    negative and zero all pass: the check saw nothing. Make ``|f|`` smaller where it does
    not depend on the parameter (subtract the constant, check a smaller batch) for a verdict.
    """


class NotDifferentiableError(AssertionError):
    """The finite differences never settle: ``f`` has a kink (or float32 round-off) at ``x``,
    or curves on a scale finer than ``eps`` there.

    Raised instead of a mismatch when, at every step from ``eps`` down to
    ``eps / 1024``, the central differences ``D(s)``, ``D(s/2)`` and the fourth
    difference show that ``f`` is not smooth within the step (module
    docstring, "Kinks"). It is not a verdict on the gradient.
    """


def _float64(name, x):
    if x is None:
        raise TypeError(f"{name} must be float64 for a finite-difference check, got None")
    x = np.asarray(x)
    if x.dtype != np.float64:
        why = ("" if x.dtype.kind != "f" else
               f" ({x.dtype} round-off swamps a central difference)"
               if x.dtype.itemsize < 8 else
               " (the check computes in float64: cast it with .astype(np.float64))")
        raise TypeError(f"{name} must be float64 for a finite-difference check, "
                        f"got {x.dtype}{why}")
    return x


def _point(name, x, empty=False):
    """``x`` as a float64 array (:func:`_float64`), all finite and (unless ``empty``) with at
    least one entry: the point of a check. An empty ``x`` is refused, as a check of nothing
    would pass whatever the gradient; a NaN or infinite entry, as no step around it is
    defined (the message would otherwise blame the gradient or ``f``'s domain)."""
    x = _float64(name, x)
    if x.size == 0 and not empty:
        raise DataError(f"{name} is empty (shape {x.shape}): nothing to check; a check of no "
                        "entry would pass whatever the gradient")
    finite = np.isfinite(x)
    if not finite.all():
        bad = tuple(int(i) for i in np.unravel_index(int(np.argmin(finite)), x.shape))
        raise DataError(f"{name} is not finite at index {bad}: {float(x[bad])!r} "
                        f"({int(x.size - np.count_nonzero(finite))} such entries); a "
                        "finite-difference check needs a finite point")
    return x


def _scale(x):
    """``max(1, |x|)`` entrywise: the scale of each entry's step (module docstring)."""
    return np.maximum(1.0, np.abs(x))


def _scalar(name, value):
    """``value`` as a 0-d float64 array; a float64 array of one entry is taken too."""
    value = _float64(name, value)
    if value.size != 1:
        raise DataError(f"{name} must be a scalar, got an array of shape {value.shape}")
    return value.reshape(()).copy()           # its own: f may return a buffer it reuses


def _rng(rng):
    """The directions' generator: ``rng`` (None: seed 0), checked as every seed is."""
    rng = check_random_state(rng, "rng")
    return np.random.default_rng(0 if rng is None else rng)


def _check_options(eps, rtol=0.0, atol=None):
    """``eps`` > 0, ``rtol`` >= 0 and ``atol`` (None or) >= 0, all finite numbers
    (:func:`~minigraphrec.errors.check_finite_number`): a NaN tolerance would turn every
    comparison false and a wrong gradient into no verdict."""
    check_finite_number(eps, "eps", above=0)
    check_finite_number(rtol, "rtol", at_least=0)
    if atol is not None:
        check_finite_number(atol, "atol", at_least=0)


def _tolerance(numeric, exact, rtol, atol):
    """The one rule of every checker: ``atol + rtol · max(|numeric|, |exact|)``, elementwise."""
    return atol + rtol * np.maximum(np.abs(numeric), np.abs(exact))


def _step(t, direction):
    """`` + 1e-06·u`` for ``t = 1e-6``: how messages name ``x + t u`` (empty at ``t = 0``)."""
    return f" {'-' if t < 0 else '+'} {abs(t):.3g}·{direction}" if t else ""


class _Line:
    r"""``φ(t) = Σ v · f(x + t u)`` along one direction, each ``f(x + t u)`` evaluated once.

    ``evaluate(t)`` returns ``f(x + t u)`` (any shape, the same at every ``t``);
    ``v`` weights it (1.0 for a scalar loss); ``what`` starts every message
    and ``where(t)`` names the point ``x + t u`` in it; ``constant``, a pair
    ``(who, why)``, is what a mismatch leads with when ``f`` returned the same
    value, bit for bit, at every step (:func:`_settle`): ``who`` names ``f``,
    ``why`` says what that means; the caller knows how ``f`` reads the point.
    """

    def __init__(self, evaluate, v, what, where, constant=("f", "")):
        self.evaluate, self.v, self.what, self.where = evaluate, v, what, where
        self.constant = constant
        self.values = {}                                  # t -> f(x + t u), float64

    def put(self, t, y):
        y = _float64(f"{self.what}: f({self.where(t)})", y)
        if self.values and y.shape != next(iter(self.values.values())).shape:
            raise DataError(f"{self.what}: f changed output shape: "
                            f"{next(iter(self.values.values())).shape} and {y.shape} "
                            f"at {self.where(t)}")
        if not np.all(np.isfinite(y)):
            bad = np.unravel_index(np.argmin(np.isfinite(y)), y.shape)
            raise AssertionError(f"{self.what}: non-finite value of f({self.where(t)}): "
                                 f"{float(y[bad])!r} (entry {tuple(int(i) for i in bad)}); "
                                 "does the step leave f's domain? try a smaller eps")
        self.values[t] = y.copy()          # its own: f may return a buffer it overwrites

    def combine(self, coefs):
        r"""``Σ_j c_j φ(t_j)`` and its round-off bound ``4 · Σ_j |c_j| ν(t_j)``."""
        total, bound = None, 0.0
        for t, c in coefs:
            if t not in self.values:
                self.put(t, self.evaluate(t))
            y = self.values[t]
            total = c * y if total is None else total + c * y
            bound += abs(c) * _EPS * float(np.linalg.norm(np.ravel(self.v * y)))
        return float(np.sum(self.v * total)), _UNITS * bound

    def central(self, s):
        r"""``D(s) = (φ(s) - φ(-s)) / 2s`` and its floor ``4 (ν(s) + ν(-s)) / 2s``."""
        diff, bound = self.combine(((s, 1.0), (-s, -1.0)))
        return diff / (2 * s), bound / (2 * s)


def _settle(line, exact, eps, rtol, atol):
    r"""Judge ``exact`` against the central differences of ``line`` (module docstring).

    Returns ``(verdict, numeric, atol_used, note)``: ``verdict`` is ``"pass"``,
    ``"mismatch"`` (``exact`` outside what round-off and a kink within the
    step explain), ``"constant"`` (a mismatch where ``f`` returned the same value,
    bit for bit, at all five points ``0, ±eps/2, ±eps``: ``note`` then leads the
    message with ``line.constant``), ``"kink"`` (smooth at no step down to
    ``eps / 2**10``) or ``"float32"`` (no verdict: float32 inside ``f``);
    ``numeric`` the value judged: ``D(eps)``, or ``D(s/2)`` at the first
    smooth step ``s``; ``atol_used`` the absolute tolerance it was judged
    with; ``note`` what the halving found, for the message.
    """
    D, floor = line.central(eps)
    atol_used = floor if atol is None else atol
    if abs(D - exact) <= _tolerance(D, exact, rtol, atol_used):
        return "pass", D, atol_used, ""
    extra = 0.0 if atol is None else atol
    D_eps, s = D, eps
    shrink = []                          # |D(s) - D(s/2)| per halving: s² (curvature) or not
    for _ in range(_HALVINGS + 1):
        D, floor = line.central(s)
        D2, floor2 = line.central(s / 2)
        d4, floor4 = line.combine(((s, 1.0), (s / 2, -4.0), (0.0, 6.0), (-s / 2, -4.0),
                                   (-s, 1.0)))               # δ⁴, the fourth difference
        e1, e2 = abs(D - D2), abs(d4) / s
        shrink.append(e1)
        if s == eps and all(np.array_equal(line.values[t], line.values[0.0])
                            for t in (s, s / 2, -s / 2, -s)):
            # f did not move at all while exact says it should: the steps never reached it
            who, why = line.constant
            y0 = line.values[0.0]
            value = f" ({float(y0)!r})" if np.ndim(y0) == 0 else ""
            note = (f"{who} returned the same value{value}, bit for bit, at all 5 points "
                    f"{line.where(-s)} .. {line.where(s)}, while the exact derivative along "
                    f"the step is {exact!r}: {why}")
            return "constant", D_eps, atol_used, note
        if s < eps and all(np.array_equal(line.values[t], line.values[0.0])
                           for t in (s, s / 2, -s / 2, -s)):
            note = (f"D({eps:g}) = {D_eps!r} was not smooth, and f(x + t u) is the same, bit "
                    f"for bit, for every |t| <= {s:.3g}: f does not resolve steps this small "
                    "although the exact derivative says it changes; is part of f computed in "
                    "float32? This is no verdict on the gradient")
            return "float32", D_eps, None, note
        scale = rtol * max(abs(D), abs(D2))
        if e1 <= floor + floor2 + extra + scale and e2 <= floor4 / s + extra + scale:
            # smooth within ±s: a kink left inside moves D(s/2) by at most e1 + e2
            atol_used = floor2 + e1 + e2 if atol is None else atol
            close = abs(D2 - exact) <= _tolerance(D2, exact, rtol, atol_used)
            verdict = "pass" if close else "mismatch"
            if not close and _float32_values(line):    # float32 steps mimic a smooth f
                return "float32", D_eps, None, _float32_note(line)
            where = (f"f is smooth within ±{s:.3g}" if s == eps else
                     f"D({eps:g}) = {D_eps!r} had a kink within ±{2 * s:.3g}; f is smooth "
                     f"within ±{s:.3g}")
            note = (f"; numeric is D({s / 2:.3g}): {where} (D({s:.3g}) = {D!r}, |δ⁴|/s = "
                    f"{e2:.2e}; atol is its round-off floor {floor2:.2e} + |D(s) - D(s/2)| "
                    f"+ |δ⁴|/s)" if atol is None else
                    f"; numeric is D({s / 2:.3g}): {where} (D({s:.3g}) = {D!r})")
            return verdict, D2, atol_used, note
        s /= 2
    note = (f"halving the step from {eps:g} to {s * 2:.3g}, f never looks smooth: at the last "
            f"step D(s) = {D!r}, D(s/2) = {D2!r} (|diff| {e1:.2e}, round-off "
            f"{floor + floor2:.2e}), |δ⁴|/s = {e2:.2e} (round-off {floor4 / s:.2e}). ")
    ratios = [a / b for a, b in zip(shrink[-4:-1], shrink[-3:]) if b > 0]
    if len(ratios) == 3 and all(3.0 <= r <= 5.0 for r in ratios):
        note += ("|D(s) - D(s/2)| shrinks four times per halving, as a smooth f's s²-term "
                 "does: f curves on a scale finer than these steps (x near 0 with a "
                 "higher power?); try an eps about a thousand times smaller. ")
    else:
        note += (f"f has a kink (ReLU, LeakyReLU, max or |·| at 0) at or within ~{s * 2:.1e} of "
                 "x along the direction, or more round-off than float64 (float32 inside f?). ")
    note += "This is no verdict on the gradient: check another point or direction"
    if _float32_values(line):
        return "float32", D_eps, None, _float32_note(line)
    return "kink", D_eps, None, note


def _mismatch(what, numeric, exact, rtol, atol_used, note, verdict="mismatch"):
    diff = abs(numeric - exact)
    rel = diff / max(abs(numeric), abs(exact), 1e-300)
    if verdict == "constant":                # f never changed: say that first
        return GradientMismatchError(
            f"{what}: {note}; numeric {numeric!r} != exact {exact!r} (|diff| {diff:.3e}, "
            f"relative {rel:.3e}; rtol {rtol:g}, atol {atol_used:.3e})")
    return GradientMismatchError(
        f"{what}: numeric {numeric!r} != exact {exact!r} (|diff| {diff:.3e}, relative "
        f"{rel:.3e}; rtol {rtol:g}, atol {atol_used:.3e}){note}")


def _kink(what, numeric, exact, eps, note, verdict="kink"):
    if verdict == "float32":                 # the evidence says float32, not a kink
        return NotDifferentiableError(
            f"{what}: f does not resolve the steps in float64 (is part of f computed in "
            f"float32?), not a gradient mismatch: numeric {numeric!r} (step {eps:g}), exact "
            f"{exact!r}; {note}")
    return NotDifferentiableError(f"{what}: not differentiable within the step, not a gradient "
                                  f"mismatch: numeric {numeric!r} (step {eps:g}), exact {exact!r}; "
                                  f"{note}")


def _float32_values(line):
    """True when every value of ``f`` off the point is exactly a float32 number, and they
    take three or more distinct values, not all integers: ``f`` was computed in float32 and
    cast to float64 (a float64 result lands on a float32 number by chance about once in
    2^29 values). A constant ``f``, or a step function of integer values, is not taken
    for float32: both are float32 numbers for other reasons."""
    values = [y for t, y in line.values.items() if t != 0.0]
    if len({y.tobytes() for y in values}) < 3 or all(np.array_equal(y, np.round(y))
                                                      for y in values):
        return False
    with np.errstate(over="ignore", invalid="ignore"):
        return all(np.array_equal(y, y.astype(np.float32).astype(np.float64)) for y in values)


def _float32_note(line):
    steps = min(abs(t) for t in line.values if t != 0.0)
    n = sum(1 for t in line.values if t != 0.0)
    return (f"every value of f off the point ({n} steps, down to ±{steps:.3g}) is exactly a "
            "float32 number: f is computed in float32 (and cast to float64), whose round-off, "
            "about 6e-8 of |f|, swamps these central differences. Compute f in float64 "
            "throughout (a model: build it with dtype=\"float64\", the float64 twin of "
            "docs/extending.md). This is no verdict on the gradient")


def _floor_only(numeric, exact, rtol, atol, atol_used):
    """True when a pass was decided by the round-off floor, not by ``rtol``, and ``|exact|``
    is below that floor: its negative (or zero) would have passed too. Entrywise for
    arrays (``atol_used`` the floor of each entry)."""
    if atol is not None:
        return np.zeros(np.shape(exact), dtype=bool)
    return ((np.abs(numeric - exact) > rtol * np.maximum(np.abs(numeric), np.abs(exact)))
            & (np.abs(exact) <= atol_used))


def _outside_this_module():
    """The ``stacklevel`` that makes a warning name the first caller outside this module
    (the user's line, whichever public check it called and however deep the call went)."""
    frame, level = sys._getframe(1), 1            # the frame of the function that warns
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    return level


def _floor_warning(what, exact, atol_used, more=""):
    warnings.warn(
        f"{what}: passed only within the round-off floor of f, which saw nothing: |exact| "
        f"{abs(exact):.3e} is below the floor {atol_used:.3e} (about 4 ε_mach |f| / eps), so "
        f"its negative or zero would pass as well{more}. For a verdict, make |f| smaller "
        "where it does not depend on this parameter: subtract the constant from the loss, "
        "check a smaller batch, drop a large penalty (module docstring, \"Tolerance\")",
        RoundoffFloorWarning, stacklevel=_outside_this_module())


#: a floor-decided pass whose ``|exact|`` is at most this fraction of the largest ``|exact|``
#: of a check in which other values were decided by ``rtol`` is taken as a zero (a parameter
#: or entry ``f`` does not depend on comes out as rounding residue, ~1e-16 of the others):
#: no :class:`RoundoffFloorWarning` for it
_ZERO_FRACTION = 1e-12


def _unseen(blind, exact_all, n_seen):
    """The floor-decided passes (``{key: (exact, floor)}``) worth a warning: all of them when
    ``rtol`` decided no other value of the check (``n_seen == 0``), else those whose
    ``|exact|`` is more than :data:`_ZERO_FRACTION` of the check's largest ``|exact|``."""
    if n_seen == 0:
        return blind
    scale = max((abs(e) for e in exact_all), default=0.0)
    return {k: v for k, v in blind.items() if abs(v[0]) > _ZERO_FRACTION * scale}


def _judge(line, exact, eps, rtol, atol, what, blind=None):
    """:func:`_settle`, raising on a mismatch or a kink; returns ``numeric``. A pass the
    round-off floor decided (:func:`_floor_only`) warns, or, given a dict ``blind``, is
    recorded there as ``blind[what] = (exact, floor)`` for the caller to judge."""
    if not np.isfinite(exact):
        raise GradientMismatchError(f"{what}: non-finite value, exact {exact!r}")
    verdict, numeric, atol_used, note = _settle(line, exact, eps, rtol, atol)
    if verdict in ("mismatch", "constant"):
        raise _mismatch(what, numeric, exact, rtol, atol_used, note, verdict)
    if verdict in ("kink", "float32"):
        raise _kink(what, numeric, exact, eps, note, verdict)
    if _floor_only(numeric, exact, rtol, atol, atol_used):
        if blind is None:
            _floor_warning(what, exact, atol_used)
        else:
            blind[what] = (exact, atol_used)
    return numeric


def check_vjp(f, vjp, x, rng=None, eps=1e-6, rtol=1e-6, atol=None):
    r"""Directional check of a vector-Jacobian product.

    Draws ``u ~ N(0, I)`` shaped like ``x``, each entry scaled by ``max(1, |x_i|)``
    (module docstring, "The step's scale"), and ``v ~ N(0, I)`` shaped like
    ``f(x)``, then compares

    ``numeric = Σ v · (f(x + eps·u) - f(x - eps·u)) / (2 eps)``   (≈ ⟨v, J u⟩)
    ``exact   = Σ vjp(x, v) · u``                                  (= ⟨Jᵀ v, u⟩)

    by the module docstring's rule; if they disagree, the step is halved
    while a kink of ``f`` lies within it ("Kinks" there).

    Parameters
    ----------
    f : callable ndarray -> float64 ndarray or float
    vjp : callable ``(x, v) -> Jᵀ v``, float64, shaped like ``x``
    x : float64 ndarray, the point: finite, at least one entry; not modified (``f`` and
        ``vjp`` get copies of it, and of ``v``)
    rng : numpy Generator, seed or None (seed 0)
    eps : float, the first finite-difference step
    rtol, atol : tolerances (see the module docstring; ``atol=None`` is the
        round-off floor)

    Returns
    -------
    (numeric, exact) : two floats; ``numeric`` is ``D(eps)``, or after a
    disagreement ``D(s/2)`` at the first step ``s`` where ``f`` is smooth.

    Raises
    ------
    :class:`GradientMismatchError` (an ``AssertionError``) if they disagree or
    the gradient is not finite; AssertionError if a value of ``f`` is not finite;
    :class:`NotDifferentiableError` (an ``AssertionError``, no verdict) if ``f`` is
    not smooth within any step down to ``eps / 1024``, or is computed in float32;
    :class:`RoundoffFloorWarning` for a pass that saw nothing; TypeError if ``x``,
    ``f(x)`` or ``vjp(x, v)`` is not float64, or an option is no number;
    DataError (a ValueError) for an empty or non-finite ``x``, ``eps <= 0``, a
    negative or non-finite ``rtol`` / ``atol``, or a bad ``rng`` seed.
    """
    _check_options(eps, rtol, atol)
    rng = _rng(rng)
    x = _point("x", x)
    y = f(x.copy(order="K"))             # each call its own array: f may modify it
    u = rng.standard_normal(x.shape) * _scale(x)
    v = rng.standard_normal(np.shape(y))
    line = _Line(lambda t: f(x + t * u), v, "check_vjp", lambda t: f"x{_step(t, 'u')}",
                 ("f", "f ignores its argument (does it read a closed-over array, or a copy of "
                       "x made once, instead of x?), or f does not depend on x along u and "
                       "<vjp(x, v), u> should be 0"))
    line.put(0.0, y)
    g = np.asarray(vjp(x.copy(order="K"), v.copy()))   # copies: vjp may work in place
    if g.shape != x.shape:
        raise DataError(f"vjp returned shape {g.shape}, expected the shape of x {x.shape}")
    g = _float64("vjp(x, v)", g)
    exact = float(np.sum(g * u))
    return _judge(line, exact, eps, rtol, atol, "check_vjp"), exact


def _moved(x, i, t):
    """A new array: ``x`` with its flat entry ``i`` moved by ``t``. Every call of ``f`` gets
    one of its own, so an ``f`` that modifies its argument changes neither ``x`` nor the
    points after it."""
    xp = x.copy(order="K")
    xp.flat[i] = x.flat[i] + t         # .flat: C order whatever the layout (x.T is Fortran)
    return xp


def _central_entries(f, x, h):
    r"""``(D, f_plus, f_minus)``: ``f(x ± h_i e_i)`` for each ``i`` and the central
    differences; ``h`` holds each entry's step."""
    f_plus, f_minus = np.empty_like(x), np.empty_like(x)
    for i in range(x.size):
        f_plus.flat[i] = _scalar("f(x + h_i·e_i)", f(_moved(x, i, h.flat[i])))
        f_minus.flat[i] = _scalar("f(x - h_i·e_i)", f(_moved(x, i, -h.flat[i])))
    return (f_plus - f_minus) / (2 * h), f_plus, f_minus


def numerical_grad(f, x, eps=1e-6):
    r"""Central-difference gradient of a scalar ``f``, entry by entry.

    ``g_i = (f(x + h_i e_i) - f(x - h_i e_i)) / 2h_i`` with ``h_i = eps · max(1, |x_i|)``
    (module docstring, "The step's scale").

    Costs ``2 · x.size`` calls of ``f``; ``x`` (float64) is perturbed in a
    copy and not modified; ``f`` must return a float64 scalar (``TypeError``
    otherwise). Returns an array shaped like ``x``; an entry whose step
    leaves ``f``'s domain is ``nan`` or ``inf`` here (:func:`check_grad`
    raises on it).
    """
    _check_options(eps)
    x = _float64("x", x)
    return _central_entries(f, x, eps * _scale(x))[0]


def check_grad(f, grad, x, eps=1e-6, rtol=1e-6, atol=None):
    r"""Compare ``grad(x)`` with :func:`numerical_grad` entry by entry.

    Entry ``i`` passes when
    ``|numeric_i - exact_i| <= atol_i + rtol · max(|numeric_i|, |exact_i|)``,
    the module docstring's rule along ``e_i`` with the step
    ``h_i = eps · max(1, |x_i|)``: with ``atol=None`` (the default) ``atol_i`` is
    the round-off floor
    ``4 ε_mach (|f(x + h_i e_i)| + |f(x - h_i e_i)|) / 2h_i``. An entry that
    fails is looked at again with halved steps ("Kinks" in the module
    docstring). For small ``x``: ``2 · x.size`` calls of ``f``, plus 2 to 22
    for each entry that fails at ``eps`` and one of ``f(x)``. (Before the
    round-off floor, the default was a fixed ``atol=1e-8`` with
    ``rtol · |numeric_i|``; pass ``atol=1e-8`` for a fixed floor.)

    Parameters
    ----------
    f : callable ndarray -> float64 scalar, the function whose gradient is checked
    grad : callable ``x -> ∇f(x)``, float64, shaped like ``x``
    x : float64 ndarray, the point: finite, at least one entry; not modified (every call of
        ``f`` and ``grad`` gets an array of its own)
    eps : float, the first finite-difference step (scaled per entry, above)
    rtol, atol : tolerances (see the module docstring; ``atol=None`` is the
        round-off floor)

    Returns
    -------
    (numeric, exact) : two float64 arrays shaped like ``x``; ``numeric_i`` is
    from the step that decided, ``exact`` is ``grad(x)``.

    Raises
    ------
    :class:`GradientMismatchError` (an ``AssertionError``) naming the number of
    wrong entries and the worst one, or the first entry whose ``grad(x)`` is not
    finite; AssertionError at the first entry whose finite difference is not
    finite; :class:`NotDifferentiableError` (an ``AssertionError``, no verdict) if
    every failing entry has a kink within its step, or ``f`` is computed in
    float32; :class:`RoundoffFloorWarning` (once, with the count and the first
    entry) for entries that passed only within the round-off floor; TypeError if
    ``x``, a value of ``f`` or ``grad(x)`` is not float64; DataError (a
    ValueError) if ``grad(x)`` is not shaped like ``x``, for an empty or non-finite
    ``x``, ``eps <= 0`` or a negative or non-finite tolerance (as :func:`check_vjp`).
    """
    _check_options(eps, rtol, atol)
    x = _point("x", x)
    h = eps * _scale(x)                                      # each entry's first step
    numeric, f_plus, f_minus = _central_entries(f, x, h)
    exact = np.asarray(grad(x.copy(order="K")))              # its own x: grad may modify it
    if exact.shape != x.shape:
        raise DataError(f"grad returned shape {exact.shape}, expected the shape of x {x.shape}")
    exact = _float64("grad(x)", exact).copy()     # its own: f below may overwrite a buffer

    def index(i):
        return tuple(int(j) for j in np.unravel_index(i, x.shape))
    for name, values in (("grad(x)", exact), ("the finite difference", numeric)):
        if not np.all(np.isfinite(values)):
            i = int(np.argmin(np.isfinite(values).reshape(-1)))
            error = GradientMismatchError if name == "grad(x)" else AssertionError
            raise error(f"check_grad: {name} is not finite at index {index(i)}: "
                        f"{float(values.flat[i])!r} (f(x ± eps·e_i) = "
                        f"{float(f_plus.flat[i])!r}, {float(f_minus.flat[i])!r}; exact "
                        f"{float(exact.flat[i])!r}); does the step leave f's domain? "
                        "try a smaller eps")
    floor = _UNITS * _EPS * (np.abs(f_plus) + np.abs(f_minus)) / (2 * h)
    atol_i = floor if atol is None else atol
    ok = np.abs(numeric - exact) <= _tolerance(numeric, exact, rtol, atol_i)
    # passes the floor decided, with |exact| below it: nothing was seen (RoundoffFloorWarning)
    blind = ok & _floor_only(numeric, exact, rtol, atol, floor)
    blind_atol = {int(i): float(floor.flat[i]) for i in np.flatnonzero(blind)}
    wrong, kinks, notes, verdicts = [], [], {}, {}
    if not ok.all():
        f_x = _scalar("f(x)", f(x.copy(order="K")))
        for i in np.flatnonzero(~ok):
            def evaluate(t, i=i):
                return _scalar("f(x + t·e_i)", f(_moved(x, i, t)))
            line = _Line(evaluate, 1.0, f"check_grad at index {index(i)}",
                         lambda t, i=i: f"x{_step(t, f'e_{index(i)}')}",
                         ("f", f"f does not read x[{index(i)}] (does it compute from a "
                               "closed-over array, or a copy of x made once, instead of x?), "
                               f"or f does not depend on it and grad(x) should be 0 at index "
                               f"{index(i)}"))
            h_i = float(h.flat[i])
            line.values.update({0.0: f_x, h_i: f_plus.flat[i], -h_i: f_minus.flat[i]})
            verdict, numeric.flat[i], atol_used, notes[i] = _settle(line, float(exact.flat[i]),
                                                                    h_i, rtol, atol)
            verdicts[i] = verdict
            if verdict in ("mismatch", "constant"):
                wrong.append((abs(numeric.flat[i] - exact.flat[i]), i, atol_used))
            elif verdict in ("kink", "float32"):
                kinks.append(i)
            elif _floor_only(float(numeric.flat[i]), float(exact.flat[i]), rtol, atol,
                             atol_used):
                blind_atol[int(i)] = atol_used
    f32 = [i for i in kinks if verdicts[i] == "float32"]
    if f32:                                  # float32 inside f: no entry's verdict counts
        i = f32[0]
        raise _kink(f"check_grad: {len(f32)} of {x.size} entries, first at index {index(i)}",
                    float(numeric.flat[i]), float(exact.flat[i]), float(h.flat[i]), notes[i],
                    "float32")
    if wrong:
        _, i, atol_used = max(wrong)
        more = (f"; {len(kinks)} more with a kink within the step (first at index "
                f"{index(kinks[0])})" if kinks else "")
        err = _mismatch(f"worst at index {index(i)}", float(numeric.flat[i]),
                        float(exact.flat[i]), rtol, atol_used, notes[i], verdicts[i])
        raise GradientMismatchError(f"check_grad: {len(wrong)} of {x.size} entries "
                                    f"differ{more}; {err}")
    if kinks:
        i = kinks[0]
        raise _kink(f"check_grad: {len(kinks)} of {x.size} entries, first at index {index(i)}",
                    float(numeric.flat[i]), float(exact.flat[i]), float(h.flat[i]), notes[i])
    unseen = _unseen({i: (float(exact.flat[i]), a) for i, a in blind_atol.items()},
                     np.abs(exact).reshape(-1), x.size - len(blind_atol))
    if unseen:
        i = min(unseen)
        _floor_warning(f"check_grad: {len(unseen)} of {x.size} entries, first at index "
                       f"{index(i)}", float(exact.flat[i]), unseen[i][1])
    return numeric, exact


def check_param_grads(loss_fn, params, grads, rng=None, eps=1e-6, rtol=1e-6, atol=None,
                      keys=None):
    r"""Directional check of a scalar loss of a parameter dict, one key at a time.

    For each key ``k`` draws ``u ~ N(0, I)`` shaped like ``params[k]``, each entry
    scaled by ``max(1, |p_i|)`` (module docstring, "The step's scale"), and
    compares ``(L(p_k + eps u) - L(p_k - eps u)) / 2eps`` with
    ``Σ grads[k] · u`` by the module docstring's rule (``atol=None``: the
    round-off floor ``4 ε_mach (|L(p_k + eps u)| + |L(p_k - eps u)|) / 2eps``);
    if they disagree, the step is halved while a kink of ``L`` lies within it
    ("Kinks" there; ``L`` is also evaluated at ``p_k`` then). The arrays are
    perturbed *in place* (so a model that holds references to them sees the
    change) and restored bit for bit from a copy afterwards, also when the
    check fails. ``loss_fn`` must leave every array of ``params`` as the check set it: one
    that changes any of them (an optimizer step, a clipping or a normalisation inside the
    loss) or puts another array in its place is refused with a DataError naming the
    parameter and the first changed entry, and every parameter is put back as it was.

    Parameters
    ----------
    loss_fn : callable () -> float64 scalar, the loss at the current ``params``
    params : dict name -> float64 ndarray, finite
    grads : dict name -> float64 ndarray, the claimed gradient at the current params
    rng : numpy Generator, seed or None (seed 0); one direction ``u`` is drawn
        per key, in the order of ``keys``
    eps : float, the first finite-difference step
    rtol, atol : tolerances (see the module docstring; ``atol=None`` is the
        round-off floor above)
    keys : names to check, or one name as a str (default: every key of ``params``); at
        least one

    Returns
    -------
    dict name -> (numeric, exact)

    Raises
    ------
    :class:`GradientMismatchError` (an ``AssertionError``) naming the first wrong key
    ("gradient of 'W0'"); :class:`NotDifferentiableError` (no verdict) if ``L`` has a
    kink within every step down to ``eps / 1024`` along that key's direction, or is
    computed in float32; :class:`RoundoffFloorWarning` per key that passed only within
    the round-off floor; TypeError for a
    float32 parameter, gradient or loss value, ``params`` or ``grads`` that is
    no dict, ``keys`` that is no str or sequence of them, a parameter that is no
    writeable ndarray; DataError for nothing to check (no keys, or only empty
    parameters), a key missing from ``params`` or ``grads``, a misshapen gradient, a
    parameter that is not finite, a ``loss_fn`` that changes ``params``, and the options
    :func:`check_vjp` refuses.
    """
    return _check_param_grads(loss_fn, params, grads, rng, eps, rtol, atol, keys, "loss_fn")


def _check_param_grads(loss_fn, params, grads, rng, eps, rtol, atol, keys, who):
    """:func:`check_param_grads`; ``who`` names ``loss_fn`` in the message of a loss that
    never changes."""
    _check_options(eps, rtol, atol)
    rng = _rng(rng)
    for name, d in (("params", params), ("grads", grads)):
        if not isinstance(d, dict):
            raise TypeError(f"{name} must be a dict name -> float64 ndarray, "
                            f"got {type(d).__name__}")
    if keys is None:
        keys = list(params)
    elif isinstance(keys, str):
        keys = [keys]
    else:
        given = keys
        try:
            keys = list(given)                           # a list, tuple, dict's keys, ...
        except TypeError:                                # not iterable
            keys = [given]
        if not all(isinstance(k, str) for k in keys):
            raise TypeError(f"keys must be None, a str or an iterable of str, got {given!r}")
    if not keys:
        raise DataError("nothing to check: params is empty or keys names no key; a check of "
                        "no parameter would pass whatever the gradients")
    checked = {}                                           # key -> (param, gradient)
    for k in keys:                                         # every key's input, before any check
        if k not in params or k not in grads:
            raise DataError(f"key {k!r} must be in both params {sorted(params)} "
                            f"and grads {sorted(grads)}")
        if not isinstance(params[k], np.ndarray) or not params[k].flags.writeable:
            what = ("a read-only ndarray" if isinstance(params[k], np.ndarray)
                    else type(params[k]).__name__)
            raise TypeError(f"params[{k!r}] must be a writeable ndarray to be perturbed in "
                            f"place, got {what}")
        p = _point(f"params[{k!r}]", params[k], empty=True)
        g = np.asarray(grads[k])
        if g.shape != p.shape:
            raise DataError(f"grads[{k!r}] has shape {g.shape}, params[{k!r}] has {p.shape}")
        checked[k] = (p, _float64(f"grads[{k!r}]", g))
    if all(p.size == 0 for p, _ in checked.values()):
        raise DataError(f"nothing to check: every parameter checked "
                        f"({', '.join(map(repr, keys))}) is empty; a check of no entry would "
                        "pass whatever the gradients")
    # every array of params as it was: loss_fn must leave them so (a loss that changes them,
    # an optimizer step inside it, say, would move the line the check walks along), and all
    # are put back afterwards, whatever loss_fn did
    before = {name: (a, a.copy()) for name, a in params.items() if isinstance(a, np.ndarray)}
    results, blind = {}, {}
    try:
        for k, (p, g) in checked.items():
            u = rng.standard_normal(p.shape) * _scale(p)
            exact = float(np.sum(g * u))
            saved = before[k][1]

            def loss_at(t, k=k, p=p, saved=saved, u=u):
                target = saved if t == 0.0 else saved + t * u        # p_k + t u
                np.copyto(p, target)                                 # in place
                value = _scalar("loss_fn()", loss_fn())
                _check_untouched(params, before, k, target, f"params[{k!r}]{_step(t, 'u')}",
                                 who)
                return value
            line = _Line(loss_at, 1.0, f"gradient of {k!r}",
                         lambda t, k=k: f"params[{k!r}]{_step(t, 'u')}",
                         (who, f"it does not read params[{k!r}] in place (a copy, a torch "
                               "tensor made once, an array derived from it and cached?), or "
                               f"the loss does not depend on params[{k!r}] and grads[{k!r}] "
                               "should be 0"))
            try:
                numeric = _judge(line, exact, eps, rtol, atol, f"gradient of {k!r}", blind)
            finally:
                p[...] = saved
            results[k] = (numeric, exact)
    finally:
        for name, (a, copy) in before.items():              # as they were, bit for bit
            if params.get(name) is not a:
                params[name] = a
            if _differs(a, copy).any():
                a[...] = copy
    unseen = _unseen(blind, [e for _, e in results.values()], len(results) - len(blind))
    for what, (exact, floor) in unseen.items():
        _floor_warning(what, exact, floor)
    return results


def _differs(a, b):
    """Where the arrays ``a`` and ``b`` (one shape) differ, bool: NaN equals NaN in a float
    or complex array; an array of another kind (ints, strings, objects) compares as ``!=``."""
    changed = np.asarray(a != b)
    if a.dtype.kind in "fc":
        changed &= ~(np.isnan(a) & np.isnan(b))
    return changed


def _check_untouched(params, before, k, target, where, who):
    """DataError if the loss function just called changed an array of ``params`` (``before``:
    name -> (the array, a copy)) or put another array in its place; ``params[k]`` must hold
    ``target``, the point ``where`` the check set."""
    for name, (a, copy) in before.items():
        if params.get(name) is not a:
            raise DataError(f"{who} replaced params[{name!r}] by another object while "
                            f"evaluated at {where}: the loss must be a function of params that "
                            "leaves them as they are (an optimizer step inside it?); every "
                            "parameter has been put back as it was")
        expected = target if name == k else copy
        changed = _differs(a, expected)
        if changed.any():
            i = tuple(int(j) for j in np.unravel_index(int(np.argmax(changed)), a.shape))
            raise DataError(
                f"{who} changed params[{name!r}] in place while evaluated at {where} "
                f"({int(changed.sum())} entries, first at index {i}: {expected[i].item()!r} "
                f"-> {a[i].item()!r}): the loss must be a function of params that leaves them "
                "as they are (an optimizer step, a clipping or a normalisation inside it?); "
                "every parameter has been put back as it was")


#: the scoring and the training rows agree when ``|Z - E| <= _PATH_UNITS · ε_mach · max|E|``
#: entrywise, ``max|E|`` the largest finite entry of the whole final-embedding table.
#: The two paths compute every row from the same parameters by the same operations, summed
#: in another order (a batch's rows or hop balls against the whole graph; other BLAS
#: blockings), so they differ by float64 rounding only. Measured (dropout off) on MF,
#: LightGCN (numba and numpy backends, count and time-decay edge weights), GCN (relu, tanh,
#: sigmoid; sym/sum/mean; ids, features, both; log1p and time-decay weights), NGCF (with and
#: without its dropout and layer normalisation) and GAT (1-2 heads, concat and mean, numba
#: and numpy, ids, features, both, count and time-decay weights): at most 5.2 ε_mach max|E|
#: (NGCF; LightGCN 4.4, GCN 4.8, GAT 2.0, MF 0: the same rows), on the test table's tiny
#: graphs, the synthetic data (1000 x 1500, 40k interactions, dim 64), ml-100k and Gowalla
#: (29858 x 40981, 810k interactions), batches of 2048 triples. 64 is twelve times that.
_PATH_UNITS = 64


def _training_rows(model, nodes):
    """``_forward_rows(nodes)``'s final embeddings ``Z``, in float64, an array of their own
    (a model may return a buffer it reuses), with BLAS on one thread as in ``loss_and_grad``."""
    from .threadpools import serial_blas
    with serial_blas():
        Z = model._forward_rows(nodes)[0]
    return np.array(Z, dtype=np.float64)


def _check_scoring_path(model, batch):
    r"""The rows ``_forward_rows`` gives the batch's nodes (the training path: the loss and the
    gradients checked) against the same rows of ``_all_embeddings()`` (the scoring path:
    ``refresh_embeddings``, ``score``, ``recommend``), from the same ``params``.

    Only for a model with both (and ``_batch_nodes``): an
    :class:`~minigraphrec.models.EmbeddingRecommender`; returns None for another.
    Dropout is switched off for the comparison: the model's dropout rates (its class's
    ``_dropout_params``) are set to 0 and restored afterwards, which makes the library's
    training paths deterministic and, so, comparable exactly. A model whose training rows
    still change with ``step_`` (dropout under another name) is not compared:
    ``UserWarning`` saying so. Returns ``(max |diff|, tolerance)``; raises
    :class:`GradientMismatchError` beyond the tolerance (:data:`_PATH_UNITS`) naming the
    model, the worst node and both values.
    """
    if not all(callable(getattr(model, hook, None))
               for hook in ("_forward_rows", "_all_embeddings", "_batch_nodes")):
        return None
    name = type(model).__name__
    nodes = np.unique(model._batch_nodes(batch)[1])                  # (m,) sorted, distinct
    off = {a: getattr(model, a) for a in getattr(model, "_dropout_params", ())
           if getattr(model, a)}
    try:
        for a in off:
            setattr(model, a, 0.0)
        Z = _training_rows(model, nodes)                             # (m, d_out)
        E = np.asarray(model._all_embeddings())                      # (n_nodes, d_out)
        n_nodes = getattr(model, "n_users_", 0) + getattr(model, "n_items_", 0)
        if (E.ndim != 2 or E.shape[1:] != Z.shape[1:] or E.shape[0] <= nodes[-1]
                or (n_nodes and E.shape[0] != n_nodes)):
            n_rows = n_nodes or f"more than {int(nodes[-1])}"
            raise GradientMismatchError(
                f"{name}: _all_embeddings() returned shape {E.shape}, expected {n_rows} rows "
                f"(one per node, users first) of the {Z.shape[1]} columns _forward_rows gives: "
                "the scoring path does not give the embeddings the training path trains")
        E = _float64(f"{name}._all_embeddings()", E)
        rows = E[nodes]                                              # (m, d_out)
        with np.errstate(invalid="ignore"):
            diff = np.abs(Z - rows)
        diff[(Z == rows) | (np.isnan(Z) & np.isnan(rows))] = 0.0     # inf == inf agrees
        diff[np.isnan(diff)] = np.inf                                # one side not finite
        scale = float(np.max(np.abs(E[np.isfinite(E)]), initial=0.0))
        tol = _PATH_UNITS * _EPS * scale
        bad = diff > tol
        if not bad.any():
            return float(diff.max(initial=0.0)), tol
        step = getattr(model, "step_", None)
        if isinstance(step, (int, np.integer)):      # dropout the check cannot switch off?
            try:
                model.step_ = step + 1
                Z_next = _training_rows(model, nodes)
            finally:
                model.step_ = step
            if not np.array_equal(Z, Z_next, equal_nan=True):
                named = ", ".join(getattr(model, "_dropout_params", ())) or "none"
                warnings.warn(
                    f"check_model_grads: {name}._all_embeddings() (the scoring path) was not "
                    f"compared with {name}._forward_rows() (the training path): the training "
                    f"rows change with step_, so they are random (dropout) and differ from the "
                    f"scoring rows by design; the check switches off only the rates its "
                    f"class names in _dropout_params ({named}). Name its dropout there, or "
                    "build the model with its dropout at 0, and check it again",
                    UserWarning, stacklevel=_outside_this_module())
                return None
    finally:
        for a, value in off.items():
            setattr(model, a, value)
    i, j = np.unravel_index(int(np.argmax(diff)), diff.shape)
    v, n_u = int(nodes[i]), getattr(model, "n_users_", None)
    node = (f"node {v}" if n_u is None else
            f"node {v} (user {v})" if v < n_u else f"node {v} (item {v - n_u})")
    dropout = (f", dropout off ({', '.join(f'{a}={value!r}' for a, value in off.items())} set "
               "to 0 for the comparison)" if off else "")
    raise GradientMismatchError(
        f"{name}: _all_embeddings() (the scoring path: refresh_embeddings, score, recommend) "
        f"!= _forward_rows() (the training path: loss_and_grad, whose gradients this check "
        f"checks) on {int(bad.any(axis=1).sum())} of the batch's {nodes.size} nodes, from the "
        f"same params{dropout}; worst at {node}, column {int(j)}: _all_embeddings "
        f"{float(rows[i, j])!r} vs _forward_rows {float(Z[i, j])!r} (|diff| "
        f"{float(diff[i, j]):.3e}; tolerance {tol:.3e} = {_PATH_UNITS} ε_mach · max|E| "
        f"{scale:.3e}, float64 rounding of the two summation orders). The model would train "
        f"one function and score another: does _all_embeddings leave out a step of "
        f"_forward_rows (a normalisation, a weight matrix, an activation)?")


def check_model_grads(model, batch, rng=None, eps=1e-6, rtol=1e-6, atol=None, keys=None):
    r"""Check ``model.loss_and_grad(batch)`` against finite differences of its loss.

    Calls ``loss, grads = model.loss_and_grad(batch)`` once, then runs
    :func:`check_param_grads` on ``model.params`` with
    ``loss_fn = lambda: model.loss_and_grad(batch)[0]``: every key (or those
    in ``keys``) is perturbed in place along a random direction and restored
    afterwards.

    Between the two, for a model that scores from ``_all_embeddings()`` (an
    :class:`~minigraphrec.models.EmbeddingRecommender`), it checks that what is scored is
    what is trained: the final embeddings ``_forward_rows`` gives the batch's nodes (the
    loss's, so the gradients' too) must equal the same rows of ``_all_embeddings()`` (what
    ``refresh_embeddings`` caches for ``score`` and ``recommend``), from the same
    ``params``, to ``64 ε_mach · max|E|`` entrywise (``max|E|`` the largest entry of the
    whole table): float64 rounding of the two summation orders, which measured at most
    5.2 ε_mach max|E| on every built-in model up to Gowalla's size. The gradient check sees
    the training path only: a model whose ``_all_embeddings`` leaves out a step of
    ``_forward_rows`` (a normalisation, a weight matrix) passes it, trains normally and
    scores another function. Dropout is switched off for this comparison (NGCF's
    ``message_dropout`` and ``node_dropout``, GAT's ``attention_dropout`` are set to 0,
    and restored): the library's training rows are then deterministic and must agree
    exactly, to rounding; a model whose training rows still change with ``step_`` (dropout
    under another name) is not compared, with a ``UserWarning``. A mismatch raises
    :class:`GradientMismatchError` naming the model, ``_all_embeddings`` vs
    ``_forward_rows``, the worst node and both values.

    The model must be float64 (built with ``dtype="float64"``; TypeError otherwise, saying
    so: a float32 model is checked on its float64 twin, docs/extending.md) and its loss a
    deterministic function of ``params`` and ``batch``: switch dropout off
    (or make it reseed on every call) and let ``loss_and_grad`` recompute
    everything it derives from ``params``. A ReLU or LeakyReLU model at a
    realistic size usually has a kink within the first step of some key's
    direction; the check then halves the step (module docstring, "Kinks").

    Parameters
    ----------
    model : a float64 model with a ``params`` dict and ``loss_and_grad(batch)``
    batch : what ``model.loss_and_grad`` takes (a PairBatch, PointBatch or SessionBatch)
    rng, eps, rtol, atol, keys : as :func:`check_param_grads`

    Returns
    -------
    dict name -> (numeric, exact)

    Raises
    ------
    What :func:`check_param_grads` raises; :class:`GradientMismatchError` also when the
    scoring rows differ from the training rows (above); DataError, as in training
    (:func:`minigraphrec.train.check_gradients`), when ``loss_and_grad`` returns no dict,
    or gradients for other keys than ``params``, or of another shape or dtype (no verdict
    on the values is possible then); TypeError for a model without a non-empty ``params``
    dict or with a float32 parameter.
    """
    params = getattr(model, "params", None)
    if not isinstance(params, dict) or not params:
        raise TypeError(f"model must have a non-empty params dict, got {type(params).__name__}; "
                        "call fit(train, epochs=0) first")
    for k, p in params.items():
        dtype = getattr(p, "dtype", None)
        if dtype is not None and dtype != np.float64 and np.dtype(dtype).kind == "f":
            raise TypeError(
                f"params[{k!r}] of this {type(model).__name__} is {dtype}; a finite-difference "
                f"check needs float64 (float32 round-off swamps a central difference): build "
                f"the model with dtype=\"float64\" (e.g. {type(model).__name__}(..., "
                f"dtype=\"float64\").fit(train, epochs=0)) and, to check a trained float32 "
                f"model, copy its parameters into that float64 twin (docs/extending.md)")
    loss, grads = model.loss_and_grad(batch)
    check_gradients(model, grads, "loss_and_grad")     # training's own contract check
    # copies: a loss_and_grad that returns buffers it reuses would otherwise have the
    # check's own loss evaluations overwrite the gradients being checked
    grads = {k: np.array(g, copy=True) for k, g in grads.items()}
    _check_scoring_path(model, batch)            # the embeddings scored are those trained
    return _check_param_grads(lambda: model.loss_and_grad(batch)[0], params, grads, rng, eps,
                              rtol, atol, keys, f"{type(model).__name__}.loss_and_grad(batch)")
