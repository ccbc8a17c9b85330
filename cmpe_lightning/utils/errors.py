"""The errors the command-line tools print as one paragraph, without a traceback (``--debug`` shows it).

Every check of a user's input raises one of these; anything else is a bug and keeps its traceback. Each is
also the built-in error it stands for, so ``except ValueError`` still catches an :class:`InputError`.
"""

from __future__ import annotations


class UserFacingError(Exception):
    """Base of the errors whose message is meant for the person running the tool."""


class UsageError(UserFacingError):
    """A mistake in how a command was called (a missing or misspelt option or file)."""


class InputError(UserFacingError, ValueError):
    """A value, shape or setting that cannot work; the message names it and what was expected."""


class InputTypeError(UserFacingError, TypeError):
    """An argument of the wrong kind (a class where an instance was expected, a simulator without a method)."""


class MissingFileError(UserFacingError, FileNotFoundError):
    """A file or folder that was named but does not exist."""


class ExistingFileError(UserFacingError, FileExistsError):
    """An output that exists and would be overwritten."""


class NotAFileError(UserFacingError, IsADirectoryError):
    """A folder where a file was expected."""
