"""The card event receiver (placeholder until it is built)."""

routes: list = []
