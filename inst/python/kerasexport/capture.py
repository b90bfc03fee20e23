"""Capture what an export prints, so that R can replay it as messages.

Keras prints through ``sys.stdout``; TensorFlow, XLA and PyTorch also write
from C++ straight to file descriptors 1 and 2. R consoles, knitr and
``suppressMessages()`` see neither, so both levels are captured and returned
as lines, and Python warnings are recorded rather than printed.
"""

import contextlib
import functools
import io
import os
import re
import sys
import tempfile
import warnings


_active = []  # the Captured objects of the captures in progress, innermost last


class Captured:
    def __init__(self):
        self.lines = []
        self.warnings = []
        self.rewrites = {}
        self.hide_internal = False
        self.quiet = False

    def as_dict(self):
        return {"output": list(self.lines), "warnings": list(self.warnings)}


# Warnings about library internals (numpy aliases, JAX parameters that Keras
# passes, torch's tracer noting Keras' own Python ints) tell the user nothing
# they can act on: R shows them as messages. Every other warning becomes an R
# warning.
_INTERNAL_CATEGORIES = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
_INTERNAL_CATEGORY_NAMES = {"TracerWarning"}
# Warnings that are never the user's business, left out altogether: JAX
# warns at every fork in the process, and OpenVINO's model conversion forks
# (a helper process that execs at once, which is safe).
_IGNORED = re.compile(r"os\.fork\(\) was called")


# Notes on library internals that are not deprecations: JAX's that Keras' own
# code asked for float64 (its pooling over a mask does, while traced);
# torch's exporter's about its own passes ("Triggered internally at" its C++
# source). Nothing the user wrote or can change.
_INTERNAL_MESSAGES = re.compile(
    r"Explicitly requested dtype \w+ requested in \w+ is not available|Triggered internally at")


def _warning_record(record):
    return {
        "category": getattr(record.category, "__name__", "Warning"),
        "message": str(record.message),
        "internal": issubclass(record.category, _INTERNAL_CATEGORIES)
        or getattr(record.category, "__name__", "") in _INTERNAL_CATEGORY_NAMES
        or bool(_INTERNAL_MESSAGES.search(str(record.message))),
    }


@functools.lru_cache(maxsize=None)
def _libc():
    import ctypes

    return ctypes.CDLL(None)


def _flush_c_streams():
    """Flush C's stdio buffers (printf, and std::cout, which shares them), so
    that what C++ code wrote lands in the capture, not on the console later."""
    try:
        _libc().fflush(None)
    except Exception:
        pass


@contextlib.contextmanager
def _redirect_fd(fd, sink):
    """Point file descriptor ``fd`` at ``sink`` for the duration."""
    try:
        saved = os.dup(fd)
    except OSError:  # no such descriptor (embedded without a console)
        yield
        return
    try:
        _flush_c_streams()
        os.dup2(sink.fileno(), fd)
        yield
    finally:
        _flush_c_streams()
        os.dup2(saved, fd)
        os.close(saved)


def rewrite_in_output(old, new):
    """Show ``new`` wherever ``old`` appears in the output being captured."""
    for captured in _active:
        captured.rewrites[old] = new


# Lines that libraries print on their own, which tell the user nothing:
# glog-style info lines (TensorFlow, absl, XLA), absl's notice about them,
# TensorFlow's CPU and oneDNN notices, LiteRT's delegate.
_NOISE = re.compile(
    r"^(?:I\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ \S+:\d+\]"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|INFO: Created TensorFlow Lite XNNPACK delegate"
    r"|To enable the following instructions:"
    r"|.*(?:oneDNN custom operations are on|cpu_feature_guard\.cc|rebuild TensorFlow with the "
    r"appropriate compiler flags))")


def quiet():
    """Leave everything printed out of the capture in progress, as
    ``verbose = False`` asks (warnings that are the user's business stay)."""
    for captured in _active:
        captured.quiet = True


def hide_internal_warnings():
    """Leave warnings about library internals out of the capture in
    progress, as ``verbose = False`` asks. Every torch export raises the
    tracer's notes on Keras' own code: Keras means to silence them, but sets
    its filters in a ``catch_warnings()`` block that ends before the export."""
    for captured in _active:
        captured.hide_internal = True


@contextlib.contextmanager
def capture_output():
    """Capture Python and C-level stdout/stderr and warnings into a Captured."""
    captured = Captured()
    python_out = io.StringIO()
    with tempfile.TemporaryFile(mode="w+b") as native_out:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        try:
            with warnings.catch_warnings(record=True) as records, \
                    _redirect_fd(1, native_out), _redirect_fd(2, native_out), \
                    contextlib.redirect_stdout(python_out), \
                    contextlib.redirect_stderr(python_out):
                # Python's own filters decide what is shown, as they would
                # in Python: deprecations inside libraries stay hidden, and
                # a filter the user set with warnings.filterwarnings() holds.
                _active.append(captured)
                yield captured
        finally:
            _active.remove(captured)
            native_out.seek(0)
            text = python_out.getvalue() + native_out.read().decode("utf-8", "replace")
            # Longest first: a staged file's path before its staging folder's.
            for old, new in sorted(captured.rewrites.items(), key=lambda r: -len(r[0])):
                text = text.replace(old, new)
            lines = [] if captured.quiet else [
                line.rstrip() for line in text.splitlines() if line.strip() and not _NOISE.match(line)]
            if lines:
                # Nothing printed carries this machine's folders or the user's
                # name; the artifact's own path, which the user gave, stays.
                from kerasexport.scrub import Finder

                finder = Finder()
                keep = sorted(set(captured.rewrites.values()), key=len, reverse=True)
                lines = [finder.clean(line, keep=keep) for line in lines]
            captured.lines[:] = lines
            # A function traced several times warns several times: once is enough.
            unique = {}
            for record in map(_warning_record, records):
                if _IGNORED.search(record["message"]):
                    continue
                if not (record["internal"] and captured.hide_internal):
                    unique.setdefault((record["category"], record["message"]), record)
            captured.warnings[:] = list(unique.values())
