"""The training engine shared by every estimator.

Everything torch-specific that is not a network or a loss lives here: device resolution,
seeding without touching global RNG state, the conversion of validated arrays to tensors,
the fast index-based batch stream, the skorch net all estimators train with, and chunked
inference.
"""

import copy
import math
import signal
import threading
import warnings
from contextlib import contextmanager

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import ProgressBar
from skorch.utils import to_tensor

#: Optimisers by name: ``(class, keyword arguments)``; SGD always uses momentum 0.9.
OPTIMIZERS = {
    "adam": (torch.optim.Adam, {}),
    "sgd": (torch.optim.SGD, {"momentum": 0.9}),
}

#: Optimisers with a fused implementation (one kernel over all parameters) on CPU and
#: CUDA: the same update as the default per-parameter loop, with less overhead per step.
_FUSED_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD)

#: Every network trains in float32, whatever the dtype of the data: float64 (NumPy's
#: default, pandas, ``load_digits``) and integer input would otherwise train several times
#: more slowly for no gain in clustering. Inference on float64 data runs in float64
#: (see :func:`inference_dtype`).
TRAIN_DTYPE = torch.float32

#: Rows per forward pass in inference (predict, transform, score, full-data passes in fit).
INFERENCE_CHUNK = 4096

_TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def resolve_device(device):
    """Turn the ``device`` parameter into an available :class:`torch.device`.

    ``"auto"`` picks CUDA when available, else CPU. Raises ``ValueError`` naming the
    parameter for an unknown device string and for a device this machine does not have.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(
            f"device={device!r} is not a valid torch device; use 'auto', 'cpu', 'cuda', "
            f"'cuda:<index>', 'mps' or a torch.device."
        ) from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on this machine "
                f"(torch {torch.__version__}); use device='cpu' or device='auto'."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but only {torch.cuda.device_count()} CUDA "
                f"device(s) are available."
            )
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError(f"device={device!r} was requested but MPS is not available.")
    elif dev.type != "cpu":
        raise ValueError(
            f"device={device!r} is not supported; use 'auto', 'cpu', 'cuda' or 'mps'."
        )
    return dev


def draw_seed(random_state):
    """One integer seed from ``random_state`` without consuming global RNG state.

    ``None`` draws fresh OS entropy (not ``np.random``'s global state); an int or a
    ``RandomState`` is used as scikit-learn does.
    """
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0] % (2**31 - 1))
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


@contextmanager
def seeded(seed, device):
    """Seed torch inside a forked RNG so that the caller's global state is restored."""
    cuda_devices = list(range(torch.cuda.device_count())) if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        yield


def bf16_native(device):
    """Whether ``device`` executes bfloat16 matrix products natively.

    CPUs with AVX512-BF16 or AMX tiles, and CUDA devices of compute capability 8.0 and
    newer (Ampere onwards). Elsewhere bfloat16 is emulated and slower than float32
    (measured 4x slower GEMMs on an AVX-512 CPU without BF16).
    """
    device = torch.device(device)
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return torch.cuda.get_device_capability(index)[0] >= 8
    return False


def resolve_mixed_precision(mixed_precision, device):
    """The ``mixed_precision`` parameter as a bool: ``"auto"`` is :func:`bf16_native`."""
    if isinstance(mixed_precision, str) and mixed_precision == "auto":
        return bf16_native(device)
    return bool(mixed_precision)


#: Serialises the temporary float64 casts of fitted modules (see :func:`forward_chunks`).
_CAST_LOCK = threading.RLock()


@contextmanager
def _in_dtype(module, dtype):
    """``module`` with its parameters and buffers in ``dtype`` meanwhile.

    float32 -> float64 -> float32 is exact, so the trained weights come back unchanged.
    """
    param = next(module.parameters(), None)
    if param is None or param.dtype == dtype:
        yield
        return
    original = param.dtype
    with _CAST_LOCK, torch.no_grad():
        module.to(dtype=dtype)
        try:
            yield
        finally:
            module.to(dtype=original)


def as_tensor(X, device, dtype=None):
    """A tensor view of ``X`` on ``device`` (no copy for a CPU float array of that dtype).

    Read-only arrays (e.g. read-only memory maps) are wrapped without copying; the
    engine never writes to its input.
    """
    if isinstance(X, torch.Tensor):
        return X.to(device=device, dtype=dtype)
    X = np.asarray(X)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*non-writable.*")
        t = torch.from_numpy(X if X.flags.c_contiguous else np.ascontiguousarray(X))
    return t.to(device=device, dtype=dtype)


def all_finite(out):
    """Whether every floating tensor in ``out`` (a tensor or nested tuple) is finite."""
    if isinstance(out, torch.Tensor):
        return not out.is_floating_point() or bool(torch.isfinite(out).all())
    if isinstance(out, (tuple, list)):
        return all(all_finite(o) for o in out)
    return True


def _map_outputs(out, fn):
    if isinstance(out, torch.Tensor):
        return fn(out)
    if isinstance(out, (tuple, list)):
        return type(out)(_map_outputs(o, fn) for o in out)
    return out


class StopTraining(Exception):
    """Raised by a net's hook to end ``partial_fit`` early because training converged.

    The engine's own way to stop (never ``KeyboardInterrupt``, which is the user's).
    """


_interrupt = threading.local()


def _sigint_received():
    return getattr(_interrupt, "received", False)


@contextmanager
def interruptible():
    """Let Ctrl-C (SIGINT) stop a fit, whatever skorch's conventions.

    skorch's ``partial_fit`` treats every ``KeyboardInterrupt`` as "stop training and
    return" (its ``EarlyStopping`` raises one). Inside this context a SIGINT is recorded
    before the previous handler (by default, Python's, which raises ``KeyboardInterrupt``)
    runs, so :meth:`DeepNet.partial_fit` re-raises a user's interrupt and only swallows a
    ``KeyboardInterrupt`` that a callback raised on purpose. Signal handlers can only be
    set in the main thread; elsewhere (and where SIGINT is ignored) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):  # SIG_IGN, SIG_DFL or set outside Python
        yield
        return
    outer = _sigint_received()

    def handler(signum, frame):
        _interrupt.received = True
        previous(signum, frame)

    _interrupt.received = False
    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _interrupt.received = outer


class _TensorData:
    """The training data as tensors: what ``get_dataset`` returns."""

    def __init__(self, X, y=None):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.X)


class BatchStream:
    """Shuffled mini-batches taken by index from tensors held in memory.

    Each pass draws one permutation from an explicit ``torch.Generator``. A tail batch of
    a single sample is merged into the previous batch (a size-1 batch breaks batch
    statistics and gives a very noisy step). With ``batches_per_epoch`` set, an "epoch"
    is that many batches taken from a stream that continues across epochs (used by DEC,
    whose target distribution is refreshed every ``update_interval`` iterations).
    """

    def __init__(self, data, batch_size, generator, batches_per_epoch=None):
        self.data = data
        self.batch_size = batch_size
        self.generator = generator
        self.batches_per_epoch = batches_per_epoch
        self._pending = iter(())

    def _one_pass(self):
        n = len(self.data)
        perm = torch.randperm(n, generator=self.generator).to(self.data.X.device)
        bounds = list(range(0, n, self.batch_size)) + [n]
        if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
            del bounds[-2]
        X, y = self.data.X, self.data.y
        for start, stop in zip(bounds[:-1], bounds[1:]):
            idx = perm[start:stop]
            yield X[idx], (None if y is None else y[idx])

    def __len__(self):
        if self.batches_per_epoch is not None:
            return self.batches_per_epoch
        n = len(self.data)
        n_batches = math.ceil(n / self.batch_size)
        return n_batches - 1 if n_batches > 1 and n % self.batch_size == 1 else n_batches

    def __iter__(self):
        if self.batches_per_epoch is None:
            yield from self._one_pass()
            return
        for _ in range(self.batches_per_epoch):
            batch = next(self._pending, None)
            if batch is None:
                self._pending = self._one_pass()
                batch = next(self._pending)
            yield batch


class _OrderedBatches:
    """The rows of ``data`` in order, ``batch_size`` at a time (for eval-mode passes)."""

    def __init__(self, data, batch_size):
        self.data, self.batch_size = data, batch_size

    def __len__(self):
        return math.ceil(len(self.data) / self.batch_size)

    def __iter__(self):
        X, y = self.data.X, self.data.y
        for start in range(0, len(X), self.batch_size):
            stop = start + self.batch_size
            yield X[start:stop], (None if y is None else y[start:stop])


class DeepNet(NeuralNet):
    """The skorch net every estimator trains with.

    Differences from :class:`skorch.NeuralNet`: the data is converted to a tensor once
    and batches are taken by index (:class:`BatchStream`); the module is cast to the
    data's dtype; optional bfloat16 autocast for training forward passes; a non-finite
    loss stops training with a :class:`FloatingPointError` that names the epoch.
    Subclasses override :meth:`get_loss` (and nothing else is needed for a new method).

    Parameters beyond skorch's
    --------------------------
    dtype : torch.dtype
        Parameters and computations use this dtype.
    mixed_precision : bool or "auto"
        bfloat16 autocast for training forward passes (losses are computed in ``dtype``);
        ``"auto"``: where the device runs bfloat16 natively (:func:`bf16_native`).
    seed : int
        Seed of the shuffling generator.
    batches_per_epoch : int or None
        See :class:`BatchStream`.
    """

    def __init__(self, *args, dtype=torch.float32, mixed_precision=False, seed=0,
                 batches_per_epoch=None, **kwargs):
        kwargs.setdefault("train_split", None)
        kwargs.setdefault("torch_load_kwargs", {"weights_only": False})
        super().__init__(*args, **kwargs)
        self.dtype = dtype
        self.mixed_precision = resolve_mixed_precision(mixed_precision, self.device)
        self.seed = seed
        self.batches_per_epoch = batches_per_epoch

    def initialize_module(self):
        super().initialize_module()
        self.module_.to(dtype=self.dtype)
        return self

    def get_dataset(self, X, y=None):
        if isinstance(X, _TensorData):
            return X
        return _TensorData(as_tensor(X, self.device, self.dtype),
                           None if y is None else as_tensor(y, self.device))

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train for ``max_epochs`` more epochs (skorch's ``partial_fit``), except that a
        user's Ctrl-C propagates (see :func:`interruptible`) and :class:`StopTraining`
        ends training quietly."""
        if not self.initialized_:
            self.initialize()
        routing_method = fit_params.pop("_routing_method", "partial_fit")
        self.notify("on_train_begin", X=X, y=y)
        try:
            self.fit_loop(X, y, _routing_method=routing_method, **fit_params)
        except StopTraining:
            pass
        except KeyboardInterrupt:
            if _sigint_received():
                raise
            # A callback's request to stop (skorch's EarlyStopping raises this).
        self.notify("on_train_end", X=X, y=y)
        return self

    def get_iterator(self, dataset, training=False):
        if not training:  # in order, so that predict/forward rows line up with X
            return _OrderedBatches(dataset, self.batch_size)
        stream = getattr(self, "_stream", None)
        if stream is None or stream.data is not dataset:
            stream = BatchStream(dataset, self.batch_size,
                                 torch.Generator().manual_seed(self.seed),
                                 self.batches_per_epoch)
            self._stream = stream
        return stream

    def forward_iter(self, X, training=False, device="cpu"):
        """skorch's ``forward_iter``, keeping ``None`` outputs (DEC has no decoder)."""
        dataset = self.get_dataset(X)
        for batch in self.get_iterator(dataset, training=training):
            out = self.evaluation_step(batch, training=training)
            yield _map_outputs(out, lambda t: t.to(device))

    def forward(self, X, training=False, device="cpu"):
        """The module's output on ``X`` in eval mode (by default), rows in the order of
        ``X``; for a module with several outputs a tuple (``None`` where the module
        returns ``None``)."""
        outs = list(self.forward_iter(X, training=training, device=device))
        if outs and isinstance(outs[0], tuple):
            return tuple(None if parts[0] is None else torch.cat(parts)
                         for parts in zip(*outs))
        return torch.cat(outs)

    def infer(self, x, **fit_params):
        x = to_tensor(x, device=self.device)
        if self.mixed_precision and self.module_.training:
            with torch.autocast(device_type=torch.device(self.device).type,
                                dtype=torch.bfloat16):
                out = self.module_(x, **fit_params)
            return _map_outputs(out, lambda t: t.to(x.dtype) if t.is_floating_point() else t)
        return self.module_(x, **fit_params)

    def _diverged(self, what):
        return FloatingPointError(
            f"Training diverged: {what} in epoch {len(self.history)} of "
            f"{type(self.module_).__name__}. Lower the learning rate (lr/pretrain_lr) or "
            f"check the scale of the data."
        )

    def train_step(self, batch, **fit_params):
        step = super().train_step(batch, **fit_params)
        if not torch.isfinite(step["loss"]):
            raise self._diverged(f"the loss became {step['loss'].item()}")
        self._last_batch = batch
        return step

    def on_epoch_end(self, net, **kwargs):
        # The loss is measured before each step; a last step that sends the weights or
        # the outputs to inf/NaN is caught here, on the epoch's last batch.
        super().on_epoch_end(net, **kwargs)
        batch = getattr(self, "_last_batch", None)
        self._last_batch = None
        if not all(torch.isfinite(p).all() for p in self.module_.parameters()):
            raise self._diverged("the parameters became non-finite")
        if batch is not None:
            self.module_.eval()  # no batch-norm statistics updates
            try:
                with torch.no_grad():
                    out = self.infer(batch[0])
            finally:
                self.module_.train()
            if not all_finite(out):
                raise self._diverged("the outputs became non-finite")

    def get_loss(self, y_pred, y_true, X=None, training=False):  # pragma: no cover
        raise NotImplementedError

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_stream", None)  # holds the training data
        state.pop("_last_batch", None)
        return state


def make_net(net_class, module, module_kwargs, *, optimizer, lr, optimizer_kwargs=None,
             max_epochs, batch_size, device, seed, verbose, callbacks, mixed_precision,
             batches_per_epoch=None, **kwargs):
    """Build (not fit) a :class:`DeepNet` from an estimator's parameters.

    ``callbacks`` are the user's skorch callbacks, copied so that fitting never mutates
    the estimator's parameters; ``verbose >= 2`` adds a progress bar. The net trains in
    :data:`TRAIN_DTYPE` whatever the dtype of ``X``, with a fused optimizer where torch
    has one for the device.
    """
    cbs = [(f"user_{i}", copy.deepcopy(cb)) if not isinstance(cb, tuple)
           else (cb[0], copy.deepcopy(cb[1])) for i, cb in enumerate(callbacks or ())]
    if verbose >= 2:
        cbs.append(("progress_bar", ProgressBar()))
    module_params = {f"module__{k}": v for k, v in module_kwargs.items()}
    optimizer_kwargs = dict(optimizer_kwargs or {})
    if optimizer in _FUSED_OPTIMIZERS and torch.device(device).type in ("cpu", "cuda"):
        optimizer_kwargs.setdefault("fused", True)
    opt_params = {f"optimizer__{k}": v for k, v in optimizer_kwargs.items()}
    return net_class(
        module, criterion=torch.nn.MSELoss, optimizer=optimizer, lr=lr,
        max_epochs=max_epochs, batch_size=batch_size, device=device, verbose=int(verbose > 0),
        callbacks=cbs, dtype=TRAIN_DTYPE, mixed_precision=mixed_precision, seed=seed,
        batches_per_epoch=batches_per_epoch, **module_params, **opt_params, **kwargs,
    )


def inference_dtype(X):
    """The dtype inference runs in for data ``X`` (array or tensor): float64 for float64
    data, float32 otherwise.

    Networks train in float32; computing in float64 for float64 data makes ``transform``
    and ``predict`` independent of how the rows are batched to float64 rounding (float32
    arithmetic differs by ~1e-7 between batch sizes), as scikit-learn's checks require.
    """
    dtype = X.dtype if isinstance(X, torch.Tensor) else _TORCH_DTYPES.get(np.dtype(X.dtype))
    return torch.float64 if dtype == torch.float64 else torch.float32


def forward_chunks(fn, X, *, module, device, dtype=None, chunk_size=INFERENCE_CHUNK):
    """Apply ``fn(batch)`` to ``X`` in chunks under inference mode, in eval mode.

    ``X`` is an array (including a memory map, read chunk by chunk) or a tensor. ``fn``
    returns a tensor or a tuple of tensors; the results are concatenated along the first
    axis and returned as tensors on ``device``. The computation runs in ``dtype``
    (default: :func:`inference_dtype` of ``X``); ``module`` (which ``fn`` uses) is cast
    to it meanwhile when its parameters are in another dtype.
    """
    dtype = inference_dtype(X) if dtype is None else dtype
    was_training = module.training
    module.eval()
    outs = []
    try:
        with _in_dtype(module, dtype), torch.inference_mode():
            for start in range(0, len(X), chunk_size):
                xb = as_tensor(X[start:start + chunk_size], device, dtype)
                out = fn(xb)
                outs.append(out if isinstance(out, tuple) else (out,))
    finally:
        module.train(was_training)
    cat = tuple(torch.cat(parts) for parts in zip(*outs))
    return cat if len(cat) > 1 else cat[0]


def history_records(net):
    """A skorch history as a list of per-epoch dicts, without the per-batch records."""
    return [{k: v for k, v in row.items() if k != "batches"} for row in net.history]


def to_numpy(t, dtype=None):
    """A tensor as a numpy array (on CPU) of ``dtype``."""
    a = t.detach().cpu().numpy()
    return a if dtype is None else a.astype(dtype, copy=False)
