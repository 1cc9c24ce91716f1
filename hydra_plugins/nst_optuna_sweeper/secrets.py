"""The one rule that keeps passwords in URLs out of logs, result files and messages.

A secret in a URL sits in its userinfo (``postgresql://user:PASSWORD@host/db``) or in a query
parameter (``...?password=PASSWORD``, ``&token=...``); both become ``***``. The rule works on
any text (a log line, an override list, an error message), so it also finds URLs inside them.
Special characters in a password must be URL-encoded, as SQLAlchemy and RFC 3986 require; a
URL with ``@`` in its query is redacted up to that ``@`` (too much rather than too little).
"""

from __future__ import annotations

import logging
import re

MASK = "***"

# scheme://user:password@ : the password runs to the last "@" of the same token.
_USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@'\"]*:)[^\s'\"]*(@)")
# ?password=..., &db_token=..., ;secret=... : any parameter whose name says it is a secret.
_SECRET_PARAM = re.compile(
    r"([?&;][\w.-]*(?:pass|pwd|secret|token|key|auth|credential)[\w.-]*=)[^&;#\s'\"]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with every URL password and secret query parameter replaced by ``***``."""
    if "=" not in text and "@" not in text:  # the common case, for log lines
        return text
    return _SECRET_PARAM.sub(rf"\g<1>{MASK}", _USERINFO.sub(rf"\g<1>{MASK}\g<2>", text))


def redact_url(url: str | None) -> str | None:
    """A URL (storage, tracking server) fit to print or store; None stays None."""
    return None if url is None else redact(url)


def redact_log_records() -> None:
    """Redact every log record of this process when it is made, whatever logger or handler.

    A record factory rather than a handler filter: Hydra reconfigures handlers for every run,
    and its launcher logs each job's overrides, which may hold a URL with a password. A
    formatted traceback is redacted too. Installing it twice is harmless.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacting", False):
        return

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text)
        return record

    factory.redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
