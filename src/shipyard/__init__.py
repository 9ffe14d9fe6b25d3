"""Shipyard: from a dataset to a production-ready model with one declarative recipe.

>>> import shipyard
>>> result = shipyard.run("examples/breast_cancer.yaml")       # doctest: +SKIP
>>> model = shipyard.load(result.path)                          # doctest: +SKIP
>>> model.predict_proba(df)                                     # doctest: +SKIP

``shipyard.load`` and the server never import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Recipe", "load", "load_recipe", "run", "__version__"]

if TYPE_CHECKING:
    from shipyard.pipeline import run
    from shipyard.predictor import load
    from shipyard.recipe import Recipe, load_recipe


def __getattr__(name: str) -> Any:
    # Lazy, so that `shipyard.load` (serving) does not import torch.
    if name == "run":
        from shipyard.pipeline import run

        return run
    if name == "load":
        from shipyard.predictor import load

        return load
    if name in ("Recipe", "load_recipe"):
        from shipyard import recipe

        return getattr(recipe, name)
    raise AttributeError(f"module 'shipyard' has no attribute {name!r}")
