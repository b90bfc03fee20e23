"""What the server does below HTTP routing, so that no client can hold it:

* a request must arrive in time: its headers within ``header_timeout``
  seconds of the connection opening (or of the last response, on a
  keep-alive connection), its body within ``body_timeout`` seconds of its
  headers; else the connection gets a 408 and is closed;
* at most ``max_connections`` connections are open: a new one beyond that
  closes the oldest connection that has not yet sent a whole request (a
  slow or idle client), so that a client that sends requests always gets
  in; when every open connection is busy with a request, the new one is
  closed;
* a request that is not HTTP gets a 400 with the API's JSON error body;
* the process may open as many files as its hard limit allows;
* the server logs to a file of bounded size, never to a pipe: a full pipe
  that nobody reads would block the event loop on its own log.

uvicorn 0.38 has a keep-alive timeout only, so this is a subclass of its
h11 protocol (pinned in requirements.ini); the subclass uses only the
protocol's documented asyncio callbacks and its h11 connection state.
"""

import json
import logging
import logging.handlers
import resource
import sys
import time

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

LOG_BYTES = 1024 * 1024  # one log file of at most 1 MiB, and one older one


def bounded_protocol(header_timeout=10.0, body_timeout=60.0, max_connections=4096):
    """An asyncio protocol class for uvicorn's ``http`` setting."""

    class BoundedH11Protocol(H11Protocol):
        # Connections that have not sent a whole request, oldest first, by
        # server: the ones a new connection may close to get in.
        waiting = {}
        evictions = [0]

        def connection_made(self, transport):
            super().connection_made(transport)
            self._deadline = None
            self._waiting = self.waiting.setdefault(id(self.server_state), {})
            self._await_request(header_timeout)
            if len(self.connections) > max_connections:
                self._make_room()

        def _make_room(self):
            # Cheap on purpose: a flood of connections must not keep the
            # event loop from the requests behind it. The one closed gets no
            # answer and no log line of its own; every 1,000th is logged.
            oldest = next((c for c in self._waiting if c is not self), None)
            (oldest or self)._close(None)
            counts = self.evictions
            counts[0] += 1
            if counts[0] % 1000 == 1:
                self.logger.warning("%d connection(s) closed so far to stay within %d open "
                                    "connections", counts[0], max_connections)

        def _await_request(self, seconds):
            self._cancel_deadline()
            self._waiting.pop(self, None)  # to the end: the newest waiter
            self._waiting[self] = time.monotonic()
            self._deadline = self.loop.call_later(seconds, self._close, 408,
                                                  "The request was not sent in time.")

        def _cancel_deadline(self):
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def data_received(self, data):
            super().data_received(data)
            state = self.conn.their_state
            if state is h11.SEND_BODY and self._waiting.pop(self, None) is not None:
                # Headers complete; the body gets a deadline of its own.
                self._cancel_deadline()
                self._deadline = self.loop.call_later(body_timeout, self._close, 408,
                                                      "The request body was not sent in time.")
            elif state is not h11.IDLE and state is not h11.SEND_BODY:
                self._waiting.pop(self, None)
                self._cancel_deadline()

        def on_response_complete(self):
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._await_request(header_timeout)

        def connection_lost(self, exc):
            self._cancel_deadline()
            self._waiting.pop(self, None)
            super().connection_lost(exc)

        def _close(self, status, message=""):
            self._deadline = None
            self._waiting.pop(self, None)
            if self.transport.is_closing():
                return
            # A status can go only while no response is under way: a
            # connection waiting for its (next) request.
            if status is not None and self.conn.our_state is h11.IDLE:
                self.logger.info("%s: %s", self.client, message)
                try:
                    self._send_json(status, message)
                except h11.LocalProtocolError:
                    pass
            self.transport.close()

        def send_400_response(self, msg):
            self._send_json(400, f"Malformed request: {msg}")
            self.transport.close()

        def _send_json(self, status, message):
            body = json.dumps({"error": message}).encode()
            headers = [(b"content-type", b"application/json"), (b"connection", b"close"),
                       (b"content-length", str(len(body)).encode())]
            self.transport.write(self.conn.send(h11.Response(status_code=status, headers=headers)))
            self.transport.write(self.conn.send(h11.Data(data=body)))
            self.transport.write(self.conn.send(h11.EndOfMessage()))

    return BoundedH11Protocol


def raise_file_limit():
    """Let the process open as many files (connections) as it may."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
        return hard
    return soft


class _StreamToLog:
    """A file-like object for sys.stdout/sys.stderr that writes to a logger."""

    def __init__(self, logger, level):
        self.logger, self.level = logger, level

    def write(self, text):
        text = text.rstrip()
        if text:
            self.logger.log(self.level, text)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


def log_to_file(path):
    """Send every log record, Python warnings and what Python prints to
    ``path``, rotated at LOG_BYTES with one older file kept (``path.1``):
    however much the server logs, the log stays under 2 MiB and writing it
    never blocks."""
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=LOG_BYTES, backupCount=1,
                                                   encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.captureWarnings(True)
    output = logging.getLogger("kerasexport.server.output")
    sys.stdout = _StreamToLog(output, logging.INFO)
    sys.stderr = _StreamToLog(output, logging.WARNING)
    return handler
