"""Bazaar: system-design explainers made real, as one running shop."""

__version__ = "0.1.0"
