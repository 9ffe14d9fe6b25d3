"""Text input: a column of raw text, tokenized by the encoder's own ``tokenizer.json``.

Modules: :mod:`~shipyard.modalities.text.tokenizer` (torch-free; shared by
preparation and serving), :mod:`~shipyard.modalities.text.checks` (data
checks and profile), :mod:`~shipyard.modalities.text.modality` (the
:class:`~shipyard.modalities.base.Modality`), :mod:`~shipyard.modalities.text.dataset`
(dynamic padding), :mod:`~shipyard.modalities.text.export`,
:mod:`~shipyard.modalities.text.explain` (Integrated Gradients),
:mod:`~shipyard.modalities.text.perturb` (typos and word deletion) and
:mod:`~shipyard.modalities.text.compress` (int8 and distillation).
"""
