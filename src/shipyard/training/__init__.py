"""The training loop, written once: devices, early stopping, progress."""

from shipyard.training.trainer import Trainer, TrainResult

__all__ = ["Trainer", "TrainResult"]
