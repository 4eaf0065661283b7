"""No log line of CamPool shows a camera's password: every record is redacted where it is made.

`install` wraps the logging record factory, so each record that is actually emitted, from our
modules or from any library (FFmpeg messages passed on by OpenCV, zeroconf, ZeroMQ, ...), has its
message, arguments, exception text and stack text run through `url_secrets.redact_text` before
any handler, formatter or test capture sees it. A handler filter would be skipped by handlers
added later (pytest's capture, a second file handler); a record factory is not. Formatting a
record's message once, at creation, is what a handler would do anyway, and happens only for
records past the level check.

The worker installs it in `campool-worker` (cli.py), the control center in `campool-gui`
(app.py). It is idempotent.
"""
from __future__ import annotations

import logging
import traceback
from typing import Any

from campool_worker.url_secrets import redact_text

_installed = False


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """The record with every URL secret masked in its message, exception and stack text."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string: leave it for logging's own error report
        return record
    if "://" in message:
        message = redact_text(message)
    record.msg, record.args = message, None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = redact_text("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
    elif record.exc_text:
        record.exc_text = redact_text(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_text(record.stack_info)
    return record


def install() -> None:
    """Redact every log record of this process from now on."""
    global _installed
    if _installed:
        return
    _installed = True
    make = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(make(*args, **kwargs))

    logging.setLogRecordFactory(factory)
