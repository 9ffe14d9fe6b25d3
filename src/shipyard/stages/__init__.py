"""The pipeline's stages, in order: prepare → train → evaluate → export.

Each stage takes the recipe and what earlier stages produced, and returns its
own results; ``shipyard.pipeline`` writes them to the run directory.
"""
