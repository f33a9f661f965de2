"""The ``[[ name ]]`` output formatter: a file's lines."""

from __future__ import annotations

from runwire import OutputFormatter


class LinesFormatter(OutputFormatter):
    """The lines of UTF-8 text (invalid bytes replaced), without their line ends."""

    format = "[[ name ]]"

    def format_bytes(self, data: bytes) -> list[str]:
        """``data`` split into lines."""
        return data.decode("utf-8", errors="replace").splitlines()
