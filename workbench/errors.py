"""One error type for everything a user can get wrong.

A :class:`WorkbenchError` carries the file it is about and a one-line message; the CLI prints it as
``workbench: error: <file>: <what is wrong> (<what was expected>)`` and exits with status 2.
It subclasses :class:`ValueError` so library callers can catch the usual type.
"""

from __future__ import annotations

import os

__all__ = ["WorkbenchError"]


class WorkbenchError(ValueError):
    """A problem with user input, named by file.

    Args:
        message: what is wrong, with what was expected in parentheses.
        path: the file or folder the problem is about (optional).
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        self.path = None if path is None else os.fspath(path)
        self.message = message
        super().__init__(f"{self.path}: {message}" if self.path else message)
