"""``python -m audiospec_utils`` = the ``audiospec`` command."""

import sys

from .cli import main

sys.exit(main())
