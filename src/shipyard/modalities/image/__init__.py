"""Image input: arrays of pixels (a .npz, a folder of image files per class, or sklearn:digits), scaled to [0, 1].

Modules: :mod:`~shipyard.modalities.image.reading` (torch-free; shared by
preparation and batch prediction), :mod:`~shipyard.modalities.image.checks`,
:mod:`~shipyard.modalities.image.modality`, :mod:`~shipyard.modalities.image.augment`
(kornia, mixup, CutMix), :mod:`~shipyard.modalities.image.export`,
:mod:`~shipyard.modalities.image.explain` (Integrated Gradients saliency) and
:mod:`~shipyard.modalities.image.attacks` (FGSM and PGD in pixel space).
"""
