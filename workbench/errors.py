"""One error type for everything a user can get wrong.

A :class:`WorkbenchError` carries the file it is about and a one-line message; the CLI prints it as
``workbench: error: <file>: <what is wrong> (<what was expected>)`` and exits with status 2.
It subclasses :class:`ValueError` so library callers can catch the usual type.
"""

from __future__ import annotations

import os

__all__ = ["WorkbenchError", "request_interrupt", "clear_interrupt", "raise_if_interrupted"]


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


_interrupt = {"pending": False}  # set by the CLI's Ctrl-C / SIGTERM handler


def request_interrupt() -> None:
    """Mark an interrupt (Ctrl-C, SIGTERM) as under way: the CLI's signal handler calls it
    before raising :class:`KeyboardInterrupt`."""
    _interrupt["pending"] = True


def clear_interrupt() -> None:
    """Forget an interrupt (the CLI, once it has reported one)."""
    _interrupt["pending"] = False


def raise_if_interrupted(error: BaseException) -> None:
    """Turn ``error`` back into the interrupt it stands for. A signal handler's
    :class:`KeyboardInterrupt` raised inside C code (a model call, an image decoder) can come
    out as another exception, which a folder-wide job would record as one file's failure and
    go on; handlers that catch per-file errors call this first.

    >>> raise_if_interrupted(ValueError("one bad file"))  # no interrupt: nothing happens
    """
    if _interrupt["pending"]:
        raise KeyboardInterrupt from error
