"""pytest configuration shared by the unit tests and the notebooks (nbval).

Validating the notebooks must never start the 4.6 GB FSDKaggle2018 download by surprise: unless
``AUDIOSPEC_DATASET`` is already set (to a non-empty value), the notebooks run on the built-in mini
dataset. The kernel that nbval starts inherits this environment.
"""

import os

if not os.environ.get("AUDIOSPEC_DATASET"):
    os.environ["AUDIOSPEC_DATASET"] = "mini"


def pytest_collection_modifyitems(config, items):
    """Keep what must run in order, or alone, on one worker when ``make test`` runs two (pytest-xdist).

    ``make test`` runs with ``-n 2 --dist loadgroup``: the tests are dealt to two processes, and
    the items of one ``xdist_group`` stay on one of them, in order. Each notebook's cells share one
    kernel and the notebooks share the course's data and runs folders (02 renders what 03 trains
    on, 04 reads 03's run), so all of notebooks/ is one group; the platform runs of the course
    (``tests/test_course_platforms.py``) are another. Without xdist the marks do nothing.
    """
    import pytest

    for item in items:
        path = str(item.path)
        if path.endswith(".ipynb"):
            item.add_marker(pytest.mark.xdist_group("notebooks"))
        elif path.endswith("test_course_platforms.py"):
            item.add_marker(pytest.mark.xdist_group("course_platforms"))
