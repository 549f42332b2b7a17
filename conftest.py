"""pytest configuration shared by the unit tests and the notebooks (nbval).

Validating the notebooks must never start the 4.6 GB FSDKaggle2018 download by surprise: unless
``AUDIOSPEC_DATASET`` is already set (to a non-empty value), the notebooks run on the built-in mini
dataset. The kernel that nbval starts inherits this environment.
"""

import os

import pytest

if not os.environ.get("AUDIOSPEC_DATASET"):
    os.environ["AUDIOSPEC_DATASET"] = "mini"


# `make test` runs on two pytest-xdist workers (``-n 2 --dist loadscope --no-loadscope-reorder``).
# Each test module stays on one worker (its module fixtures are built once), and the notebooks run
# in their order on one worker (01 downloads what 02 renders, 03 trains what 04 interprets). The two
# longest groups go first, one to each worker, so that neither is left alone at the end.
# (pytest-xdist's own "loadgroup" renames node ids in a way pytest 9 no longer sees: the groups are
# made by the scheduler below instead.)
_FIRST = ("notebooks", "tests/test_course_platforms.py")


def _group(nodeid: str) -> str:
    path = nodeid.split("::")[0]
    return "notebooks" if path.endswith(".ipynb") else path


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: unknown, and unused, without it
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ModuleAndNotebooks(LoadScopeScheduling):
        """pytest-xdist's scheduling by scope, the scope being a test module or all the notebooks."""

        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    return ModuleAndNotebooks(config, log)


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: _FIRST.index(_group(item.nodeid)) if _group(item.nodeid) in _FIRST else len(_FIRST))
