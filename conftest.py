"""pytest configuration shared by the unit tests and the notebooks (nbval).

Validating the notebooks must never start the 4.6 GB FSDKaggle2018 download by surprise: unless
``AUDIOSPEC_DATASET`` is already set (to a non-empty value), the notebooks run on the built-in mini
dataset. The kernel that nbval starts inherits this environment.
"""

import os

if not os.environ.get("AUDIOSPEC_DATASET"):
    os.environ["AUDIOSPEC_DATASET"] = "mini"
