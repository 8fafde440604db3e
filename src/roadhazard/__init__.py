"""Roadhazard: road hazard detection and reporting service."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("roadhazard")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
