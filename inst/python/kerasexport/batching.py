"""Adaptive batching: requests to one model that arrive while it is busy are
merged, up to ``max_batch_size`` instances, run as one call, and each
request gets its own rows back (TF-Serving's ``--enable_batching``,
Triton's dynamic batcher).

It adds no latency when there is nothing to merge: a request that finds
the model idle runs at once (on the event loop, where a small request to a
quick model is cheaper to run than to hand to a thread, as without
batching). Requests that arrive while a run is under way wait for it, and
then go together. ``max_queue_delay`` (seconds, 0 by default) makes a batch
that is not full wait that long for more.

Each request is checked and cast on its own (a bad request fails alone);
requests are merged only with others of the same signature and the same
sizes beyond the batch axis. A row's answer is the same numbers it gets
alone where the runtime's kernels give each row the same arithmetic at any
batch size (onnxruntime's do; TensorFlow's CPU kernels pick other blockings
for other batch sizes, and a row can then differ in its last bit, 1e-7 of
its size).
"""

import asyncio
import dataclasses
import time

import numpy as np

# A request this small, to a predictor whose last run took no longer, runs
# on the event loop when the model is idle (see server.INLINE_*).
INLINE_ROWS = 256
INLINE_SECONDS = 0.002


@dataclasses.dataclass(frozen=True)
class Settings:
    max_batch_size: int = 32
    max_queue_delay: float = 0.0


class Batchers:
    """One Batcher per loaded predictor, made on first use."""

    def __init__(self, settings, metrics=None):
        self.settings = settings
        self.metrics = metrics
        self._batchers = {}

    def enabled(self):
        return self.settings is not None

    def get(self, predictor, model, version):
        key = id(predictor)
        batcher = self._batchers.get(key)
        if batcher is None or batcher.predictor is not predictor:
            batcher = self._batchers[key] = Batcher(predictor, self.settings, self.metrics,
                                                    model, version)
        return batcher


def _rows(inputs):
    """How many instances a request holds, at a glance (prepare() checks)."""
    first = next(iter(inputs.values())) if isinstance(inputs, dict) else inputs
    try:
        return len(first)
    except TypeError:
        return 0


@dataclasses.dataclass
class _Request:
    signature: str
    feed: dict
    rows: int
    future: asyncio.Future

    def key(self):
        return (self.signature,) + tuple(
            (name, array.shape[1:], array.dtype.str) for name, array in sorted(self.feed.items()))


class Batcher:
    def __init__(self, predictor, settings, metrics, model, version):
        self.predictor = predictor
        self.settings = settings
        self.metrics = metrics
        self.labels = {"model": model, "version": str(version)}
        self._queue = []
        self._running = False
        self._last_seconds = 1.0

    async def predict(self, inputs, signature_name=None):
        """The outputs (by name) for ``inputs``, run alone or merged with
        other requests."""
        from starlette.concurrency import run_in_threadpool

        name = signature_name or self.predictor.default_signature
        if _rows(inputs) >= self.settings.max_batch_size:
            # Nothing to merge it with; and a large request is checked and
            # cast off the event loop.
            return await run_in_threadpool(self.predictor.predict, inputs, name)
        feed, rows = self.predictor.prepare(inputs, name)
        if not self._running and not self._queue and rows <= INLINE_ROWS \
                and self._last_seconds <= INLINE_SECONDS:
            return self._run_now(name, feed, rows)
        request = _Request(name, feed, rows, asyncio.get_running_loop().create_future())
        self._queue.append(request)
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        return await request.future

    def _run_now(self, name, feed, rows):
        started = time.perf_counter()
        try:
            return self.predictor._run(name, feed)
        finally:
            self._last_seconds = time.perf_counter() - started
            self._observe(rows)

    async def _drain(self):
        from starlette.concurrency import run_in_threadpool

        try:
            while self._queue:
                delay = self.settings.max_queue_delay
                if delay > 0 and sum(r.rows for r in self._queue) < self.settings.max_batch_size:
                    await asyncio.sleep(delay)
                batch = self._take()
                merged = {name: np.concatenate([r.feed[name] for r in batch])
                          for name in batch[0].feed}
                rows = sum(r.rows for r in batch)
                started = time.perf_counter()
                try:
                    outputs = await run_in_threadpool(self.predictor._run, batch[0].signature,
                                                      merged)
                except Exception as failure:
                    for request in batch:
                        if not request.future.done():
                            request.future.set_exception(failure)
                    continue
                finally:
                    self._last_seconds = time.perf_counter() - started
                self._observe(rows)
                start = 0
                for request in batch:
                    part = {k: v[start:start + request.rows] for k, v in outputs.items()}
                    start += request.rows
                    if not request.future.done():  # the client may have gone
                        request.future.set_result(part)
        finally:
            self._running = False

    def _take(self):
        """The first queued request and the next ones that can go with it,
        up to max_batch_size rows; the others stay queued, in order."""
        first = self._queue[0]
        key, rows, batch, rest = first.key(), 0, [], []
        for request in self._queue:
            if request.key() == key and rows + request.rows <= self.settings.max_batch_size:
                batch.append(request)
                rows += request.rows
            else:
                rest.append(request)
        self._queue = rest
        return batch

    def _observe(self, rows):
        if self.metrics is not None:
            self.metrics.batch(self.labels["model"], self.labels["version"], rows)
