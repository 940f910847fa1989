"""The training engine shared by every estimator.

Everything torch-specific that is not a network or a loss lives here: device resolution,
seeding without touching global RNG state, the conversion of validated arrays to tensors,
the fast index-based batch stream, the skorch net all estimators train with, the one
training loop (:func:`train`: pretraining, and every method's clustering phase through a
:class:`ClusteringPhase`, with checkpoints), and chunked inference.
"""

import copy
import ctypes
import math
import os
import platform
import signal
import sys
import threading
import warnings
from contextlib import contextmanager

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import ProgressBar
from skorch.history import History
from skorch.utils import to_tensor

from ._data import ArraySource
from ._distributed import (gather_rows, process_device, row_share, shard_batches,
                           synchronize, world, world_size)
from ._progress import current as current_progress
from .nn import feature_noise, random_affine

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

#: Rows per forward pass in inference through a conv net: its activations are large per
#: row (32 x 28 x 28 values for an MNIST image in the first block), and on the CPU 256
#: rows at a time ran 2.5-2.8x faster than 4,096, which leave the caches on every layer.
CONV_INFERENCE_CHUNK = 256


def inference_chunk(module):
    """Rows per inference forward pass through ``module``: :data:`CONV_INFERENCE_CHUNK`
    for a module with convolutions, :data:`INFERENCE_CHUNK` otherwise."""
    if any(isinstance(m, torch.nn.modules.conv._ConvNd) for m in module.modules()):
        return CONV_INFERENCE_CHUNK
    return INFERENCE_CHUNK

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
    return process_device(dev)


def draw_seed(random_state):
    """One integer seed from ``random_state`` without consuming global RNG state.

    ``None`` draws fresh OS entropy (not ``np.random``'s global state); an int or a
    ``RandomState`` is used as scikit-learn does.
    """
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0] % (2**31 - 1))
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


#: Held by every fit while it draws from torch's random number generator, which is global
#: to the process: fits started in several threads of one process (joblib's "threading"
#: backend, a thread pool) run one after the other, so each gives the labels it gives
#: alone and the caller's random state is restored intact. Re-entrant, for fits that fit
#: an autoencoder inside.
_RNG_LOCK = threading.RLock()


@contextmanager
def seeded(seed, device):
    """Seed torch inside a forked RNG so that the caller's global state is restored.

    Holds :data:`_RNG_LOCK` meanwhile (see there).
    """
    cuda_devices = list(range(torch.cuda.device_count())) if device.type == "cuda" else []
    with _RNG_LOCK, torch.random.fork_rng(devices=cuda_devices):
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


#: glibc ``mallopt`` options: M_TRIM_THRESHOLD, M_MMAP_THRESHOLD.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: The heap settings :func:`keep_heap` applies: blocks under 32 MiB (glibc's own ceiling for
#: its adaptive threshold) come from the heap, which keeps up to 64 MiB free at its top.
_HEAP_SETTINGS = ((_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 64 << 20))
_heap_kept = False


def _user_set_malloc():
    """Whether the environment configures glibc's allocator (:func:`keep_heap` then
    leaves it alone)."""
    return ("malloc" in os.environ.get("GLIBC_TUNABLES", "")
            or any(name.startswith("MALLOC_") for name in os.environ))


def keep_heap(device, libc=None):
    """Keep freed CPU tensor memory in the process for the next training step (glibc only).

    A training step on the CPU allocates and frees the same few-megabyte tensors every step
    (autocast's bfloat16 copies of the weights, activations, gradients). glibc hands blocks
    of that size back to the kernel when they are freed, so the next step takes them again
    as fresh pages, one page fault per 4 KiB (``benchmarks/results/speed.md`` has the
    measurements). Once per process, at the first training on the CPU, this raises
    glibc's mmap threshold to 32 MiB and its trim threshold to 64 MiB (``mallopt``), so
    that such blocks are reused from the heap. It is a process-wide
    setting, as ``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=...`` would make it; it is
    skipped when the environment already configures malloc (``GLIBC_TUNABLES`` naming
    malloc, or a ``MALLOC_*`` variable), on other C libraries, and on other devices.
    ``libc`` replaces the process's C library (for tests).

    Returns
    -------
    applied : bool
        Whether the settings were applied by this call.
    """
    global _heap_kept
    if _heap_kept or torch.device(device).type != "cpu" or _user_set_malloc():
        return False
    _heap_kept = True
    if libc is None:
        if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
            return False
        try:
            libc = ctypes.CDLL(None)
        except OSError:  # pragma: no cover - a Linux process always has its C library
            return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:  # pragma: no cover - glibc always has it
        return False
    return all(bool(mallopt(option, value)) for option, value in _HEAP_SETTINGS)


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


def bf16_autocast(fn, x, device, dtype):
    """``fn(x)`` under bfloat16 autocast on ``device``, its floating outputs cast to
    ``dtype`` (training forward passes with ``mixed_precision``, and a fit's own passes
    over its training data)."""
    with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16):
        out = fn(x)
    return _map_outputs(out, lambda t: t.to(dtype) if t.is_floating_point() else t)


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
    """The training data as tensors: what ``get_dataset`` returns.

    ``X`` is a tensor, or, for data larger than memory, an
    :class:`~skdeepcluster._data.ArraySource` whose batches are read and cast on demand.
    """

    def __init__(self, X, y=None):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.X)


class BatchStream:
    """Shuffled mini-batches taken by index from tensors held in memory.

    Each pass draws one permutation from an explicit ``torch.Generator``. Out-of-core
    data (an :class:`~skdeepcluster._data.ArraySource` as ``data.X``) is read batch by
    batch from the same permutation, rearranged by the source so that a chunked store
    is read chunk by chunk (see :meth:`~skdeepcluster._data.ArraySource.arrange`); a
    memory map, or a store that fits in one shuffle buffer, gives the batches of the
    same data in memory. A tail batch of
    a single sample is merged into the previous batch (a size-1 batch breaks batch
    statistics and gives a very noisy step). With ``batches_per_epoch`` set, an "epoch"
    is that many batches taken from a stream that continues across epochs (used by DEC,
    whose target distribution is refreshed every ``update_interval`` iterations). In a
    multi-process (data-parallel) run each process takes its share of every pass's
    batches (:func:`~skdeepcluster._distributed.shard_batches`), so an epoch is a whole
    pass over the data for all the processes together.

    :meth:`state_dict` and :meth:`load_state_dict` save and restore the position in the
    stream (the generator's state at the start of the current pass and the batches
    taken from it), so that a resumed fit draws the same batches.
    """

    def __init__(self, data, batch_size, generator, batches_per_epoch=None):
        self.data = data
        self.batch_size = batch_size
        self.generator = generator
        self.batches_per_epoch = batches_per_epoch
        self._order = None  # sample order of the current pass
        self._batches = ()  # (start, stop) in the pass's order of this process's batches
        self._position = 0  # batches of the current pass taken so far
        self._pass_state = None  # generator state before the current pass was drawn
        self._reader = None  # reads the batches of out-of-core data

    def _draw_order(self):
        """The sample order of a new pass (drawn from ``generator``)."""
        return torch.randperm(len(self.data), generator=self.generator)

    def _batches_of(self, n):
        """The ``(start, stop)`` of this process's batches of a pass over ``n`` rows: all
        of them, or in a multi-process run its share (see
        :func:`~skdeepcluster._distributed.shard_batches`)."""
        bounds = list(range(0, n, self.batch_size)) + [n]
        if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
            del bounds[-2]
        return shard_batches(list(zip(bounds[:-1], bounds[1:])))

    def _new_pass(self):
        self._pass_state = self.generator.get_state()
        X = self.data.X
        if isinstance(X, ArraySource):
            self._order = X.arrange(self._draw_order(), self.generator)
            if self._reader is None:
                self._reader = X.reader()
        else:
            self._order = self._draw_order().to(X.device)
        self._batches = self._batches_of(len(self._order))
        self._position = 0

    def _in_pass(self):
        return self._order is not None and self._position < len(self._batches)

    def _next_batch(self):
        if not self._in_pass():
            self._new_pass()
        start, stop = self._batches[self._position]
        self._position += 1
        idx = self._order[start:stop]
        X, y = self.data.X, self.data.y
        if isinstance(X, ArraySource):
            xb = X.to_tensor(self._reader.take(idx.numpy()), X.device)
            return xb, (None if y is None else y[idx.to(y.device)])
        return X[idx], (None if y is None else y[idx])

    def __len__(self):
        if self.batches_per_epoch is not None:
            return self.batches_per_epoch
        return len(self._batches_of(len(self.data)))

    def __iter__(self):
        if self.batches_per_epoch is None:  # one whole pass per epoch
            self._order = None
            yield self._next_batch()
            while self._in_pass():
                yield self._next_batch()
            return
        for _ in range(self.batches_per_epoch):
            yield self._next_batch()

    def state_dict(self):
        """The position in the stream: ``{"generator": state, "position": int or None}``."""
        if self._in_pass():
            return {"generator": self._pass_state, "position": self._position}
        return {"generator": self.generator.get_state(), "position": None}

    def load_state_dict(self, state):
        """Continue the stream from a :meth:`state_dict`."""
        self.generator.set_state(state["generator"])
        self._order = None
        if state["position"] is not None:
            self._new_pass()
            self._position = state["position"]


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
            xb = (X.rows(start, stop, X.device) if isinstance(X, ArraySource)
                  else X[start:stop])
            yield xb, (None if y is None else y[start:stop])


class DeepNet(NeuralNet):
    """The skorch net every estimator trains with.

    Differences from :class:`skorch.NeuralNet`: the data is converted to a tensor once
    and batches are taken by index (:class:`BatchStream`); the module is cast to the
    data's dtype; optional bfloat16 autocast for training forward passes; a non-finite
    loss stops training with a :class:`FloatingPointError` that names the epoch.
    Subclasses override :meth:`get_loss` (and nothing else is needed for a new method).
    While :func:`train` runs the net, its epochs also run a method's
    :class:`ClusteringPhase` (refresh, change measure, ``tol`` stop) and write the fit's
    checkpoint.

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

    Attributes set after construction
    ---------------------------------
    augment : callable or None
        ``(x, generator) -> x``, applied to every training batch before the forward
        pass, so that the loss sees the augmented batch too (an autoencoder
        reconstructs the augmented image; a classifier's targets are unchanged). It
        draws from a CPU generator seeded from ``seed + 1`` (plus the process's
        rank in a data-parallel fit) that persists across epochs and is part of
        :meth:`stream_state`.
    """

    augment = None

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
        if isinstance(X, ArraySource):  # a training view (see _data.training_data)
            return _TensorData(X, None if y is None else as_tensor(y, self.device))
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

    def stream_state(self):
        """The state of the training batch stream (for checkpoints), and of the
        augmentation's generator when there is one."""
        if self.augment is None:
            return self._stream.state_dict()
        return {"batches": self._stream.state_dict(),
                "augment": self.augment_generator().get_state()}

    def load_stream_state(self, state):
        """Continue the training batch stream from :meth:`stream_state`."""
        if self.augment is None:
            self._stream.load_state_dict(state)
        else:
            self._stream.load_state_dict(state["batches"])
            self.augment_generator().set_state(state["augment"])

    def augment_generator(self):
        """The generator :attr:`augment` draws from (created on first use), seeded from
        ``seed`` and the process's rank (each process of a data-parallel fit draws its
        own transforms)."""
        if getattr(self, "_augment_gen", None) is None:
            rank = world()[0]
            self._augment_gen = torch.Generator().manual_seed(self.seed + 1 + rank)
        return self._augment_gen

    # -- what train() adds to each epoch ----------------------------------------------
    def on_epoch_begin(self, net, **kwargs):
        run = getattr(self, "_run", None)
        if run is not None and run.converged:
            raise StopTraining
        super().on_epoch_begin(net, **kwargs)
        if run is not None:
            run.epoch_begin(self)

    def notify(self, method_name, **cb_kwargs):
        super().notify(method_name, **cb_kwargs)
        run = getattr(self, "_run", None)
        if method_name == "on_epoch_end" and run is not None:
            run.epoch_done(self)  # after every callback: the epoch's record is complete

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
            return bf16_autocast(lambda xb: self.module_(xb, **fit_params), x, self.device,
                                 x.dtype)
        return self.module_(x, **fit_params)

    def _diverged(self, what):
        return FloatingPointError(
            f"Training diverged: {what} in epoch {len(self.history)} of "
            f"{type(self.module_).__name__}. Lower the learning rate (lr/pretrain_lr) or "
            f"check the scale of the data."
        )

    def train_step_single(self, batch, **fit_params):
        if self.augment is not None:
            x, y = batch
            batch = (self.augment(to_tensor(x, device=self.device),
                                  self.augment_generator()), y)
        step = super().train_step_single(batch, **fit_params)
        synchronize(self.module_)  # a multi-process run only
        return step

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
        processes = world_size()
        if processes > 1:  # each process's share of the epoch's batches
            self.history.record("n_batches", len(self.history[-1, "batches"]))
            self.history.record("world_size", processes)
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
        run = getattr(self, "_run", None)
        if run is not None:  # before the callbacks, so that they (and the log) see it
            run.epoch_end(self)

    def get_loss(self, y_pred, y_true, X=None, training=False):  # pragma: no cover
        raise NotImplementedError

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_stream", None)  # holds the training data
        state.pop("_augment_gen", None)
        state.pop("_last_batch", None)
        state.pop("_run", None)
        return state


class ImageAugmentation:
    """Picklable ``(x, generator) -> random_affine(x, image_shape, generator)``: the
    :attr:`DeepNet.augment` of image data (rows of ``C * H * W`` values)."""

    def __init__(self, image_shape):
        self.image_shape = tuple(image_shape)

    def __call__(self, x, generator):
        return random_affine(x, self.image_shape, generator)


class FeatureNoise:
    """Picklable ``(x, generator) -> feature_noise(x, generator, scale)``: the
    :attr:`DeepNet.augment` of rows that are not images."""

    def __init__(self, scale):
        self.scale = float(scale)

    def __call__(self, x, generator):
        return feature_noise(x, generator, self.scale)


class ClusteringPhase:
    """A method's part of the clustering phase, which :func:`train` runs.

    The engine owns the loop: it trains one epoch at a time, calls :meth:`refresh`
    when an epoch begins and :meth:`measure` when it ends, records the change that
    :meth:`measure` returns in the epoch's history row (as ``delta_label``, the fraction
    of labels changed, unless :attr:`change_record` says otherwise), stops once that
    change is below ``tol``, counts the epochs (``n_iter_``) and writes the
    checkpoints. A method supplies only what differs: its refresh step (DEC's target
    distribution, DeepCluster's pseudo-labels), how it measures the change of the
    labels, and its state for checkpoints. The defaults do nothing.
    """

    # The history key of the change (None: the method records it in its own terms).
    change_record = "delta_label"
    # The history keys the progress display (verbose=1) shows next to the loss.
    progress_records = ("delta_label",)

    def refresh(self, net):
        """Prepare the epoch that begins (its history row is open)."""

    def measure(self, net):
        """After each epoch: the change of the labels (a float in [0, 1], compared with
        ``tol``), or None when there is nothing to compare yet."""

    def state_dict(self):
        """The method's state at the end of an epoch, for checkpoints."""
        return {}

    def load_state_dict(self, state):
        """Restore :meth:`state_dict`."""


def rng_state(device):
    """torch's global RNG state on the CPU and, for a CUDA ``device``, on it."""
    device = torch.device(device)
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state, device):
    """Restore :func:`rng_state`."""
    torch.set_rng_state(state["cpu"].cpu())
    if "cuda" in state and torch.device(device).type == "cuda":
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def net_state(net):
    """What a checkpoint keeps of a net: weights, optimizer, history, stream position."""
    return {"module": net.module_.state_dict(), "optimizer": net.optimizer_.state_dict(),
            "history": list(net.history), "stream": net.stream_state()}


def load_net_state(net, state):
    """Restore :func:`net_state` into an initialised net of the same architecture."""
    net.module_.load_state_dict(state["module"])
    net.optimizer_.load_state_dict(state["optimizer"])
    net.history = History(state["history"])
    net.load_stream_state(state["stream"])


class _Run:
    """What :func:`train` adds to the epochs of a net (see :meth:`DeepNet.notify`)."""

    def __init__(self, phase, tol, epochs, checkpoint, stage, extra, converged):
        self.phase, self.tol, self.epochs = phase, tol, epochs
        self.checkpoint, self.stage, self.extra = checkpoint, stage, extra
        self.converged = converged
        self.progress = current_progress()
        self.pending = None  # see epoch_done

    def epoch_begin(self, net):
        if self.phase is not None:
            self.phase.refresh(net)

    def epoch_end(self, net):
        if self.phase is None:
            return
        change = self.phase.measure(net)
        if change is not None:
            if self.phase.change_record is not None:
                net.history.record(self.phase.change_record, change)
            self.converged = change < self.tol

    def epoch_done(self, net):
        epoch = len(net.history)
        if self.progress is not None:
            row = net.history[-1]
            shown = () if self.phase is None else self.phase.progress_records
            self.progress.epoch(epoch, loss=row.get("train_loss"),
                                **{key: row.get(key) for key in shown})
        if self.checkpoint is None:
            return
        if self.checkpoint.due(epoch) or self.converged or epoch >= self.epochs:
            self.save(net)
            self.pending = None
        else:  # kept in memory (a copy: training goes on) for a Ctrl-C to write
            self.pending = copy.deepcopy(self.state(net))

    def state(self, net):
        """The state a checkpoint holds at the end of the net's last epoch."""
        return {
            **self.extra, "epoch": len(net.history), "converged": self.converged,
            "net": net_state(net), "rng": rng_state(net.device),
            "phase": None if self.phase is None else self.phase.state_dict(),
        }

    def save(self, net):
        self.checkpoint.save(self.stage, self.state(net))

    def save_pending(self):
        """On Ctrl-C: write the last completed epoch's state if no write holds it yet."""
        if self.pending is not None:
            self.checkpoint.save(self.stage, self.pending)
            self.pending = None


def train(net, data, *, epochs, phase=None, tol=0.0, checkpoint=None, stage="clustering",
          extra=None, resume=None):
    """Train an initialised ``net`` on ``data`` for up to ``epochs`` epochs in all.

    The one training loop of the package: pretraining runs it without a ``phase``, the
    clustering phase of every method with one (see :class:`ClusteringPhase`: a
    refresh as each epoch begins, the change of the labels measured and recorded as it
    ends, and the stop once that change is below ``tol``). A user's Ctrl-C propagates; a callback's
    ``KeyboardInterrupt`` (as skorch's ``EarlyStopping`` raises) ends training quietly.

    With a ``checkpoint`` (:class:`~skdeepcluster._checkpoint.Checkpoint`), the state
    is written under ``stage`` every ``checkpoint.every`` epochs, at the last epoch and
    when the phase converges, and, with a ``phase``, once before the first epoch (the
    state right after the initial clustering). A state holds ``extra`` (what the
    estimator needs to rebuild the net and its phase), the net's weights, optimizer
    state, history and batch-stream position, torch's RNG state and the phase's
    :meth:`~ClusteringPhase.state_dict`. Given such a state as ``resume``, the net
    (built and initialised as in the interrupted fit) continues from it, so that on the
    CPU the result is the one the uninterrupted fit gives. Between two writes the state
    of the last completed epoch is kept in memory, and Ctrl-C writes it before
    re-raising, so a resumed fit loses at most the epoch that was running.

    Returns
    -------
    converged : bool
        Whether the change of the labels fell below ``tol``.
    """
    keep_heap(net.device)
    dataset = net.get_dataset(data)
    net.get_iterator(dataset, training=True)  # the batch stream, before it is restored
    if resume is not None:
        load_net_state(net, resume["net"])
        if phase is not None:
            phase.load_state_dict(resume["phase"])
        set_rng_state(resume["rng"], net.device)
    run = _Run(phase, tol, epochs, checkpoint, stage, dict(extra or {}),
               converged=bool(resume is not None and resume["converged"]))
    if resume is None and phase is not None and checkpoint is not None:
        run.save(net)
    remaining = epochs - len(net.history)
    if run.progress is not None:
        run.progress.phase(stage, epochs, done=len(net.history))
    if remaining > 0 and not run.converged:
        net._run = run
        try:
            net.partial_fit(dataset, epochs=remaining)
        except KeyboardInterrupt:  # a user's Ctrl-C (a callback's never gets here)
            if checkpoint is not None:
                run.save_pending()
            raise
        finally:
            net._run = None
    return run.converged


def make_net(net_class, module, module_kwargs, *, optimizer, lr, optimizer_kwargs=None,
             max_epochs, batch_size, device, seed, verbose, callbacks, mixed_precision,
             batches_per_epoch=None, **kwargs):
    """Build (not fit) a :class:`DeepNet` from an estimator's parameters.

    ``callbacks`` are the user's skorch callbacks, copied so that fitting never mutates
    the estimator's parameters; ``verbose >= 2`` prints skorch's per-epoch table and a
    progress bar per epoch (``verbose=1`` is the fit's one display, see
    :mod:`~skdeepcluster._progress`). The net trains in
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
        max_epochs=max_epochs, batch_size=batch_size, device=device, verbose=int(verbose >= 2),
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


def forward_chunks(fn, X, *, module, device, dtype=None, chunk_size=INFERENCE_CHUNK,
                   autocast=False):
    """Apply ``fn(batch)`` to ``X`` in chunks under inference mode, in eval mode.

    ``X`` is an array, a tensor or an :class:`~skdeepcluster._data.ArraySource` (read,
    cast and scaled chunk by chunk: out-of-core data is never loaded whole). ``fn``
    returns a tensor or a tuple of tensors; the results are concatenated along the first
    axis and returned as tensors on ``device``. The computation runs in ``dtype``
    (default: :func:`inference_dtype` of ``X``); ``module`` (which ``fn`` uses) is cast
    to it meanwhile when its parameters are in another dtype. With ``autocast`` (a
    fit's own passes over its training data, when it trains with ``mixed_precision``),
    ``fn`` runs under bfloat16 autocast, as the training steps do, and its floating
    outputs come back in ``dtype``; ``predict``, ``transform`` and a fit's final labels
    never use it.
    """
    dtype = inference_dtype(X) if dtype is None else dtype
    was_training = module.training
    module.eval()
    n = len(X)
    # In a data-parallel fit, each process computes its share of the rows, then all
    # shares are gathered (see skdeepcluster._distributed).
    share = row_share(n)
    lo, hi = (0, n) if share is None else share[:2]
    results = None  # the outputs for all rows, allocated once the first chunk shows them
    try:
        with _in_dtype(module, dtype), torch.inference_mode():
            # (A process whose share is empty runs row 0 for the outputs' shapes.)
            chunks = ([(a, min(a + chunk_size, hi)) for a in range(lo, hi, chunk_size)]
                      or [(0, 1)])
            for start, stop in chunks:
                if isinstance(X, ArraySource):
                    xb = X.rows(start, stop, device, dtype)
                else:
                    xb = as_tensor(X[start:stop], device, dtype)
                out = bf16_autocast(fn, xb, device, dtype) if autocast else fn(xb)
                out = out if isinstance(out, tuple) else (out,)
                if results is None:
                    # Preallocated rather than concatenated at the end: no list of
                    # small tensors pinning the heap between large freed chunks (on
                    # glibc, an n-proportional growth of the resident memory).
                    results = tuple(torch.empty((hi - lo, *o.shape[1:]), dtype=o.dtype,
                                                device=o.device) for o in out)
                if hi > lo:
                    for dst, o in zip(results, out):
                        dst[start - lo:stop - lo] = o
        if share is not None:
            results = tuple(gather_rows(r, share[2], n) for r in results)
    finally:
        module.train(was_training)
    return results if len(results) > 1 else results[0]


def history_records(net):
    """A skorch history as a list of per-epoch dicts, without the per-batch records."""
    return [{k: v for k, v in row.items() if k != "batches"} for row in net.history]


def to_numpy(t, dtype=None):
    """A tensor as a numpy array (on CPU) of ``dtype``."""
    a = t.detach().cpu().numpy()
    return a if dtype is None else a.astype(dtype, copy=False)
