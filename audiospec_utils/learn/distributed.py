"""Training on several GPUs or machines: processes started by Hugging Face Accelerate, fastai's ``distrib_ctx``.

``accelerate launch --multi_gpu --num_processes N -m audiospec_utils train SPEC --out RUN ...`` (or
``torchrun``, or ``accelerate.notebook_launcher`` in a notebook) starts N processes, one per GPU,
each with ``WORLD_SIZE`` and ``RANK`` in its environment. :func:`audiospec_utils.learn.train.train_classifier`
then

* joins the process group (:func:`init_process`: NCCL on GPUs, gloo on CPUs) before anything is put
  on a device, so that each process uses its own GPU;
* lets the main process build the image cache first (:func:`main_process_first`), the others open it;
* trains inside :func:`distrib_ctx`: fastai's ``Learner.distrib_ctx`` (the model wrapped in
  ``DistributedDataParallel`` by Accelerate, each DataLoader in fastai's ``DistributedDL``, which
  gives every process its share of each epoch and gathers the validation predictions and metrics of
  all processes), with the two fixes it needs here (below);
* lets only the main process (``RANK`` 0) write the run folder; it scores the validation clips
  alone, on every window.

What fastai's ``distrib_ctx`` lacks, and this module adds:

* ``DistributedDL._broadcast`` sends the shuffled item order from rank 0 with
  ``LongTensor(t).cuda()``: NCCL only. With gloo (processes on CPUs) the tensor stays on the CPU
  (:func:`_broadcast_on_cpu`, used only while a gloo/MPI group is active).
* ``sync_bn``: fastai converts every batch norm to ``SyncBatchNorm`` by default, which PyTorch cannot
  train on a CPU and which would stay in the exported model. The default here is ``False`` (each GPU
  normalises its own batch, as plain ``DistributedDataParallel`` does); with ``True`` the layers are
  converted back to plain batch norm (same weights and statistics) when training ends.

Notes
-----
``accelerate launch --cpu --num_processes N`` starts **one** process (Accelerate starts several CPU
processes only through ``mpirun``, with ``--mpirun_hostfile``); :func:`check_launch` says so. Several
processes on CPUs (what the tests do) come from ``accelerate launch --multi_gpu --num_processes N`` on
a machine without a GPU, or ``torchrun --nproc_per_node N``: each process then uses gloo on the CPU.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os

from ..exceptions import ParameterError

__all__ = ["world_size", "rank", "is_distributed", "is_main_process", "check_launch", "init_process",
           "main_process_first", "distrib_ctx", "revert_sync_batchnorm"]

logger = logging.getLogger(__name__)


def world_size() -> int:
    """Number of processes of this training (``WORLD_SIZE``; 1 when not started by a launcher)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))
    except ValueError:
        return 1


def rank() -> int:
    """This process's rank (``RANK``; 0 when not started by a launcher)."""
    try:
        return int(os.environ.get("RANK", "0") or 0)
    except ValueError:
        return 0


def is_distributed() -> bool:
    """Whether this process is one of several (``WORLD_SIZE`` > 1)."""
    return world_size() > 1


def is_main_process() -> bool:
    """Whether this process writes the results (rank 0, or the only process)."""
    return rank() == 0


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def check_launch() -> str | None:
    """Warn when ``accelerate launch --cpu --num_processes N`` (N > 1) started a single process.

    Accelerate starts several CPU processes only through ``mpirun``; without it its "simple launcher"
    runs the script once, with ``ACCELERATE_USE_CPU`` and ``MASTER_ADDR`` set but no ``WORLD_SIZE``.
    Training then goes on in that one process, which is correct but not what was asked for.

    Returns
    -------
    str or None
        The warning logged, or None when there is nothing to say.
    """
    if is_distributed() or not _flag("ACCELERATE_USE_CPU") or not os.environ.get("MASTER_ADDR"):
        return None
    msg = ("accelerate launch --cpu started ONE process: Accelerate starts several CPU processes only through "
           "mpirun (--mpirun_hostfile). Training goes on in this process alone. For several processes on CPUs, "
           "use `accelerate launch --multi_gpu --num_processes N` on a machine without a GPU, or "
           "`torchrun --nproc_per_node N`.")
    logger.warning(msg)
    return msg


def init_process():
    """Join the process group of a distributed training and return this process's device.

    Creates Accelerate's ``PartialState`` (which fastai's ``DistributedTrainer`` shares later): NCCL
    and ``cuda:LOCAL_RANK`` (made the current CUDA device) on GPUs, gloo and the CPU on a machine
    without one or when ``ACCELERATE_USE_CPU`` is set. Call it before putting anything on a device.

    Returns
    -------
    torch.device

    Raises
    ------
    RuntimeError
        The launcher asked for several processes but Accelerate did not set up a process group
        for them (the message gives the launch commands that work).
    """
    import torch
    from accelerate import PartialState

    cpu = _flag("ACCELERATE_USE_CPU") or not torch.cuda.is_available()
    state = PartialState(cpu=cpu)
    if is_distributed() and state.num_processes != world_size():
        raise RuntimeError(
            f"WORLD_SIZE is {world_size()} but Accelerate set up {state.num_processes} process(es) "
            f"({state.distributed_type}); start the training with `accelerate launch --multi_gpu --num_processes N "
            f"-m audiospec_utils train ...` or `torchrun --nproc_per_node N -m audiospec_utils train ...`")
    # on CPUs Accelerate says "cpu:0", which torch.load's map_location (fastai's learn.load) refuses
    return torch.device("cpu") if state.device.type == "cpu" else state.device


@contextlib.contextmanager
def main_process_first():
    """Run a block in the main process first, then in the others (a no-op in a single process).

    Used to build the image cache once: the main process builds it, the others then open it.
    """
    if not is_distributed():
        yield
        return
    from accelerate import PartialState

    with PartialState().main_process_first():
        yield


def _broadcast_on_cpu(self, t, rank):
    """``DistributedDL._broadcast`` for gloo and MPI groups: the same broadcast, with a CPU tensor."""
    import torch

    x = torch.as_tensor(list(t), dtype=torch.long)
    torch.distributed.broadcast(x, rank)
    return x.tolist()


def revert_sync_batchnorm(module, types: dict | None = None):
    """Replace every ``SyncBatchNorm`` of a model by the plain batch norm it came from (in place where possible).

    Parameters
    ----------
    module : torch.nn.Module
    types : dict or None
        ``{qualified name: batch-norm class}`` recorded before the conversion (fastai's head has
        ``BatchNorm1d`` layers, the body ``BatchNorm2d``); a layer not listed becomes ``BatchNorm2d``.

    Returns
    -------
    torch.nn.Module
        `module`, or its replacement when `module` itself is a ``SyncBatchNorm``. The parameters
        and running statistics are the same tensors (an optimizer that holds them keeps working).
    """
    import torch

    types = types or {}

    def swap(m, name):
        if not isinstance(m, torch.nn.SyncBatchNorm):
            for child_name, child in list(m.named_children()):
                new = swap(child, f"{name}.{child_name}" if name else child_name)
                if new is not child:
                    setattr(m, child_name, new)
            return m
        cls = types.get(name, torch.nn.BatchNorm2d)
        out = cls(m.num_features, eps=m.eps, momentum=m.momentum, affine=m.affine,
                  track_running_stats=m.track_running_stats)
        if m.affine:
            out.weight, out.bias = m.weight, m.bias
        out.running_mean, out.running_var = m.running_mean, m.running_var
        out.num_batches_tracked = m.num_batches_tracked
        out.train(m.training)
        return out

    return swap(module, "")


@contextlib.contextmanager
def distrib_ctx(learn, *, sync_bn: bool = False):
    """fastai's ``learn.distrib_ctx``, made to work on CPUs (gloo) and to leave a plain model behind.

    Parameters
    ----------
    learn : fastai.learner.Learner
        Built after :func:`init_process` (its DataLoaders on this process's device).
    sync_bn : bool
        Synchronise batch-norm statistics across processes (``SyncBatchNorm``, GPUs only); the
        layers are plain batch norms again after the block.

    Yields
    ------
    fastai.learner.Learner
        `learn`, whose ``fit`` trains in data-parallel mode until the block ends.

    Raises
    ------
    ParameterError
        `sync_bn` on CPUs (PyTorch's ``SyncBatchNorm`` needs GPUs).
    """
    import fastai.distributed  # noqa: F401  (adds Learner.distrib_ctx)
    import torch
    import torch.distributed as dist
    from fastai.distributed import DistributedDL

    init_process()
    on_cpu = not dist.is_initialized() or dist.get_backend() != "nccl"
    if sync_bn and on_cpu:
        raise ParameterError("sync_bn needs GPUs (NCCL); PyTorch's SyncBatchNorm does not train on CPUs")
    bn_types = {name: type(m) for name, m in learn.model.named_modules()
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    # `bs` is per process (the batch of one step is world_size x bs, as in fastai); a process whose share
    # of the training items is smaller than one batch would drop it and train on nothing
    train, bs = learn.dls.train, learn.dls.train.bs
    share = len(train.dataset) // world_size()
    if getattr(train, "drop_last", False) and share < bs:
        train.bs = max(1, share)
        if is_main_process():
            logger.warning("%d training items for %d processes: batches of %d per process instead of %d",
                           len(train.dataset), world_size(), train.bs, bs)
    original = DistributedDL._broadcast
    if on_cpu:
        DistributedDL._broadcast = _broadcast_on_cpu
    quiet = contextlib.nullcontext() if is_main_process() else contextlib.redirect_stdout(io.StringIO())
    try:
        with quiet, learn.distrib_ctx(sync_bn=sync_bn, in_notebook=False):  # only the main process reports
            yield learn
    finally:
        DistributedDL._broadcast = original
        train.bs = bs
        if sync_bn:
            learn.model = revert_sync_batchnorm(learn.model, bn_types)
