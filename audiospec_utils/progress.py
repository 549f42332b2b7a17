"""Whether to draw progress bars: in a terminal or a notebook, yes; in a log file or CI, no.

A progress bar redrawn with carriage returns is one line in a terminal, but thousands of lines in a
log (``make demo > log``, CI): there the toolkit prints its summaries and fastai's epoch rows only.
"""

from __future__ import annotations

import sys

__all__ = ["show_progress"]


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def show_progress(progress: bool = True, stream=None) -> bool:
    """`progress`, unless the output is neither a terminal nor a notebook.

    Parameters
    ----------
    progress : bool
        What the caller asked for.
    stream : file-like or None
        Where the bar goes (default ``sys.stderr``, as tqdm draws).

    Returns
    -------
    bool
        True to draw the bar.
    """
    if not progress:
        return False
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) or _in_notebook()
