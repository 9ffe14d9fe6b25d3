"""The training loop: callbacks fire in order, early stopping keeps the best epoch, a resumed run ends where an uninterrupted one does."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from shipyard.models.registry import build_model
from shipyard.recipe import recipe_from_dict
from shipyard.training.callbacks import Callback, Checkpointer, EarlyStopping, GradientClipping
from shipyard.training.data import ArrayDataset, EpochSampler, batches
from shipyard.training.trainer import Trainer


def data(n: int = 300, seed: int = 0):
    """A noisy two-class problem (real overlap, so validation loss turns back up on a big network)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8)).astype(np.float32)
    y = ((X[:, 0] + 0.8 * X[:, 1] + rng.normal(scale=1.0, size=n)) > 0).astype(np.int64)
    return ArrayDataset(X[:200], y[:200]), ArrayDataset(X[200:], y[200:])


def spec(**train):
    raw = {"epochs": 30, "batch_size": 16, "learning_rate": 0.01, "early_stopping": {"patience": 5}, **train}
    recipe = recipe_from_dict({"name": "t", "data": {"source": "a.csv", "target": "y"}, "model": {"hidden_sizes": [64, 64], "dropout": 0.3}, "train": raw})
    return recipe


def network(recipe, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(recipe.model, 8, 2)


class Snapshots(Callback):
    """Records each epoch's validation loss and a copy of the weights."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.weights: list[dict] = []

    def on_epoch_end(self, trainer, state, entry):
        self.losses.append(entry["val_loss"])
        self.weights.append(copy.deepcopy(trainer.model.state_dict()))


def same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("enabled", [True, False], ids=["stopped early", "ran every epoch"])
def test_early_stopping_restores_the_best_epoch_however_training_ended(enabled):
    recipe = spec(early_stopping={"patience": 3, "enabled": enabled})
    model, snaps = network(recipe), Snapshots()
    trainer = Trainer(recipe.train, callbacks=[EarlyStopping(3, 0.0, enabled), snaps])
    result = trainer.fit(model, *data())
    best = int(np.argmin(snaps.losses))
    assert result.best_epoch == best + 1
    assert same(model.state_dict(), snaps.weights[best])
    assert result.stopped_early == enabled and len(result.history) == (len(snaps.losses))
    if enabled:
        assert len(result.history) == result.best_epoch + 3 < 30
    else:
        assert len(result.history) == 30 and result.best_epoch < 30  # the last epoch was not the best one kept


class Recorder(Callback):
    def __init__(self, name: str, log: list) -> None:
        self.name, self.log = name, log

    def __getattribute__(self, attr):
        if attr.startswith("on_"):
            log, name = object.__getattribute__(self, "log"), object.__getattribute__(self, "name")
            return lambda *args: log.append((name, attr))
        return object.__getattribute__(self, attr)


def test_callbacks_fire_in_order():
    recipe = spec(epochs=2, early_stopping={"enabled": False})
    log: list = []
    train, val = data()
    Trainer(recipe.train, callbacks=[Recorder("a", log), Recorder("b", log)]).fit(network(recipe), train, val)
    hooks = [h for who, h in log if who == "a"]
    per_batch = ["on_batch_start", "on_before_optimizer_step", "on_batch_end"]
    n_batches = len(train) // 16 + (len(train) % 16 > 1)
    epoch = ["on_epoch_start"] + per_batch * n_batches + ["on_epoch_end"]
    assert hooks == ["on_fit_start"] + epoch * 2 + ["on_fit_end"]
    # every hook reaches the callbacks in list order
    assert log[0::2] == [("a", h) for h in hooks] and log[1::2] == [("b", h) for h in hooks]


def test_on_batch_start_may_replace_the_batch():
    """A callback's returned batch is what later callbacks and the optimizer step see (adversarial training uses this)."""
    recipe = spec(epochs=1, early_stopping={"enabled": False})
    train, val = data()
    seen: list = []

    class Zero(Callback):
        def on_batch_start(self, trainer, state, batch):
            return batch[0] * 0, batch[1]

    class Spy(Callback):
        def on_batch_start(self, trainer, state, batch):
            seen.append(float(batch[0].abs().sum()))

    inputs: list = []
    model = network(recipe)
    model.register_forward_pre_hook(lambda module, args: inputs.append(float(args[0].abs().sum())) if module.training else None)
    Trainer(recipe.train, callbacks=[Zero(), Spy()]).fit(model, train, val)
    assert seen and all(v == 0 for v in seen)
    assert inputs and all(v == 0 for v in inputs)  # the step trained on the replaced batch


def test_on_fit_start_may_replace_the_model_the_optimizer_and_the_loader():
    """What DP-SGD needs: a wrapper sharing the network's parameters, another optimizer and loader, used by the loop."""
    recipe = spec(epochs=6, early_stopping={"patience": 2, "enabled": False})
    train, val = data()

    class Counting(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.calls = inner, 0

        def forward(self, x):
            self.calls += 1
            return self.inner(x)

    class Install(Callback):
        def on_fit_start(self, trainer, state):
            trainer.model = Counting(trainer.network)
            trainer.optimizer = torch.optim.SGD(trainer.network.parameters(), lr=0.05)
            trainer.train_loader = batches(train, 50, EpochSampler(len(train), seed=1))

        def on_fit_end(self, trainer, state, result):
            self.wrapper, trainer.model = trainer.model, trainer.network

    per_epoch: list = []

    class Count(Callback):
        def on_epoch_start(self, trainer, state):
            per_epoch.append(0)

        def on_batch_start(self, trainer, state, batch):
            per_epoch[-1] += 1

    class NetworkSnapshots(Snapshots):
        def on_epoch_end(self, trainer, state, entry):
            self.weights.append(copy.deepcopy(trainer.network.state_dict()))

    model, install, snaps = network(recipe), Install(), NetworkSnapshots()
    trainer = Trainer(recipe.train, callbacks=[EarlyStopping(2, 0.0, False), install, Count(), snaps])
    result = trainer.fit(model, train, val)
    assert per_epoch == [4] * 6  # 200 rows in batches of 50, not 16
    assert install.wrapper.calls >= 6 * 4 and isinstance(trainer.optimizer, torch.optim.SGD)
    assert trainer.network is model and trainer.model is model
    # Early stopping kept the best epoch's weights in the network itself.
    assert same(model.state_dict(), snaps.weights[result.best_epoch - 1])


def test_exception_reaches_callbacks_and_is_raised():
    recipe = spec(epochs=3)
    log: list = []

    class Boom(Callback):
        def on_epoch_end(self, trainer, state, entry):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Trainer(recipe.train, callbacks=[Boom(), Recorder("r", log)]).fit(network(recipe), *data())
    assert ("r", "on_exception") in log and ("r", "on_fit_end") not in log


@pytest.mark.parametrize("schedule", [{"type": "none"}, {"type": "cosine", "warmup": 0.1}, {"type": "onecycle"}])
def test_resume_from_a_checkpoint_gives_the_weights_of_an_uninterrupted_run(schedule):
    """Deterministic on the CPU: optimizer, schedule, early-stopping state, sampler epoch and dropout RNG all restored."""
    recipe = spec(epochs=20, schedule=schedule, early_stopping={"patience": 4})
    train, val = data()
    saved: dict = {}

    def save(trainer, state):
        if state.epoch == 6:
            saved["weights"] = copy.deepcopy(trainer.model.state_dict())
            saved["state"] = copy.deepcopy(trainer.training_state())

    full = network(recipe)
    full_result = Trainer(recipe.train, seed=3, callbacks=[EarlyStopping(4), Checkpointer(save, 1)]).fit(full, train, val)

    resumed = network(recipe, seed=99)  # another initialisation: everything must come from the checkpoint
    resumed.load_state_dict(saved["weights"])
    torch.manual_seed(12345)  # and the global RNG is restored from it too
    result = Trainer(recipe.train, seed=3, callbacks=[EarlyStopping(4)]).fit(resumed, train, val, resume=saved["state"])
    assert result.resumed_from_epoch == 6
    assert same(full.state_dict(), resumed.state_dict())
    assert result.history == full_result.history or [e["val_loss"] for e in result.history] == [e["val_loss"] for e in full_result.history]
    assert (result.best_epoch, result.stopped_early, len(result.history)) == (full_result.best_epoch, full_result.stopped_early, len(full_result.history))


def test_patience_counter_survives_a_resume():
    recipe = spec(epochs=40, early_stopping={"patience": 3})
    train, val = data()
    full_result = Trainer(recipe.train, callbacks=[EarlyStopping(3)]).fit(network(recipe), train, val)
    assert full_result.stopped_early
    stop = len(full_result.history)
    saved: dict = {}

    def save(trainer, state):
        if state.epoch == stop - 1:  # one epoch before stopping: the counter is at patience - 1
            saved["state"] = copy.deepcopy(trainer.training_state())
            saved["weights"] = copy.deepcopy(trainer.model.state_dict())

    Trainer(recipe.train, callbacks=[EarlyStopping(3), Checkpointer(save, 1)]).fit(network(recipe), train, val)
    assert saved["state"]["callbacks"]["EarlyStopping"]["waited"] == 2
    model = network(recipe)
    model.load_state_dict(saved["weights"])
    result = Trainer(recipe.train, callbacks=[EarlyStopping(3)]).fit(model, train, val, resume=saved["state"])
    assert len(result.history) == stop and result.stopped_early and result.best_epoch == full_result.best_epoch


def test_gradient_clipping_bounds_the_gradient_norm():
    recipe = spec(epochs=1, learning_rate=0.5)
    norms: list[float] = []

    class Norm(Callback):
        def on_before_optimizer_step(self, trainer, state, optimizer):
            norms.append(float(torch.linalg.vector_norm(torch.cat([p.grad.reshape(-1) for p in trainer.model.parameters()]))))

    Trainer(recipe.train, callbacks=[GradientClipping(0.01), Norm()]).fit(network(recipe), *data())
    assert norms and max(norms) <= 0.01 + 1e-6


def test_schedules_warm_up_and_decay():
    from shipyard.training.optim import build_optimizer, build_scheduler

    recipe = spec(epochs=10, learning_rate=0.1, schedule={"type": "cosine", "warmup": 0.2})
    model = network(recipe)
    optimizer = build_optimizer(model, recipe.train)
    scheduler = build_scheduler(optimizer, recipe.train, steps_per_epoch=10)
    lrs = []
    for _ in range(100):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(0.1 / 20) and max(lrs) == pytest.approx(0.1) and np.argmax(lrs) == 19
    assert lrs[-1] < 0.001 and all(a >= b for a, b in zip(lrs[19:], lrs[20:]))
    assert build_scheduler(optimizer, spec().train, 10) is None  # constant rate: no scheduler


def test_sampler_permutation_depends_on_seed_and_epoch_only():
    sampler = EpochSampler(50, seed=7)
    sampler.set_epoch(3)
    first = list(sampler)
    other = EpochSampler(50, seed=7)
    other.set_epoch(3)
    assert list(other) == first and sorted(first) == list(range(50))
    other.set_epoch(4)
    assert list(other) != first
    loader = batches(ArrayDataset(np.arange(33, dtype=np.float32), np.arange(33)), 16, EpochSampler(33, seed=7))
    sizes = [len(x) for x, _ in loader]
    assert sizes == [16, 16]  # a last batch of one row is dropped (batch norm cannot train on it)


def test_threads_are_set_for_training_and_restored():
    recipe = spec(epochs=1, num_threads=1)
    seen: list[int] = []

    class Threads(Callback):
        def on_epoch_start(self, trainer, state):
            seen.append(torch.get_num_threads())

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        Trainer(recipe.train, callbacks=[Threads()]).fit(network(recipe), *data())
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
