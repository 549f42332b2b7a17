"""pytest configuration shared by the unit tests and the notebooks (nbval).

Validating the notebooks must never start the 4.6 GB FSDKaggle2018 download by surprise: unless
``AUDIOSPEC_DATASET`` is already set (to a non-empty value), the notebooks run on the built-in mini
dataset. The kernel that nbval starts inherits this environment.

``make test`` runs on pytest-xdist workers, one per core (``-n <cores> --dist loadscope``):

- **threads**: each worker, and every process it starts (notebook kernels, the CLI), gets
  ``cores // workers`` OpenMP/MKL threads. Two workers each running torch on two threads on two
  cores spin against each other (a run slowed to 55 items in 14 minutes); on one thread each, two
  trainings side by side took 38 s where one after the other on two threads took 54 s.
- **groups**: a test module runs on one worker (its module fixtures are built once); notebooks 01
  to 04 run in order on one worker (01 makes the dataset, 02 renders it, 03 trains what 04
  interprets), and 05 and 06 (which need only the dataset; two processes making it take turns,
  see :func:`audiospec_utils.audio.mini.make_mini_dataset`) on one worker.
- **order**: the longest groups are handed out first, so that none is left alone at the end.

Without pytest-xdist (``pytest tests`` in an editor) nothing here changes how the tests run.
"""

import os
from pathlib import Path

import pytest

if not os.environ.get("AUDIOSPEC_DATASET"):
    os.environ["AUDIOSPEC_DATASET"] = "mini"

if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):  # set in each worker before it imports torch
    _threads = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_var] = _threads

# the longest groups first (about 10 minutes each on one core of a 2-core CPU)
_FIRST = ("notebooks 01-04", "tests/test_course_platforms.py", "notebooks 05-06")


def _group(nodeid: str) -> str:
    """The scope a test runs in: its module, or one of the two groups of notebooks."""
    path = nodeid.split("::")[0]
    if not path.endswith(".ipynb"):
        return path
    return "notebooks 05-06" if Path(path).name.startswith(("05_", "06_")) else "notebooks 01-04"


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: unknown, and unused, without it
def pytest_xdist_make_scheduler(config, log):
    # pytest-xdist's own "loadgroup" renames node ids in a way pytest 9 no longer sees; scheduling by
    # scope with the scope made here does the same
    from xdist.scheduler import LoadScopeScheduling

    class ModulesAndNotebooks(LoadScopeScheduling):
        """pytest-xdist's scheduling by scope, the scope being :func:`_group`."""

        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    return ModulesAndNotebooks(config, log)


def pytest_collection_modifyitems(config, items):
    def rank(item):
        group = _group(item.nodeid)
        return _FIRST.index(group) if group in _FIRST else len(_FIRST)

    items.sort(key=rank)  # stable: each notebook's cells, and each module's tests, keep their order
