"""How the command-line tools talk to people: a mistake is one paragraph (no traceback, exit code 2), and the
warnings of libraries that do not concern the user are silenced.

``--debug`` on the command line, or ``CMPE_DEBUG=1`` in the environment, shows the full traceback instead.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from jsonargparse import DefaultHelpFormatter

from .utils.errors import UsageError, UserFacingError

__all__ = ["UsageError", "user_message", "run_for_people", "ProjectHelpFormatter"]

DEBUG_ENV = "CMPE_DEBUG"
# library warnings about the library's own internals, printed on every run
NOISE = [
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
    r"Attribute '.*' is an instance of `nn.Module` and is already saved during checkpointing.*",
    r"The number of training batches \(\d+\) is smaller than the logging interval.*",
    r"The '\w+_dataloader' does not have many workers which may be a bottleneck.*",
    r"No seed found, seed set to.*",
    r".*`srun` command is available on your system but is not used.*",
    r"LightningCLI's args parameter is intended to run from within Python.*",
    # test/predict write into <run>/test, so the checkpoint callback's restored folder differs by design
    r"The dirpath has changed from .*",
    # a resumed fit: its DataModule (not the loader) restores the data position; it goes on in its own run folder
    r"You're resuming from a checkpoint that ended before the epoch ended and your dataloader is not resumable.*",
    r"Checkpoint directory .* exists and is not empty.*",
]
# Lightning's information lines that are advertisements or about hardware this library never uses
QUIET_INFO = ("💡 Tip", "TPU available", "HPU available")


def debug_requested(args: list[str]) -> tuple[bool, list[str]]:
    """Whether ``--debug`` is among ``args`` or ``CMPE_DEBUG`` is set, and ``args`` without ``--debug``."""
    wanted = "--debug" in args or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    return wanted, [arg for arg in args if arg != "--debug"]


def user_message(error: BaseException) -> str | None:
    """The paragraph to print for a :class:`UserFacingError` (the innermost of its causes), or for jsonargparse's
    parse errors; ``None`` for anything else: a bug keeps its traceback."""
    chain = [error]
    while chain[-1].__cause__ is not None and len(chain) < 20:
        chain.append(chain[-1].__cause__)
    for cause in reversed(chain):  # the innermost explanation first
        if isinstance(cause, UserFacingError):
            return str(cause)
    if type(error).__name__ == "ArgumentError":  # jsonargparse's parse errors
        return condensed(str(error))
    return None


def condensed(message: str) -> str:
    """A jsonargparse error without its dump of the whole config."""
    skip = ("Given value", "Subtypes:", "- Expected a <class 'NoneType'>", "Does not validate against any")
    lines = [line.strip() for line in message.splitlines() if line.strip() and not line.strip().startswith(skip)]
    lines = [line for line in lines if line != "Errors:"]
    return " ".join(lines)


def run_for_people(program: str, run: Callable[[list[str]], object], args: list[str] | None = None) -> None:
    """Runs ``run(args)`` with the library noise silenced and a user's mistake printed as one paragraph."""
    debug, args = debug_requested(list(sys.argv[1:] if args is None else args))
    with quiet_library_warnings():
        try:
            run(args)
        except Exception as error:  # noqa: BLE001 -- reported, or re-raised with its traceback
            message = None if debug else user_message(error)
            if message is None:
                raise
            print(f"{program}: error: {message}\n(add --debug to see where it happened)", file=sys.stderr)
            sys.exit(2)


class _QuietInfo(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(QUIET_INFO)


@contextmanager
def quiet_library_warnings() -> Iterator[None]:
    quiet = _QuietInfo()
    loggers = [logging.getLogger(name)
               for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")]
    with warnings.catch_warnings():
        for pattern in NOISE:
            warnings.filterwarnings("ignore", message=pattern)
        for logger in loggers:
            logger.addFilter(quiet)
        try:
            yield
        finally:
            for logger in loggers:
                logger.removeFilter(quiet)


class ProjectHelpFormatter(DefaultHelpFormatter):
    """``--help`` that lists, for an option taking a class, only this project's classes among the "known
    subclasses" (jsonargparse lists every ``torch.nn.Module`` and callback it has seen: thousands of lines)."""

    def _get_help_string(self, action) -> str:
        help_text = super()._get_help_string(action)
        head, found, tail = help_text.partition(", known subclasses: ")
        if not found:
            return help_text
        listed, close, rest = tail.rpartition(")")
        own = [path for path in listed.split(", ") if path.startswith(f"{__package__}.")]
        if own:
            return f"{head}, known classes of {__package__}: {', '.join(own)}{close}{rest}"
        return f"{head}{close}{rest}"
