"""How this process talks to an MLflow tracking server: bounded requests, no password in the URI.

MLflow reads its HTTP limits from environment variables at every request. Its defaults (120 s
timeout, 7 retries with a backoff factor of 2) make one call to a dead server take minutes; a
run here needs it to take seconds, so these are set for the process unless the user set them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit, urlunsplit

TIMEOUT_ENV = "MLFLOW_HTTP_REQUEST_TIMEOUT"
RETRIES_ENV = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
BACKOFF_ENV = "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"
USERNAME_ENV = "MLFLOW_TRACKING_USERNAME"
PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"

TIMEOUT_S = 10  # seconds a request may wait for the server (MLflow: 120)
RETRIES = 2  # retries of a failed request (MLflow: 7)
BACKOFF = 1  # retries after 0, 2, 4 ... s plus up to 1 s of jitter (MLflow: factor 2)
QUICK_TIMEOUT_S = 5  # the one try, at the end of a run, to send what an outage held back

_ours: dict[str, str] = {}  # values this module set, to tell them from the user's


def bound_requests(timeout: int | None = None, retries: int | None = None) -> None:
    """Set MLflow's HTTP limits: the given values, else the user's variables, else ours."""
    for name, given, default in (
        (TIMEOUT_ENV, timeout, TIMEOUT_S),
        (RETRIES_ENV, retries, RETRIES),
        (BACKOFF_ENV, None, BACKOFF),
    ):
        current = os.environ.get(name)
        if given is None and current is not None and current != _ours.get(name):
            continue  # the user's own value
        os.environ[name] = _ours[name] = str(default if given is None else given)


@contextlib.contextmanager
def quick_requests() -> Iterator[None]:
    """One try per request, with a short timeout: for a probe that must not hold the exit."""
    saved = {name: os.environ.get(name) for name in (TIMEOUT_ENV, RETRIES_ENV)}
    timeout = min(int(saved[TIMEOUT_ENV] or TIMEOUT_S), QUICK_TIMEOUT_S)
    os.environ.update({TIMEOUT_ENV: str(timeout), RETRIES_ENV: "0"})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def without_credentials(uri: str) -> str:
    """An http(s) URI's ``user:password@`` moved into MLflow's own variables; the URI without it.

    MLflow prints its tracking URI ("View run at ...") and puts it in error messages; with the
    credentials in its variables instead, neither can show them. They take precedence over
    variables already set, as the URI's own credentials did.
    """
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return uri
    userinfo, _, host = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    os.environ[USERNAME_ENV] = unquote(user)
    if colon:
        os.environ[PASSWORD_ENV] = unquote(password)
    return urlunsplit(parts._replace(netloc=host))
