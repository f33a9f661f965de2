"""``read_secret``: a setting from its variable or from the file its ``_FILE`` variable names."""

from __future__ import annotations

from pathlib import Path

import pytest

from runwire.errors import ConfigInvalid
from runwire.secretfiles import read_secret

SECRET = "s3cr3t-value"


def test_the_variable_is_returned_when_no_file_is_named() -> None:
    assert read_secret({"API_KEY": SECRET}, "API_KEY") == SECRET
    assert read_secret({}, "API_KEY") is None
    assert read_secret({"API_KEY": SECRET, "API_KEY_FILE": ""}, "API_KEY") == SECRET


@pytest.mark.parametrize("content", [SECRET, f"{SECRET}\n", f"{SECRET}\r\n", f"{SECRET} \t\n\n"])
def test_the_file_is_read_and_trailing_whitespace_stripped(tmp_path: Path, content: str) -> None:
    path = tmp_path / "key"
    path.write_bytes(content.encode())
    assert read_secret({"API_KEY_FILE": str(path)}, "API_KEY") == SECRET


def test_a_file_keeps_inner_and_leading_characters_and_utf8(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("  a b\nc-é\n", encoding="utf-8")
    assert read_secret({"API_KEY_FILE": str(path)}, "API_KEY") == "  a b\nc-é"


def test_an_empty_variable_does_not_conflict_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(SECRET, encoding="utf-8")
    assert read_secret({"API_KEY": "", "API_KEY_FILE": str(path)}, "API_KEY") == SECRET


def test_both_set_is_an_error_that_names_both(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(SECRET, encoding="utf-8")
    with pytest.raises(ConfigInvalid, match="both API_KEY and API_KEY_FILE are set") as caught:
        read_secret({"API_KEY": "other", "API_KEY_FILE": str(path)}, "API_KEY")
    assert SECRET not in str(caught.value) and "other" not in str(caught.value)


def test_a_missing_file_names_the_variable_and_the_path(tmp_path: Path) -> None:
    path = tmp_path / "absent"
    with pytest.raises(ConfigInvalid, match="API_KEY_FILE") as caught:
        read_secret({"API_KEY_FILE": str(path)}, "API_KEY")
    assert str(path) in str(caught.value)


def test_a_directory_is_not_a_secret_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid, match="API_KEY_FILE") as caught:
        read_secret({"API_KEY_FILE": str(tmp_path)}, "API_KEY")
    assert str(tmp_path) in str(caught.value)


def test_a_file_that_is_not_utf8_is_refused_without_showing_its_content(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_bytes(SECRET.encode() + b"\xff\xfe")
    with pytest.raises(ConfigInvalid, match="API_KEY_FILE") as caught:
        read_secret({"API_KEY_FILE": str(path)}, "API_KEY")
    message = str(caught.value)
    assert str(path) in message
    assert SECRET not in message and "0xff" not in message
