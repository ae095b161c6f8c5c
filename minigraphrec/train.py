r"""The training loop of the trainable models: sampling, mini-batches, Adam, early stopping.

One epoch, as in LightGCN's code:

* ``loss="bpr"``: draw as many BPR triples as there are training pairs
  (:func:`minigraphrec.ops.sample_bpr`: a user uniformly among users with a
  positive, one of its positives, one uniformly drawn non-positive), cut
  them into mini-batches of ``batch_size`` in the order drawn (the triples
  are independent draws, so they need no further shuffle);
* ``loss="bce"``: every training pair labelled 1 plus ``n_negatives``
  uniformly drawn non-positives of its user labelled 0
  (:func:`minigraphrec.ops.sample_negatives`), shuffled, cut into
  mini-batches of ``batch_size`` pairs;

then for each mini-batch ``loss, grads = model.loss_and_grad(batch)`` and
one Adam step over every parameter (dense Adam: rows the batch did not
touch still move with their moments, as in PyTorch). The library's models
are called as ``model._loss_and_grad(batch, reuse=True)``, the same values
with gradient buffers reused between batches (tested); a subclass that
overrides ``loss_and_grad`` (another loss, a penalty) is called through it
(:func:`batch_gradient`).

A user whose positives are all the items has no negative item, so it can give no BPR
triple and no BCE negative: each fit (and each ``partial_fit`` / ``forget`` fine-tuning)
samples from ``R`` with such users' rows emptied (:func:`_sampling_matrix`), so an epoch
is drawn as if their pairs were not there (BPR: one triple per pair of the other users;
BCE: the other users' pairs, each with its ``n_negatives``; the full users' positives are
not labelled 1 either, which keeps every positive with its ``k`` negatives), and logs one
warning giving how many users and pairs were left out and the first such user's raw id.
On data without such a user the batches are exactly what they were. A fit where every
user with a pair has every item raises DataError: there is nothing to rank against.

Everything random comes from the one Generator ``fit`` makes from
``random_state``, in a fixed order, and every kernel is deterministic: the
same seed gives the same parameters, bit for bit, on any thread count.

Each epoch appends a record to ``model.history_``::

    {"epoch": 1, "loss": 0.693, "time": 1.2,                   # always
     "recall@20": 0.05, "ndcg@20": 0.04, ..., "eval_time": 0.3}   # with validation

``loss`` is the mean of the epoch's batch losses, ``time`` the seconds the
epoch's training took (sampling included, validation not). The record goes
to the logger ``"minigraphrec"`` (INFO if the model is ``verbose``, else
DEBUG) and to ``callback(record)`` if one was given. When the callback runs, the model
holds everything a finished fit would (``optimizer_state_``, ``rng_state_``, the final
embeddings) and, with validation, what early stopping goes on from: ``best_params_``, the
best epoch's parameters when that was an earlier epoch (else None: they are ``params``),
and ``since_best_``, the epochs since it. ``model.save(path)`` there is a checkpoint that
scores (with the epoch's own parameters), and that ``load(path).fit(train, epochs=n,
resume=True)`` (with the same validation data, if any) continues, bit for bit, as the
uninterrupted run would have: the same epochs, the same stop, the same best parameters
restored at the end. That holds for the checkpoint of the epoch the run stopped on too:
its ``since_best_`` has reached ``patience``, so the resumed fit trains no epoch, whatever
``epochs`` asks, and ends as the uninterrupted fit ended (the best parameters restored).

Validation and early stopping. With validation data the model is evaluated
after every epoch (:func:`minigraphrec.metrics.evaluate`, the model's
training items excluded) on its ``metric``; after ``patience`` epochs
without improvement training stops; either way, the parameters of the best
epoch are restored at the end and ``model.best_epoch_`` names it.

``best_epoch_`` names the validated epoch whose parameters the model holds (in ``params``;
in a ``callback`` checkpoint, in ``best_params_`` when that epoch was an earlier one), and
nothing else: a run without validation data that moves the parameters (a resume with
``epochs >= 1``, or from a checkpoint holding ``best_params_``) sets it to None, as do
``partial_fit`` and ``forget``. A later resume with validation then has no earlier score
to beat: its first epoch is the best so far, as in a fresh fit.

Failure. A NaN or infinite loss or gradient stops training with
``FloatingPointError`` naming the epoch and batch; so do parameters or Adam
second moments that are not finite at the end of an epoch
(:func:`check_finite_state`: the step after the last loss check), and, in
``fit``, final embeddings that are not finite. ``fit`` is all or nothing
(:class:`~minigraphrec.models.base.Recommender`): the model is left as it was
before the call, unfitted or fitted as before (a resumed run, as it was when
resumed). To keep a long run's progress, save checkpoints from ``callback``.

Resuming. Whatever a later call needs to continue the same run is kept on
the model, and saved with it (:func:`minigraphrec.io.save`):
``optimizer_state_``, Adam's moments and step counts
(:func:`optimizer_state_attr`), ``rng_state_``, the state of the
Generator's bit generator (:func:`generator_state`), and the epoch count,
``len(history_)``. ``train_model`` starts from ``optimizer_state_`` when the
model has one (Adam's ``lr`` is the model's current ``lr``), numbers the
epochs on from ``history_``, and writes the state back when it returns or
fails, so that ``fit(train, epochs=2)``, ``save``, ``load`` and
``fit(train, epochs=3, resume=True)`` give, bit for bit, the parameters,
history losses and Adam state of ``fit(train, epochs=5)``.

A resume with validation goes on from the early-stopping state the model carries:

* the score to beat is ``best_epoch_``'s on the *current* ``metric``: read from that
  epoch's ``history_`` record, which holds recall, ndcg, precision and hit at the metric's
  cut-off and the metric itself; when it lacks the current metric (``metric`` changed since,
  e.g. ``"recall@10"`` to ``"recall@20"``), the best epoch's parameters are evaluated on it
  once, before the first epoch (the earlier best is never dropped);
* the patience count goes on from ``since_best_``, which only a ``callback`` checkpoint
  holds; the stop test uses the current ``patience`` and runs before the first resumed
  epoch, so a checkpoint that already meets it trains no epoch (above). A finished fit
  holds none (it restored its best epoch's parameters and ended the count): resumed, its
  count starts again at 0, from the best epoch's parameters. That is how to train on past
  an early stop: resume the model the stopped fit returned (or the stop checkpoint
  resumed once), or resume the checkpoint with a larger ``patience`` (or None).
"""
from __future__ import annotations

import contextlib
import functools
import logging
import sys
import time

import numpy as np
import scipy.sparse as sp

from .batch import PairBatch, PointBatch
from .errors import DataError
from .ops.sampling import sample_bpr, sample_negatives
from .optim import Adam

__all__ = ["train_model", "bpr_batches", "bce_batches", "epoch_batches", "run_epoch",
           "batch_gradient", "check_gradients", "generator_state", "restore_generator",
           "optimizer_state_attr",
           "optimizer_state_from_attr", "check_finite_state", "EpochProgress",
           "PROGRESS_SECONDS", "progress_logger"]

logger = logging.getLogger("minigraphrec")
#: the lines inside an epoch (:class:`EpochProgress`), apart, for the command line to print
progress_logger = logging.getLogger("minigraphrec.progress")


def bpr_batches(R, batch_size, rng, backend="numba"):
    r"""One epoch of BPR mini-batches: ``R.nnz`` triples from
    :func:`~minigraphrec.ops.sample_bpr`, in draw order.

    Returns a list of :class:`~minigraphrec.batch.PairBatch`, each of
    ``batch_size`` triples (the last may be shorter). ``backend``: the sampler's (the same
    triples either way). Strict as the sampler is: a user with every item is a DataError
    (training passes ``R`` with such users' rows emptied, :func:`_sampling_matrix`).
    """
    users, pos, neg = sample_bpr(R, random_state=rng, backend=backend)   # (nnz,) each
    return [PairBatch(users[s:s + batch_size], pos[s:s + batch_size], neg[s:s + batch_size])
            for s in range(0, users.shape[0], batch_size)]


def bce_batches(R, batch_size, n_negatives, rng, backend="numba"):
    r"""One epoch of BCE mini-batches: every positive of ``R`` and ``n_negatives`` negatives each.

    The ``nnz · (1 + n_negatives)`` labelled pairs are shuffled, then cut
    into :class:`~minigraphrec.batch.PointBatch` of ``batch_size`` pairs. ``backend``: the
    sampler's (the same negatives either way). Strict as :func:`bpr_batches` about users
    with every item.
    """
    users = np.repeat(np.arange(R.shape[0], dtype=np.int64), np.diff(R.indptr))   # (nnz,)
    items = R.indices.astype(np.int64)                                            # (nnz,)
    neg = sample_negatives(R, users, n_negatives, random_state=rng, backend=backend)  # (nnz, k)
    all_users = np.concatenate([users, np.repeat(users, n_negatives)])            # (N,)
    all_items = np.concatenate([items, neg.reshape(-1)])
    labels = np.concatenate([np.ones(users.shape[0]), np.zeros(neg.size)])
    order = rng.permutation(all_users.shape[0])
    all_users, all_items, labels = all_users[order], all_items[order], labels[order]
    return [PointBatch(all_users[s:s + batch_size], all_items[s:s + batch_size],
                       labels[s:s + batch_size])
            for s in range(0, all_users.shape[0], batch_size)]


def _without_full_users(R):
    r"""``(R_kept, full)``: ``R`` with the rows of the users whose positives are all the
    items emptied, and those users' internal ids (sorted, int64).

    ``R`` is CSR (n_users, n_items); its other rows are kept as they are, so the other
    users' positives and negatives do not change. ``R_kept`` is ``R`` itself, not a copy,
    when no user is full (the common case: the samplers then see exactly what they saw).
    """
    C = R
    if not C.has_canonical_format:                  # duplicates would count twice
        C = C.copy()
        C.sum_duplicates()
    n_items = C.shape[1]
    deg = np.diff(C.indptr)                                          # (n_users,)
    is_full = (deg == n_items) & (deg > 0)
    full = np.flatnonzero(is_full).astype(np.int64)
    if full.size == 0:
        return R, full
    keep = np.repeat(~is_full, deg)                                  # (nnz,)
    indptr = np.zeros_like(C.indptr)
    np.cumsum(np.where(is_full, 0, deg), out=indptr[1:])
    R_kept = sp.csr_matrix((C.data[keep], C.indices[keep], indptr), shape=C.shape)
    R_kept.has_canonical_format = True
    return R_kept, full


def _raw_user(model, u):
    """User ``u`` (internal id) as people know it: its raw id when the model has them."""
    ids = getattr(model, "user_ids_", None)
    if ids is None or u >= len(ids):
        return f"{u} (internal id)"
    raw = ids[u]
    return repr(raw.item() if isinstance(raw, np.generic) else raw)


def _sampling_matrix(model, R, update=False):
    r"""What ``model``'s training samples from: ``R`` without the users who have every item.

    Such a user has no negative item, so it can give no BPR triple and no BCE negative; its
    pairs are left out (:func:`_without_full_users`), with one warning (logger
    ``"minigraphrec"``) giving how many users and pairs, and the first such user by raw id.
    When no pair is left: DataError for a fit (``update=False``: no user has a negative,
    nothing can be trained), while an ``update`` (``partial_fit`` / ``forget`` fine-tuning
    over the touched users) just warns, and trains no step.
    """
    R_kept, full = _without_full_users(R)
    if full.size == 0:
        return R
    name = type(model).__name__
    n_items = R.shape[1]
    n_pairs = int(full.size) * n_items                  # each has every item, once
    first = _raw_user(model, int(full[0]))
    if R_kept.nnz == 0 and not update:
        raise DataError(
            f"{name}: each of the {full.size} user(s) with training pairs has all {n_items} "
            f"items as positives (first: user {first}), so no negative item exists for any "
            f"of them: there is no {'BPR triple' if model.loss == 'bpr' else 'BCE negative'} "
            f"to train on. Training needs users who have not interacted with some item.")
    what = ("this update's fine-tuning" if update else
            "this fit's BPR triples" if model.loss == "bpr" else
            "this fit's BCE examples (positives and negatives)")
    logger.warning("%s: %d user(s) have all %d items as positives (first: user %s), so no "
                   "negative item exists for them: their %d training pair(s) are left out of "
                   "%s", name, full.size, n_items, first, n_pairs, what)
    return R_kept


def _log_cold(model, level):
    r"""Log (at the fit's ``level``) how many users and items have no training pair.

    No triple names a cold user, so its free id embedding keeps its random initial row. A
    cold item is met only as a sampled negative, which pushes its scores down a little per
    epoch: until it has been drawn often enough, it keeps about its random initial scores
    and can top an undertrained model's lists. Models fed only features
    (``input="features"``) have no free id rows, and nothing is logged for them.
    """
    if getattr(model, "input", "embedding") == "features":
        return
    R = model.R_
    n_users, n_items = R.shape
    cold_users = int(np.count_nonzero(np.diff(R.indptr) == 0))
    cold_items = n_items - int(np.count_nonzero(np.bincount(R.indices, minlength=n_items)))
    if cold_users or cold_items:
        logger.log(level, "%s: %d of %d users and %d of %d items have no training pair: "
                   "a cold user keeps its random initial embedding; a cold item is trained "
                   "only as a sampled negative", type(model).__name__, cold_users, n_users,
                   cold_items, n_items)


def _plain(value):
    """A bit generator's state as JSON data: arrays become lists, NumPy integers Python ints."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return {"__array__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    return value


def _unplain(value):
    if isinstance(value, dict):
        if "__array__" in value:
            return np.array(value["__array__"], dtype=np.dtype(value["dtype"]))
        return {k: _unplain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unplain(v) for v in value]
    return value


def generator_state(rng):
    r"""The state of ``rng``'s bit generator as JSON data (exact: Python ints are unbounded).

    For the default PCG64, ``{"bit_generator": "PCG64", "state": {"state": <128-bit int>,
    "inc": <int>}, "has_uint32": 0, "uinteger": 0}``; arrays in other bit generators' states
    (MT19937's key) become ``{"__array__": [...], "dtype": ...}``. No pickle is needed to
    store it; :func:`restore_generator` inverts it.
    """
    return _plain(rng.bit_generator.state)


def restore_generator(state):
    """A new ``numpy.random.Generator`` in the state :func:`generator_state` returned."""
    name = state.get("bit_generator") if isinstance(state, dict) else None
    bit_generator = getattr(np.random, str(name), None)
    if not (isinstance(bit_generator, type) and issubclass(bit_generator, np.random.BitGenerator)):
        raise DataError(f"cannot restore the random generator from its saved state: "
                        f"{name!r} is not a NumPy bit generator")
    try:
        bg = bit_generator()
        bg.state = _unplain(state)
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(f"cannot restore the random generator from its saved state: "
                        f"{type(err).__name__}: {err}") from None
    return np.random.Generator(bg)


def optimizer_state_attr(state):
    """An optimiser's ``state_dict()`` as a model attribute: ``"m/E0"`` keys become ``"m:E0"``.

    :func:`minigraphrec.io.save` stores a dict of arrays under ``<attribute>/<key>`` and so
    refuses keys holding ``/``.
    """
    return {key.replace("/", ":", 1): np.array(value, copy=True) for key, value in state.items()}


def optimizer_state_from_attr(attr):
    """Inverse of :func:`optimizer_state_attr`."""
    return {key.replace(":", "/", 1): value for key, value in attr.items()}


def batch_gradient(model):
    """What training calls for each batch: ``batch -> (loss, grads)``.

    ``model.loss_and_grad`` where the model's class overrides it (its own loss counts), else
    ``model._loss_and_grad(batch, reuse=True)``: the same values, with the gradient buffers
    reused from batch to batch. The gradients of the first batch are checked against
    ``model.params`` (:func:`check_gradients`: the same keys, shapes and dtypes), once per
    fit or update.
    """
    owner = next(c for c in type(model).__mro__ if "loss_and_grad" in c.__dict__)
    if not owner.__module__.startswith("minigraphrec."):   # a user's class changed the loss
        gradient, source = model.loss_and_grad, "loss_and_grad"
    else:
        gradient, source = functools.partial(model._loss_and_grad, reuse=True), "_backward_rows"
    checked = False

    def first_checked(batch):
        nonlocal checked
        loss, grads = gradient(batch)
        if not checked:                          # once per fit or update: the first batch
            check_gradients(model, grads, source)
            checked = True
        return loss, grads
    return first_checked


def check_gradients(model, grads, source="_backward_rows"):
    """DataError unless ``grads`` has exactly the keys of ``model.params``, each an array of
    its parameter's shape and dtype: what the model contract asks of ``_backward_rows``
    (docs/extending.md). Training checks the first batch of each fit and update
    (:func:`batch_gradient`): a parameter left out of the gradients was never moved by Adam
    (which skips missing keys, as PyTorch's does for a parameter without ``.grad``), and the
    model trained on, silently, with it frozen at its initial value."""
    name = type(model).__name__
    where = f"{name}.{source}"
    if source == "loss_and_grad":
        where += " (or the _backward_rows it calls)"
    if not isinstance(grads, dict):
        raise DataError(f"{where} must return the gradients as a dict name -> array, got "
                        f"{type(grads).__name__}")
    params = model.params
    missing = [k for k in params if k not in grads]
    extra = [k for k in grads if k not in params]
    problems = []
    if missing:
        problems.append(f"no gradient for {', '.join(map(repr, missing))} (that parameter "
                        "would never be trained)")
    if extra:
        problems.append(f"gradients for {', '.join(map(repr, extra))}, which "
                        f"{'is not a parameter' if len(extra) == 1 else 'are not parameters'}"
                        f" (params: {', '.join(map(repr, params))})")
    for k in params:
        if k not in grads:
            continue
        g, p = grads[k], params[k]
        shape, dtype = getattr(g, "shape", None), getattr(g, "dtype", None)
        if shape != p.shape or dtype != p.dtype:
            got = (f"{tuple(shape)} {dtype}" if shape is not None
                   else f"a {type(g).__name__}")
            problems.append(f"grads[{k!r}] is {got}, params[{k!r}] is {p.shape} {p.dtype}")
    if problems:
        raise DataError(f"{where} returned gradients that do not match {name}.params: "
                        f"{'; '.join(problems)}. It must return the gradient of every "
                        "parameter, full-shaped (zeros where the batch has no effect), in the "
                        "parameter's dtype")


#: seconds between the progress lines inside an epoch (an epoch on a graph of millions of
#: edges takes minutes: it grows as the square of the edges, README "Models")
PROGRESS_SECONDS = 30.0


class EpochProgress:
    """Called before each batch ``b`` (from 1) of an epoch: every :data:`PROGRESS_SECONDS`,
    one log line at ``level`` with the batch and an estimate of the time left."""

    def __init__(self, name, epoch, n_epochs, n_batches, level):
        self.name, self.epoch, self.n_epochs, self.n_batches = name, epoch, n_epochs, n_batches
        self.level = level
        self.start = self.reported = time.perf_counter()

    def __call__(self, b):
        now = time.perf_counter()
        if b > 1 and now - self.reported >= PROGRESS_SECONDS:
            self.reported = now
            spent = now - self.start
            progress_logger.log(
                self.level, "%s epoch %d/%d: batch %d of %d, %s, about %s left", self.name,
                self.epoch, self.n_epochs, b, self.n_batches, _duration(spent),
                _duration(spent / (b - 1) * (self.n_batches - b + 1)))


def epoch_batches(model, R, rng, backend="numba"):
    """One epoch's mini-batches of ``model``'s loss from the sampling matrix ``R``:
    :func:`bpr_batches` or :func:`bce_batches` (``model.n_negatives`` per positive)."""
    if model.loss == "bpr":
        return bpr_batches(R, model.batch_size, rng, backend)
    return bce_batches(R, model.batch_size, model.n_negatives, rng, backend)


def run_epoch(model, batches, optimizer, gradient, epoch, progress=None,
              on_failure="the model is left as it was"):
    """One epoch of steps: per batch, the loss and gradients (``gradient``,
    :func:`batch_gradient`), one ``optimizer`` step on ``model.params`` and ``model.step_ +=
    1``; then :func:`check_finite_state`. Returns the summed loss.

    A non-finite loss, or a step that met a non-finite gradient (the optimiser counts them),
    raises ``FloatingPointError`` naming the epoch, the batch and ``on_failure`` (what the
    caller does about it: it trains a copy, or restores the parameters). ``progress(b)`` is
    called before batch ``b`` (1-based) when given.
    """
    name = type(model).__name__
    total = 0.0
    for b, batch in enumerate(batches, start=1):
        if progress is not None:
            progress(b)
        with np.errstate(over="ignore", invalid="ignore"):          # reported below instead
            loss, grads = gradient(batch)
            if np.isfinite(loss):
                optimizer.step(model.params, grads)                  # counts non-finite gradients
        if not np.isfinite(loss) or optimizer.nonfinite:
            what = "loss" if not np.isfinite(loss) else f"gradient of {optimizer.nonfinite[0]}"
            raise FloatingPointError(
                f"{name}: the {what} became non-finite (loss {loss}) at epoch {epoch}, batch "
                f"{b} of {len(batches)}; {on_failure}. Try a smaller lr (now {model.lr}).")
        model.step_ += 1
        total += loss
    check_finite_state(name, model.params, optimizer, epoch, model.lr)
    return total


def _duration(seconds):
    """``"45 s"``, ``"3 min 5 s"``, ``"2 h 4 min"``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def check_finite_state(name, params, optimizer, epoch, lr):
    """FloatingPointError unless the parameters and Adam's second moments are finite at the
    end of an epoch: the loss and gradients are checked before each step, so this catches
    the epoch's last step blowing up (the next check would come too late, or never, after
    the last epoch) and a second moment overflowing in float32 (gradients above about
    1.8e19), which freezes its parameters without any NaN. Every entry is tested: a sum
    would overflow on large finite moments."""
    if not all(np.isfinite(p).all() for p in params.values()):
        raise FloatingPointError(
            f"{name}: the parameters became non-finite in the last step of epoch {epoch}; "
            f"training stopped and the model is left as it was before this fit. Try a "
            f"smaller lr (now {lr}).")
    if not all(np.isfinite(v).all() for v in getattr(optimizer, "v", {}).values()):
        raise FloatingPointError(
            f"{name}: Adam's second moment overflowed at epoch {epoch} (gradients too large "
            f"for the dtype: it then stops moving the parameters); training stopped and the "
            f"model is left as it was before this fit. Lower lr or reg, or use "
            f"dtype='float64'.")


@contextlib.contextmanager
def _verbose_output(verbose):
    """With ``verbose``, show the ``"minigraphrec"`` logger's INFO records on stderr while
    the block runs, unless logging is configured (a handler on it or on the root logger):
    with none, Python drops INFO records, and ``verbose=True`` printed nothing. A
    configured setup is left to show or filter them itself."""
    log = logging.getLogger("minigraphrec")
    if not verbose or log.hasHandlers():
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def _check_callback(callback):
    """TypeError unless ``callback`` is None or callable."""
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable(record), got {type(callback).__name__}")


def _check_training_inputs(model, validation, callback, epochs):
    """What a training loop would refuse after its first epoch, refused before it (an epoch
    of Gowalla takes minutes): ``validation`` (an Interactions in the model's id space with
    at least one item outside training) and a ``callback`` that is not callable. Warns that
    ``patience`` does nothing without validation."""
    _check_callback(callback)
    if validation is None:
        if getattr(model, "patience", None) is not None and epochs > 0:
            logger.warning("%s: patience=%s has no effect without validation data",
                           type(model).__name__, model.patience)
        return
    from .metrics import _check_raw_ids, _pairs_csr
    T = _pairs_csr(validation, model.n_users_, model.n_items_, "validation")
    _check_raw_ids(validation, model, "validation")
    seen = T.multiply(model.R_).tocsr()
    seen.eliminate_zeros()
    if seen.nnz == T.nnz:
        raise DataError("no user has a validation item that is not a training item: "
                        "nothing to validate on")


def train_model(model, validation=None, epochs=1, callback=None, rng=None):
    r"""Train ``model`` (already built and initialised by its ``fit``) in place.

    Parameters
    ----------
    model : EmbeddingRecommender with ``params`` set
    validation : Interactions or None
    epochs : int >= 0
    callback : callable(record) or None
    rng : numpy Generator, the one ``fit`` made

    Returns
    -------
    model

    Continues a run: Adam starts from ``model.optimizer_state_`` if the model
    has one, epochs are numbered from ``len(model.history_) + 1``, and with
    validation an earlier ``best_epoch_`` is the score to beat (its parameters:
    ``model.best_params_`` if set, else the current ones; see the module
    docstring). ``model.optimizer_state_`` is written back on return and on
    failure.

    Call it through the model's ``fit`` (``fit(train, ..., resume=True)`` to
    train on), not directly: ``fit`` checks the hyperparameters and the data,
    restores and saves the random generator's state and the final embeddings,
    and is all or nothing. This function is not: when it raises (a diverging
    run, an interrupt), the model keeps what it did up to there, the epochs
    trained, ``step_``, ``history_`` and the parameters and Adam state of the
    failing step (NaN or infinite after a divergence, and then refused by a
    later resume), with ``rng_state_`` and the cached embeddings left behind.
    Discard such a model, or go back to a saved checkpoint.
    """
    _check_training_inputs(model, validation, callback, epochs)
    with _verbose_output(model.verbose):
        return _train_model(model, validation, epochs, callback, rng)


def _best_score(model, best_params, validation, evaluate, key, metric_k, wanted):
    """The score of ``best_epoch_`` (parameters ``best_params``) on the current metric ``key``.

    Its ``history_`` record's, if it holds ``key``; else (``metric`` changed since that
    epoch was scored) its parameters evaluated on ``validation`` now, as the training loop
    evaluates an epoch. The model's ``params`` and cached embeddings are as they were after.
    """
    record = next((r for r in model.history_ if r["epoch"] == model.best_epoch_), None)
    if record is not None and key in record:
        return record[key]
    current = model.params
    try:
        model.params = best_params
        model._refresh_embeddings()
        return evaluate(model, validation, k=metric_k, metrics=wanted)[key]
    finally:
        model.params = current
        model._refresh_embeddings()


def _train_model(model, validation, epochs, callback, rng):
    """``train_model``'s loop, its inputs checked."""
    from .metrics import evaluate, metric_key, parse_metric

    rng = np.random.default_rng(rng)
    level = logging.INFO if model.verbose else logging.DEBUG
    metric_name, metric_k = parse_metric(model.metric)
    metric_k = metric_k or 20                  # "auc": the other metrics recorded at 20
    key = metric_key(metric_name, metric_k)    # what evaluate calls it ("ndcg@020": "ndcg@20")
    wanted = sorted({"recall", "ndcg", "precision", "hit", metric_name})
    # a model with backend="numpy" samples and steps with the references too (the same bits)
    backend = getattr(model, "backend", "numba")
    optimizer = Adam(lr=model.lr, backend=backend)      # numba: fused; serial for small tables
    saved = getattr(model, "optimizer_state_", None)
    if saved:                                           # a resumed run: Adam's moments and t
        optimizer.load_state_dict(optimizer_state_from_attr(saved))
        optimizer.lr = float(model.lr)                  # the lr may change between calls
    best_score, best_params, since_best = -np.inf, None, 0
    first = len(model.history_)                         # epochs already trained
    last = first + epochs
    if validation is None:
        if epochs > 0 or getattr(model, "best_params_", None) is not None:
            # the parameters move away from (or, in a checkpoint, are not) the best
            # validated epoch's, and nothing scores them: no epoch names them any more
            model.best_epoch_ = None
    elif model.best_epoch_ is not None:
        # a checkpoint from a callback holds the best epoch's parameters apart when that
        # epoch was an earlier one, and the epochs since it; a finished fit holds them as its
        # params (it restored them), and the count starts afresh
        saved = getattr(model, "best_params_", None) or model.params
        best_params = {k: v.copy() for k, v in saved.items()}
        since_best = int(getattr(model, "since_best_", None) or 0)
        if model.patience is not None and since_best >= model.patience:
            # a checkpoint of the epoch its run stopped on: the run is over, as it was for
            # the uninterrupted fit, which stopped right after that epoch
            logger.log(level, "%s: no better %s for %d epochs when resumed, stopping; best "
                       "epoch %d", type(model).__name__, model.metric, since_best,
                       model.best_epoch_)
            last = first
        elif epochs > 0:
            best_score = _best_score(model, best_params, validation, evaluate, key, metric_k,
                                     wanted)
    # users with every item give no triple: left out, with one warning (DataError if all)
    R = _sampling_matrix(model, model.R_) if last > first else model.R_
    if first == 0 and last > first:
        _log_cold(model, level)
    gradient = batch_gradient(model)
    try:
        for epoch in range(first + 1, last + 1):
            start = time.perf_counter()
            batches = epoch_batches(model, R, rng, backend)
            progress = EpochProgress(type(model).__name__, epoch, last, len(batches), level)
            # a failed step made the parameters non-finite too: fit gives back the model it
            # started from (all or nothing)
            total = run_epoch(model, batches, optimizer, gradient, epoch, progress,
                              "training stopped and the model is left as it was before this "
                              "fit")
            record = {"epoch": epoch, "loss": total / len(batches),
                      "time": time.perf_counter() - start}

            if validation is not None:
                t0 = time.perf_counter()
                model._refresh_embeddings()
                scores = evaluate(model, validation, k=metric_k, metrics=wanted)
                record.update({k: v for k, v in scores.items() if k != "n_users"})
                record["eval_time"] = time.perf_counter() - t0
                score = record[key]
                if score > best_score:
                    best_score, since_best = score, 0
                    best_params = {k: v.copy() for k, v in model.params.items()}
                    model.best_epoch_ = epoch
                else:
                    since_best += 1

            model.history_.append(record)
            logger.log(level, "%s epoch %d/%d: %s", type(model).__name__, epoch, last,
                       ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k != "epoch"))
            if callback is not None:
                # the model is a whole checkpoint when the callback sees it: what a fit would
                # leave on return (Adam's state, the generator's, the final embeddings), so
                # that model.save(path) there, then load and fit(..., resume=True), continues
                # the run bit for bit
                model.optimizer_state_ = optimizer_state_attr(optimizer.state_dict())
                model.rng_state_ = generator_state(rng)
                if validation is None:                 # else refreshed for it, just above
                    model._refresh_embeddings()
                else:                                  # what early stopping carries on from
                    model.best_params_ = None if model.best_epoch_ == epoch else best_params
                    model.since_best_ = since_best
                callback(dict(record))
            patience = model.patience
            if validation is not None and patience is not None and since_best >= patience:
                logger.log(level, "%s: no better %s for %d epochs, stopping; best epoch %d",
                           type(model).__name__, model.metric, since_best, model.best_epoch_)
                break

        if best_params is not None:
            for k, v in best_params.items():
                model.params[k][...] = v
        model.best_params_ = model.since_best_ = None   # the params are the best epoch's now
    finally:                                            # also after a failure
        model.optimizer_state_ = optimizer_state_attr(optimizer.state_dict())
    return model
