"""No log record shows a URL's password, whatever logs it and however (args, f-string, traceback)."""
from __future__ import annotations

import logging

from campool_worker import log_redaction

SECRET = "Gr@b:it-7Kq"
URL = f"rtsp://admin:{SECRET}@10.0.0.5/cam"


def test_every_record_is_redacted_before_any_handler_sees_it(caplog):
    log_redaction.install()
    log_redaction.install()  # idempotent
    lib = logging.getLogger("some.library")
    with caplog.at_level(logging.INFO):
        lib.info("opening %s", URL)
        lib.warning(f"ffmpeg said: cannot open '{URL}?pwd=x9'")
        try:
            raise RuntimeError(f"capture failed for {URL}")
        except RuntimeError:
            lib.exception("camera gate failed")
        lib.info("with a stack", stack_info=True, extra={"camera": "gate"})
    text = caplog.text + "".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert SECRET not in text and "x9" not in text
    assert "rtsp://admin:•••@10.0.0.5/cam" in caplog.records[0].getMessage()
    assert "capture failed for rtsp://admin:•••@10.0.0.5/cam" in caplog.records[2].exc_text
    assert caplog.records[3].camera == "gate"


def test_a_record_with_a_bad_format_string_is_left_to_loggings_own_report():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items", ("many",), None)
    assert log_redaction.redact_record(record).msg == "%d items"
