"""ONNX export and the bundle (the deployable unit).

``shipyard.export.bundle`` is torch-free and is what serving reads;
``shipyard.export.onnx_graph`` builds the graph at training time.
"""
