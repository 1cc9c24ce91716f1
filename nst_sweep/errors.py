"""The one exception type for mistakes a user can fix."""


class UserError(Exception):
    """Bad input: the message names the problem and the fix, in one line.

    Entry points print it without a traceback and exit with code 2; anything else is a bug.
    """


class DivergenceError(UserError):
    """The loss became NaN or infinite: the settings (usually the learning rate) are unstable."""
