"""chuong hub: the daemon at the police post that turns button presses into alarms."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("chuong")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
