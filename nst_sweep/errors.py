"""The one exception type for mistakes a user can fix."""


class UserError(Exception):
    """Bad input: the message names the problem and the fix, in one line.

    Entry points print it without a traceback and exit with code 2; anything else is a bug.
    """


class Abort(BaseException):
    """A ``UserError`` that must stop the command where Hydra would swallow it.

    Hydra turns an ``Exception`` raised by a callback into a warning and goes on; a sweep whose
    parent run cannot be created must not. The entry point prints the message as a UserError's.
    """

    def __init__(self, error: UserError) -> None:
        super().__init__(str(error))
        self.error = error


class DivergenceError(UserError):
    """The loss became NaN or infinite: the settings (usually the learning rate) are unstable."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-empty line of an exception's message (or its type name), shortened."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:limit]
