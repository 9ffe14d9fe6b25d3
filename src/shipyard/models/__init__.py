"""Networks built from the recipe's ``model`` section.

- :mod:`shipyard.models.specs`: the pydantic spec of each model kind (torch-free, read by the recipe);
- :mod:`shipyard.models.registry`: :class:`~shipyard.models.registry.ModelKind`, ``register_model_kind``, ``build_model``;
- one module per architecture (:mod:`~shipyard.models.mlp`, :mod:`~shipyard.models.resnet`).

This package's ``__init__`` imports nothing, so reading a recipe never imports torch.
"""
