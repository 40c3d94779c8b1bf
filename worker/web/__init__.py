"""The review web app (``htr serve``)."""
