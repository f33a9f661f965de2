"""The ``[[ name ]]`` output formatter."""

from __future__ import annotations

from runwire.plugins import Plugins


def test_the_formatter_splits_lines(runwire_plugins: Plugins) -> None:
    cls = runwire_plugins.formatters.get("[[ name ]]")
    assert cls is not None
    assert cls().format_bytes(b"one\ntwo\r\n\xff") == ["one", "two", "\ufffd"]
