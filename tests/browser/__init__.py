"""Browser tests: the landing page and the card journey in Chromium, with the official JS-SDK."""
