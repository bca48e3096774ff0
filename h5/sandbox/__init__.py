"""An offline emulator of the Weixin server APIs that wxcard-h5 uses.

It is for development and tests only: it keeps its state in memory and issues tickets
and codes that mean nothing outside it.
"""

# The account the sandbox registers at start, used by ``wxcard demo`` and the tests.
DEFAULT_APPID = "wx5a0d5a0d5a0d5a0d"
DEFAULT_SECRET = "5a0d5a0d5a0d5a0d5a0d5a0d5a0d5a0d"

# The port ``wxcard sandbox`` listens on by default (the demo uses it too).
DEFAULT_PORT = 8100
