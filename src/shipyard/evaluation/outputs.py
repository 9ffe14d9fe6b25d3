"""What the evaluation scores: any model that maps the prepared data's rows to outputs.

The test metrics, their bootstrap intervals, the decision threshold and the
calibration report (:meth:`shipyard.tasks.base.Task.evaluate`) do not need to
know what the model is. A :class:`ModelOutputs` gives a model's outputs on a
part of the prepared data (``train``, ``validation`` or ``test``):
:func:`network_outputs` runs a PyTorch network on the preprocessed features,
:func:`onnx_outputs` runs an ONNX pipeline (preprocessing included) on the raw
coerced rows, as the bundle does, so a quantized or pruned variant is scored
by exactly the code that scores the network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from shipyard.data.prepared import Prepared
    from shipyard.tasks.base import Task

PARTS = ("train", "validation", "test")


class ModelOutputs:
    """A model's outputs on each part of the prepared data, computed once per part.

    Parameters
    ----------
    predict : callable
        ``predict(part) -> ndarray``: probabilities (n_part, n_classes) or values (n_part,)
        for the rows of ``part`` in ``("train", "validation", "test")``, in the split's row order.
    name : str
        What the model is, for messages.
    """

    def __init__(self, predict: Callable[[str], np.ndarray], name: str = "model") -> None:
        self._predict = predict
        self.name = name
        self._cache: dict[str, np.ndarray] = {}

    def __call__(self, part: str) -> np.ndarray:
        """Outputs on the rows of ``part``.

        Raises
        ------
        KeyError
            If ``part`` is not one of train, validation, test.
        """
        if part not in PARTS:
            raise KeyError(f"unknown part {part!r}; one of {PARTS}")
        if part not in self._cache:
            self._cache[part] = np.asarray(self._predict(part))
        return self._cache[part]

    def __repr__(self) -> str:
        return f"ModelOutputs({self.name!r})"


def network_outputs(task: "Task", network: Any, prepared: "Prepared") -> ModelOutputs:
    """A finished PyTorch network on the preprocessed features (``prepared.X[part]``), through the task's head."""
    return ModelOutputs(lambda part: task.predict(network, prepared.X[part]), "network")


def onnx_outputs(task: "Task", session: Any, prepared: "Prepared", name: str = "onnx") -> ModelOutputs:
    """An ONNX pipeline run by onnxruntime on the raw coerced rows of each part, as a bundle is.

    Parameters
    ----------
    task : Task
        Names the graph's output and shapes it (:meth:`~shipyard.tasks.base.Task.shape_output`).
    session : onnxruntime.InferenceSession
        Of a graph with one input per raw column (:func:`shipyard.export.onnx_graph.build_pipeline_onnx`).
    prepared : Prepared
        ``model_input`` (every row coerced) and the split.
    name : str
    """
    from shipyard.schema import onnx_feed

    def predict(part: str) -> np.ndarray:
        rows = prepared.model_input.iloc[getattr(prepared.split, part)]
        (out,) = session.run([task.output], onnx_feed(rows, prepared.schema))
        return task.shape_output(out)

    return ModelOutputs(predict, name)


def as_outputs(task: "Task", model: Any, prepared: "Prepared") -> ModelOutputs:
    """``model`` itself when it is a :class:`ModelOutputs`, else the outputs of a PyTorch network."""
    return model if isinstance(model, ModelOutputs) else network_outputs(task, model, prepared)
