"""The landing page (placeholder until it is built)."""

routes: list = []
