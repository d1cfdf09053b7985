"""Logging for the service: plain text for a terminal, or one JSON object per line for a log collector.

Why JSON: a command hall runs hundreds of cameras, and "which camera?" is the first question of every incident.
Each JSON line has ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``camera`` when the line is about
one, and any ``extra=`` fields the caller gave. The camera comes from ``extra={"camera": id}`` or, failing that,
from the thread: every camera's reader thread is named ``camera-<id>`` (``streams.session``), so FFmpeg
trouble logged there is attributed without the caller saying so.

Both formats pass the finished line through ``settings.secrets.redact``: FFmpeg and HTTP libraries quote full
URLs (``rtsp://user:password@…``, ``postgresql://…``) in their errors, and a password must never reach a log.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from settings.secrets import redact

LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CAMERA_THREAD_PREFIX = "camera-"
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is worth keeping.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime", "taskName",
    "color_message",  # uvicorn's copy of the message with terminal colour codes
}
_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")


def camera_of(record: logging.LogRecord) -> str | None:
    """The camera a record is about: ``extra={"camera": …}``, else the camera thread that logged it."""
    camera = getattr(record, "camera", None)
    if camera:
        return str(camera)
    thread = record.threadName or ""
    if thread.startswith(CAMERA_THREAD_PREFIX):
        return thread[len(CAMERA_THREAD_PREFIX):]
    return None


def _jsonable(value: Any) -> Any:
    """Extras as JSON: strings redacted, containers walked, anything else as its (redacted) text."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line (``ensure_ascii=False``: camera names and messages are Chinese)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        camera = camera_of(record)
        if camera is not None:
            entry["camera"] = redact(camera)
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            entry.update(zip(_ACCESS_FIELDS, (_jsonable(redact(a) if isinstance(a, str) else a)
                                              for a in record.args), strict=True))
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key != "camera" and key not in entry:
                entry[key] = _jsonable(value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class RedactingFormatter(logging.Formatter):
    """The classic text line for a terminal, with credentials in URLs replaced by ``***``."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(fmt: LogFormat = "text", level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Route every logger (ours, uvicorn's, FFmpeg's via PyAV) through one handler on stderr in ``fmt``.

    Replaces handlers installed earlier (a second call switches the format): the service must never write a
    line that skipped redaction."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else RedactingFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's own loggers propagate to the root once uvicorn is started with log_config=None.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True


def default_format() -> LogFormat:
    """``CITYWALL_LOG_FORMAT`` from the environment (the Docker image sets ``json``), else ``text``."""
    value = os.environ.get("CITYWALL_LOG_FORMAT", "text").strip().lower()
    return "json" if value == "json" else "text"


def add_format_option(parser: argparse.ArgumentParser) -> None:
    """``--log-format text|json`` for the commands that run the service."""
    parser.add_argument("--log-format", choices=FORMATS, default=default_format(),
                        help="log lines as text or one JSON object per line (default: $CITYWALL_LOG_FORMAT or text)")
