"""Application layer: the ``htr`` command line (and, later, the pipeline and queue)."""
