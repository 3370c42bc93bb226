"""Log lines on stderr, each carrying the request id of the call (and the trace of the span) it
was written in: JSON objects, one per line, so that a log pipeline can join them without
parsing; or, for a person at a terminal, the same fields as one readable line."""

from __future__ import annotations

import json
import logging
import os
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from registry_service import tracing

# The id of the call being served in this context; set by the call interceptor.
request_id: ContextVar[str | None] = ContextVar("registry_request_id", default=None)

# `extra=` key under which a log call passes fields of its own (the access log's).
FIELDS = "fields"

# One encoder for every line: json.dumps with an argument builds a new one per call.
_ENCODER = json.JSONEncoder(default=str)


def _context(record: logging.LogRecord) -> dict[str, Any]:
    """What a line says beyond its time, level, logger and message: the call and span it was
    written in, and the record's own fields."""
    context: dict[str, Any] = {}
    call = request_id.get()
    if call is not None:
        context["request_id"] = call
    span = tracing.current_ids()
    if span is not None:
        context["trace_id"], context["span_id"] = span
    context.update(getattr(record, FIELDS, {}))
    return context


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": os.getpid(),
        }
        line.update(_context(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _ENCODER.encode(line)


class TextFormatter(logging.Formatter):
    """``05:31:07.412 INFO  registry_service.access CreateRegisteredModel OK code=OK ...``: local
    time (a person reads it beside their clock), then the fields as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        time = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        words = [time, f"{record.levelname:<5}", record.name, record.getMessage()]
        words += [f"{key}={value}" for key, value in _context(record).items()]
        line = " ".join(words)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(level: str, log_format: str = "auto") -> None:
    """Send every logger's records to stderr: as readable lines (``log_format`` text, or auto on
    a terminal) or as JSON lines (json, or auto when stderr is a file, pipe or collector)."""
    # No line names its source file, thread or process name (the pid is the formatter's own),
    # so records need not look them up: the logging HOWTO's "Optimization" settings. The access
    # log writes a record per call; this was 19k of its 125k instructions (callgrind).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    readable = log_format == "text" or (log_format == "auto" and sys.stderr.isatty())
    handler.setFormatter(TextFormatter() if readable else JsonFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
