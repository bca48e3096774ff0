"""The custom-entry redirect handler (placeholder until it is built)."""

routes: list = []
