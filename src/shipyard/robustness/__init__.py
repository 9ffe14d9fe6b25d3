"""Robustness and privacy: evasion attacks (FGSM, PGD), membership inference, adversarial training and DP-SGD.

- :mod:`~shipyard.robustness.space`: where attacks move the input, in which units and bounds;
- :mod:`~shipyard.robustness.evasion`: FGSM and PGD (IBM's ART) and the random-noise baseline, as curves over epsilon;
- :mod:`~shipyard.robustness.membership`: loss-threshold and learned black-box membership inference;
- :mod:`~shipyard.robustness.adversarial`: adversarial training, a trainer callback;
- :mod:`~shipyard.robustness.privacy`: DP-SGD with Opacus, a trainer callback.

The attack stage (:mod:`shipyard.stages.attack`) runs the attacks on a finished
network; the trainer callbacks are added by
:func:`shipyard.training.fit.train_network` when the recipe asks for them.
ART and Opacus are imported only where they are used.
"""
