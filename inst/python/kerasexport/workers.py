"""Other Python processes that do part of an export: a process on another
backend that writes a format this one cannot (``crossing``), and one that
runs an artifact without Keras or the model's code (``runtime``, for
``verify``).

Starting one costs seconds (importing TensorFlow alone takes 3 to 5), so
each is kept warm for the life of the process that started it: started on
first need, reused for every later job of its kind, and stopped when this
process ends, however it ends. One worker per kind and key (a crossing
worker per target backend, a runtime worker per format), so that what one
has imported is what its jobs need: the runtime worker for ONNX never
imports TensorFlow, and no runtime worker ever loads a model file or Keras'
model code (only crossing workers do). ``KERASEXPORT_FRESH_PROCESSES=1``
starts a new process for every job instead.

A job is a JSON request on the worker's stdin; the reply, with what the job
printed, comes back as one JSON line on a pipe of its own, so that nothing a
library prints can be taken for it. ``python -m kerasexport.workers`` is the
worker.
"""

import atexit
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time

_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_workers = {}
_lock = threading.Lock()


class WorkerDied(Exception):
    """The worker ended before it answered; ``log`` holds the end of what it
    wrote."""

    def __init__(self, log):
        super().__init__(log)
        self.log = log


def _fresh_every_time():
    return os.environ.get("KERASEXPORT_FRESH_PROCESSES", "").lower() in ("1", "true", "yes")


def _die_with_parent():
    """In the child, before it runs: end when the process that started it
    ends, however it ends (kill -9 included), so that a killed export
    leaves no process behind writing into its staging folder (Linux)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Worker:
    def __init__(self, kind, env):
        self.kind = kind
        self.folder = tempfile.mkdtemp(prefix=f"kerasexport-worker-{kind}-")
        self.log_path = os.path.join(self.folder, "worker.log")
        read_end, self._write_end = os.pipe()
        environment = dict(os.environ, **env)
        environment["PYTHONPATH"] = os.pathsep.join(
            [_PACKAGE_PARENT] + [p for p in [os.environ.get("PYTHONPATH")] if p])
        environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        environment["KERASEXPORT_REPLY_FD"] = str(self._write_end)
        with open(self.log_path, "wb") as log:
            import warnings

            with warnings.catch_warnings():
                # JAX warns at every fork; Popen execs at once, which is safe.
                warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called",
                                        category=RuntimeWarning)
                # From an empty folder, so that nothing of the caller's can
                # be imported there.
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "kerasexport.workers", kind], cwd=self.folder,
                    env=environment, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                    pass_fds=(self._write_end,), preexec_fn=_die_with_parent)
        os.close(self._write_end)
        self._replies = os.fdopen(read_end, "rb")

    def alive(self):
        return self.process.poll() is None

    def call(self, request, timeout=None):
        """Send one job and wait for its reply."""
        try:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WorkerDied(self._log_tail()) from None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self._replies], [], [], wait)
            if not ready:
                self.stop()
                raise TimeoutError(f"the {self.kind} process did not answer within {timeout:g} s")
            line = self._replies.readline()
            if not line:
                self.process.wait()
                raise WorkerDied(self._log_tail())
            return json.loads(line)

    def _log_tail(self, count=8):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                lines = [line.rstrip() for line in handle if line.strip()]
        except OSError:
            lines = []
        return "\n".join(lines[-count:]) or f"it exited with status {self.process.poll()}"

    def stop(self):
        if self.alive():
            try:
                self.process.stdin.close()
                self.process.wait(5)
            except Exception:
                self.process.kill()
                self.process.wait()
        self._replies.close()
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


def _worker(kind, key, env):
    with _lock:
        worker = _workers.get((kind, key))
        if worker is None or not worker.alive():
            worker = _workers[(kind, key)] = Worker(kind, env)
        return worker


def warm_up(kind, key, env):
    """Start the worker for ``kind`` and ``key`` now, if it is not running,
    so that it imports what it needs while this process does other work."""
    if not _fresh_every_time():
        _worker(kind, key, env)


def run(kind, key, env, request, timeout=None):
    """Run one job in the ``kind`` worker for ``key`` (started with ``env``
    on first need); return its reply. What the job printed is printed here,
    for the caller's capture."""
    if _fresh_every_time():
        worker = Worker(kind, env)
        try:
            reply = worker.call(request, timeout)
        finally:
            worker.stop()
    else:
        worker = _worker(kind, key, env)
        try:
            reply = worker.call(request, timeout)
        except WorkerDied:
            with _lock:
                _workers.pop((kind, key), None)
            raise
    if reply.get("printed"):
        print("\n".join(reply["printed"]))
    return reply


@atexit.register
def stop_all():
    with _lock:
        workers = list(_workers.values())
        _workers.clear()
    for worker in workers:
        try:
            worker.stop()
        except Exception:
            pass


# --- the worker ----------------------------------------------------------------------

def _handler(kind):
    if kind == "crossing":
        from kerasexport.crossing import handle
    elif kind == "runtime":
        from kerasexport.runtime import handle
    else:
        raise SystemExit(f"unknown worker kind {kind!r}")
    return handle


def main(kind):
    from kerasexport.capture import capture_output

    handle = _handler(kind)
    replies = os.fdopen(int(os.environ.pop("KERASEXPORT_REPLY_FD")), "w", encoding="utf-8")
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        with capture_output() as captured:
            reply = handle(request)
        reply["printed"] = captured.lines
        replies.write(json.dumps(reply, default=str) + "\n")
        replies.flush()


if __name__ == "__main__":
    main(sys.argv[1])
