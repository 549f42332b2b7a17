"""pytest configuration shared by the unit tests and the notebooks (nbval).

Validating the notebooks must never start the 4.6 GB FSDKaggle2018 download by surprise: unless
``AUDIOSPEC_DATASET`` is already set (to a non-empty value), the notebooks run on the built-in mini
dataset. The kernel that nbval starts inherits this environment.
"""

import os

import pytest

if not os.environ.get("AUDIOSPEC_DATASET"):
    os.environ["AUDIOSPEC_DATASET"] = "mini"


# `make test` runs on two pytest-xdist workers (``-n 2 --dist loadgroup --no-loadscope-reorder``).
# Each test module stays on one worker (its module fixtures are built once), and the notebooks run
# in their order on one worker (01 downloads what 02 renders, 03 trains what 04 interprets). The two
# longest groups go first, one to each worker, so that neither is left alone at the end.
_FIRST = ("notebooks", "tests/test_course_platforms.py")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    def group(item):
        path = item.nodeid.split("::")[0]
        return "notebooks" if path.endswith(".ipynb") else path

    for item in items:
        item.add_marker(pytest.mark.xdist_group(group(item)))
    items.sort(key=lambda item: _FIRST.index(group(item)) if group(item) in _FIRST else len(_FIRST))
