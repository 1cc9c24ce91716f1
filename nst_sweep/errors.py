"""The one exception type for mistakes a user can fix, and how to recognise a full disk."""

import errno


class UserError(Exception):
    """Bad input: the message names the problem and the fix, in one line.

    Entry points print it without a traceback and exit with code 2; anything else is a bug.
    """


class DivergenceError(UserError):
    """The loss became NaN or infinite: the settings (usually the learning rate) are unstable."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-empty line of an exception's message (or its type name), shortened."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:limit]


class Rejected(BaseException):
    """A ``UserError`` found in a Hydra callback, on its way to the entry point.

    Hydra turns an ``Exception`` raised by a callback into a warning and carries on; a bad
    setting found before the work starts must stop the command instead (one line, exit 2).
    """

    def __init__(self, error: UserError):
        super().__init__(str(error))
        self.error = error


_DISK_FULL_TEXT = ("database or disk is full", "no space left on device", "disk quota exceeded")


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` or an exception it was raised from is a full disk (or quota).

    SQLite, SQLAlchemy and MLflow rewrap the OSError, so the chain and the text are searched.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(text in str(current).lower() for text in _DISK_FULL_TEXT):
            return True
        current = current.__cause__ or current.__context__
    return False
