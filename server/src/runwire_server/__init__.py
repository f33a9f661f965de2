"""runwire server: the HTTP front doors, the queue workers, the run store and the CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("runwire-server")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"
