"""Data-parallel training across processes, on Hugging Face Accelerate.

A script started as several processes (``accelerate launch --multi_gpu --num_processes
N`` on GPUs, ``torchrun --nproc_per_node N`` on GPUs or CPUs) trains every estimator's
networks data-parallel: each process takes its share of every pass's mini-batches
(:class:`~skdeepcluster._training.BatchStream`), the gradients (and batch-norm running
statistics) are averaged over the processes after each backward pass (the all-reduce
that ``DistributedDataParallel`` runs), and the full-data passes of a fit (embeddings,
soft assignments, features) are split by rows between the processes and gathered, so
that every process holds the same embedding and computes the same centres and labels
from it. The process group, the collectives and the device of each process are
Accelerate's (:class:`accelerate.PartialState`); the package adds only the sharding.

In a plain single process (no launcher), nothing here runs and Accelerate is not
imported.
"""

import os
from contextlib import contextmanager

import torch

#: Environment variables by which launchers (torchrun, ``accelerate launch``, MPI) give
#: the number of processes.
_WORLD_SIZE_VARIABLES = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE",
                         "MV2_COMM_WORLD_SIZE")


def launched_processes():
    """The number of processes the launcher started (1 without a launcher)."""
    for name in _WORLD_SIZE_VARIABLES:
        value = os.environ.get(name)
        if value:
            try:
                return max(int(value), 1)
            except ValueError:
                continue
    return 1


def _state():
    """Accelerate's process state (it sets up the process group on first use)."""
    try:
        from accelerate import PartialState
    except ImportError as exc:
        raise ImportError(
            f"This script runs as {launched_processes()} processes (a launcher set "
            f"WORLD_SIZE): skdeepcluster trains data-parallel then, through Hugging "
            f"Face Accelerate, which is not installed. Install it with "
            f"`pip install skdeepcluster[distributed]`, or run a single process."
        ) from exc
    # On a machine without CUDA (or with ACCELERATE_USE_CPU set, as `accelerate launch
    # --cpu` sets it) the processes join a gloo group on the CPU.
    cpu = (not torch.cuda.is_available()
           or os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes"))
    return PartialState(cpu=cpu)


def world():
    """``(rank, world_size)`` of this process: ``(0, 1)`` in a single process."""
    if launched_processes() <= 1:
        return 0, 1
    state = _state()
    return state.process_index, state.num_processes


def world_size():
    """The number of processes training together (1 in a single process)."""
    return world()[1]


def process_device(device):
    """``device`` for this process: a bare ``"cuda"`` becomes the process's own GPU
    (``cuda:LOCAL_RANK``, as Accelerate assigns it) in a multi-process run."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None and world_size() > 1:
        return _state().device
    return device


def broadcast_seed(seed):
    """Rank 0's ``seed`` on every process (``random_state=None`` draws one per
    process; the processes must start from the same weights and batch order)."""
    if world_size() <= 1:
        return seed
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([seed], from_process=0)[0]


def synchronize(module):
    """Average ``module``'s gradients and floating-point buffers over the processes,
    in place, after a backward pass.

    The gradients (the all-reduce that ``DistributedDataParallel`` runs) keep the
    processes' weights identical; the buffers are batch-norm running statistics, which
    each process updated from its own batches. All of them go into one flat buffer,
    all-reduced once (Accelerate's ``reduce``) per optimizer step. Parameters without a
    gradient are left out: every process runs the same network and loss, so they are
    the same ones on every process.
    """
    if world_size() <= 1:
        return
    from accelerate.utils import reduce

    tensors = [p.grad for p in module.parameters() if p.grad is not None]
    tensors += [b for b in module.buffers() if b.is_floating_point()]
    if not tensors:
        return
    flat = torch.cat([t.reshape(-1).to(torch.float32) for t in tensors])
    flat = reduce(flat, reduction="mean")
    offset = 0
    for t in tensors:
        t.copy_(flat[offset:offset + t.numel()].view_as(t))
        offset += t.numel()


#: Set while a fit runs data-parallel: the full-data passes (see :func:`row_share`)
#: are split between the processes only inside it, since ``predict`` or ``transform``
#: called on one process alone must not wait for the others.
_COLLECTIVE = {"active": False}


@contextmanager
def collective_fit():
    """Mark the enclosed code as run by every process together (a fit)."""
    if world_size() <= 1 or _COLLECTIVE["active"]:
        yield
        return
    _COLLECTIVE["active"] = True
    try:
        yield
    finally:
        _COLLECTIVE["active"] = False


def row_share(n_rows):
    """``(start, stop, rows_per_process)`` of this process's share of ``n_rows`` rows in
    a full-data pass, or None where the pass is not shared (a single process, or
    outside a fit)."""
    if not _COLLECTIVE["active"]:
        return None
    rank, size = world()
    if size <= 1:
        return None
    per = -(-n_rows // size)
    start = min(rank * per, n_rows)
    return start, min(start + per, n_rows), per


def gather_rows(part, per, n_rows):
    """The row blocks ``part`` of every process, in rank order, as one tensor of
    ``n_rows`` rows (each block padded to ``per`` rows for the all-gather)."""
    from accelerate.utils import gather

    if len(part) < per:
        pad = part.new_zeros((per - len(part), *part.shape[1:]))
        part = torch.cat([part, pad])
    return gather(part.contiguous())[:n_rows]


def shard_batches(batches):
    """This process's share of one pass's ``batches`` (a list of ``(start, stop)``).

    Process ``r`` of ``N`` takes batches ``r, r + N, r + 2N, ...``; every process takes
    the same number, ``ceil(len(batches) / N)``, the short ones wrapping round to the
    pass's first batches (as ``DistributedSampler`` pads), since a process that ran
    one step fewer would leave the others waiting in the all-reduce.
    """
    rank, size = world()
    if size <= 1:
        return batches
    per = -(-len(batches) // size)
    mine = batches[rank::size]
    while len(mine) < per:
        mine = mine + batches[:per - len(mine)]
    return mine[:per]
