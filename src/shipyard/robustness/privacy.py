"""Differentially private training (``train.privacy``): DP-SGD (Abadi et al. 2016) with Opacus.

A trainer callback: in ``on_fit_start`` it hands the network, the optimizer and
the training loader to Opacus's ``PrivacyEngine.make_private_with_epsilon``
and installs what comes back, the per-sample-gradient module, the noisy
optimizer (each row's gradient clipped to ``max_grad_norm``, Gaussian noise
added) and a Poisson-sampled loader, through the trainer's seam
(:class:`~shipyard.training.callbacks.Callback`). The noise is calibrated so
that ``train.epochs`` epochs spend at most ``epsilon`` at ``delta`` (PRV
accountant, Gopi, Lee & Wutschitz 2021); the epsilon actually spent (less
when early stopping ends training sooner) is reported at the end (asking the
PRV accountant costs about 0.1 s, too much for every epoch).

What the guarantee covers: the training rows' influence on the network's
weights. The validation rows choose the kept epoch (post-processing, no
further cost to the training rows); the fitted preprocessing (means,
standard deviations, medians, categories, ranges) is computed from the
training rows without noise and ships in the bundle.

A DP-SGD run is not resumable: the accountant's history is not saved in
checkpoints, so ``shipyard run --resume`` refuses it.
"""

from __future__ import annotations

import logging
import warnings
from importlib import metadata
from typing import TYPE_CHECKING, Any

from shipyard.errors import RecipeError, ShipyardError
from shipyard.training.callbacks import Callback

if TYPE_CHECKING:  # pragma: no cover
    from shipyard.recipe import Recipe
    from shipyard.training.trainer import Trainer, TrainResult, TrainState

ACCOUNTANT = "prv"
"""Opacus's privacy-loss-random-variable accountant (Gopi et al. 2021)."""
NOT_RESUMABLE = "train.privacy: a DP-SGD run cannot be resumed (the privacy accountant's history is not checkpointed)"


def default_delta(n_rows: int) -> float:
    """The smaller of 1e-5 and 1 / (10 n): delta well below the chance of picking one row out of ``n_rows``."""
    return min(1e-5, 1.0 / (10 * max(n_rows, 1)))


def check_private_training(recipe: "Recipe", n_features: int = 4, n_outputs: int = 2) -> None:
    """Refuse recipe options that DP-SGD cannot honour, before the run directory exists.

    Raises
    ------
    RecipeError
        When the model has layers that mix rows (BatchNorm), or resampling or
        augmentation would put one person's data into several training rows.
    """
    from opacus.validators import ModuleValidator

    from shipyard.models.registry import build_model

    if recipe.train.privacy is None:
        return
    errors = ModuleValidator.validate(build_model(recipe.model, n_features, n_outputs), strict=False)
    if errors:
        kinds = sorted({type(e).__name__ for e in errors})
        raise RecipeError(
            f"train.privacy: model.type '{recipe.model.type}' has layers DP-SGD cannot train with per-row gradients ({', '.join(kinds)}: "
            f"{str(errors[0]).splitlines()[0][:120]})",
            "use model.type: mlp, or remove train.privacy",
        )
    if recipe.imbalance.sampler != "none":
        raise RecipeError(
            f"train.privacy: imbalance.sampler '{recipe.imbalance.sampler}' copies or blends training rows, so one row would weigh in "
            "several gradients and DP-SGD's per-row guarantee would not hold",
            "use imbalance.class_weight: balanced instead, or remove train.privacy",
        )
    if recipe.prepare.augment.method != "none":
        raise RecipeError(
            f"train.privacy: prepare.augment '{recipe.prepare.augment.method}' adds rows made from training rows; DP-SGD's per-row guarantee would not hold",
            "remove prepare.augment or train.privacy",
        )


class DPSGD(Callback):
    """Train with DP-SGD: Opacus's per-sample clipping, Gaussian noise and Poisson sampling.

    Parameters
    ----------
    epsilon : float
        Target privacy budget over ``epochs``.
    delta : float
    max_grad_norm : float
        L2 bound of each row's gradient.
    epochs : int
        Epochs the noise is calibrated for (``train.epochs``).
    seed : int
        Seeds the Poisson sampling of the rows.
    """

    def __init__(self, epsilon: float, delta: float, max_grad_norm: float, epochs: int, seed: int = 0) -> None:
        self.epsilon, self.delta, self.max_grad_norm, self.epochs, self.seed = epsilon, delta, max_grad_norm, epochs, seed
        self.engine: Any = None
        self._warnings: Any = None
        self._logger_level = logging.NOTSET

    def on_fit_start(self, trainer: "Trainer", state: "TrainState") -> None:
        if state.epoch > 0:
            raise ShipyardError(NOT_RESUMABLE, "start the run again")
        from opacus import PrivacyEngine

        self._quiet()
        self.engine = PrivacyEngine(accountant=ACCOUNTANT)
        loader = trainer.train_loader
        loader.generator.manual_seed(self.seed)  # the Poisson sampler draws from the loader's generator
        trainer.model, trainer.optimizer, trainer.train_loader = self.engine.make_private_with_epsilon(
            module=trainer.model,
            optimizer=trainer.optimizer,
            data_loader=loader,
            target_epsilon=self.epsilon,
            target_delta=self.delta,
            epochs=self.epochs,
            max_grad_norm=self.max_grad_norm,
        )

    def on_fit_end(self, trainer: "Trainer", state: "TrainState", result: "TrainResult") -> None:
        optimizer = trainer.optimizer
        result.reports["dp_sgd"] = {
            "target_epsilon": self.epsilon,
            "epsilon": float(self.engine.get_epsilon(self.delta)),
            "delta": self.delta,
            "max_grad_norm": self.max_grad_norm,
            "noise_multiplier": float(optimizer.noise_multiplier),
            "sample_rate": float(trainer.train_loader.sample_rate),
            "expected_batch_size": int(optimizer.expected_batch_size),
            "steps": int(state.step),
            "epochs_calibrated": self.epochs,
            "epochs_run": int(state.epoch),
            "accountant": ACCOUNTANT,
            "library": f"opacus {metadata.version('opacus')}",
            "covers": "the network's weights (training rows); not the preprocessing statistics fitted on them",
        }
        self._restore(trainer)

    def on_exception(self, trainer: "Trainer", state: "TrainState", error: BaseException) -> None:
        self._restore(trainer)

    def _restore(self, trainer: "Trainer") -> None:
        """Remove Opacus's hooks and per-sample attributes; the trainer's network and optimizer are the plain ones again."""
        model = trainer.model
        if model is not trainer.network and hasattr(model, "_close"):
            model._close()
        trainer.model = trainer.network
        trainer.optimizer = getattr(trainer.optimizer, "original_optimizer", trainer.optimizer)
        for parameter in trainer.network.parameters():
            parameter.grad = None
        if self._warnings is not None:
            self._warnings.__exit__(None, None, None)
            self._warnings = None
            logging.getLogger("opacus").setLevel(self._logger_level)

    def _quiet(self) -> None:
        """Silence, for the training only, Opacus's notices that do not concern the user (insecure RNG for research use, drop_last)."""
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.filterwarnings("ignore", message=".*[Ss]ecure RNG.*")
        warnings.filterwarnings("ignore", message=".*Full backward hook is firing.*")
        warnings.filterwarnings("ignore", message=".*Optimal order is the largest alpha.*")
        logger = logging.getLogger("opacus")
        self._logger_level = logger.level
        logger.setLevel(logging.ERROR)


def private_callback(recipe: "Recipe", n_rows: int) -> DPSGD:
    """The recipe's DP-SGD callback for ``n_rows`` training rows (delta defaulted by :func:`default_delta`)."""
    spec = recipe.train.privacy
    delta = spec.delta if spec.delta is not None else default_delta(n_rows)
    return DPSGD(spec.epsilon, delta, spec.max_grad_norm, recipe.train.epochs, recipe.seed)

