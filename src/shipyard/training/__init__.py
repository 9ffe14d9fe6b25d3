"""Training: the loop written once (:class:`Trainer`), its callbacks, data loading, optimizers, checkpoints."""

from shipyard.training.callbacks import Callback
from shipyard.training.trainer import Trainer, TrainResult, TrainState

__all__ = ["Callback", "Trainer", "TrainResult", "TrainState"]
