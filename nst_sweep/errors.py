"""The one exception type for mistakes a user can fix."""


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
