"""Tasks: what kind of prediction a recipe asks for (``task: classification | regression``).

:func:`get_task` returns the :class:`~shipyard.tasks.base.Task` object that
owns everything task-specific (target, output head, loss, metrics, baselines,
decision rule, bundle outputs, recipe checks). A new task is one subclass and
one :func:`register_task` call.
"""

from __future__ import annotations

from shipyard.errors import RecipeError
from shipyard.tasks.base import Target, Task
from shipyard.tasks.classification import Classification
from shipyard.tasks.regression import Regression

_TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add a task to the registry under ``task.name`` (registering a name again replaces it)."""
    _TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    """The task named by the recipe's (or the manifest's) ``task``.

    Raises
    ------
    RecipeError
        If no task of that name is registered.
    """
    try:
        return _TASKS[name]
    except KeyError:
        raise RecipeError(f"task: unknown task {name!r}", f"use one of {', '.join(sorted(_TASKS))}") from None


register_task(Classification())
register_task(Regression())

__all__ = ["Classification", "Regression", "Target", "Task", "get_task", "register_task"]
