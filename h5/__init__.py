"""wxcard-h5: the backend for Weixin Cards & Offers landing pages, redirects and event pushes."""

__version__ = "0.1.0"
