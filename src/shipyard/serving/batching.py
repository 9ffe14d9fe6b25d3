"""Micro-batching: concurrent requests share one onnxruntime call.

Each request is coerced on its own (its input errors stay its own), queued,
and the queue is drained into batches of at most ``max_batch_size`` records:
the first waiting request starts a batch at once (with ``max_wait_ms = 0``,
nothing ever waits for company), and the requests that arrive while a batch
runs form the next one. Results are split back per request in order. This is
the dynamic batching of model servers such as Triton and TorchServe, with
the batch formed by the queue rather than a timer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from shipyard.predictor import ModelInput, Predictor


@dataclass
class _Item:
    predictor: Predictor
    model_input: ModelInput
    future: asyncio.Future


class MicroBatcher:
    """Group queued requests into batched onnxruntime calls, run on one dedicated thread.

    Parameters
    ----------
    max_batch_size : int
        Most records per call; a request larger than this runs alone.
    max_wait_ms : float
        After the first request of a batch, wait up to this long (milliseconds) for more.
    on_batch : callable, optional
        Called with the number of records of each call (e.g. a Prometheus histogram).
    """

    def __init__(self, max_batch_size: int = 256, max_wait_ms: float = 0.0, on_batch: Callable[[int], None] | None = None) -> None:
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.on_batch = on_batch
        self._pending: deque[_Item] = deque()
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shipyard-onnx")

    async def predict(self, predictor: Predictor, model_input: ModelInput) -> np.ndarray:
        """The model's output for one request's coerced records, computed in a batch with whatever else is waiting."""
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done():
            self._wakeup = asyncio.Event()
            self._worker = loop.create_task(self._run())
        future = loop.create_future()
        self._pending.append(_Item(predictor, model_input, future))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self.max_wait > 0:
                deadline = loop.time() + self.max_wait
                while sum(i.model_input.n_rows for i in self._pending) < self.max_batch_size and loop.time() < deadline:
                    self._wakeup.clear()
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), deadline - loop.time())
                    except TimeoutError:
                        break
            batch = self._take()
            try:
                outputs = await loop.run_in_executor(self._executor, self._call, batch)
            except Exception as exc:  # noqa: BLE001  every request of the batch gets the error
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            for item, output in zip(batch, outputs):
                if not item.future.done():  # the client may have gone away
                    item.future.set_result(output)

    def _take(self) -> list[_Item]:
        """The next batch: queued requests of the same model, in order, up to ``max_batch_size`` records (at least one)."""
        first = self._pending.popleft()
        batch, rows = [first], first.model_input.n_rows
        while self._pending:
            item = self._pending[0]
            if item.predictor is not first.predictor or rows + item.model_input.n_rows > self.max_batch_size:
                break
            batch.append(self._pending.popleft())
            rows += item.model_input.n_rows
        return batch

    def _call(self, batch: list[_Item]) -> list[np.ndarray]:
        inputs = [item.model_input for item in batch]
        output = batch[0].predictor.run(ModelInput.concat(inputs))
        if self.on_batch is not None:
            self.on_batch(len(output))
        bounds = np.cumsum([0] + [i.n_rows for i in inputs])
        return [output[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def close(self) -> None:
        """Stop the worker and the thread."""
        if self._worker is not None:
            self._worker.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
