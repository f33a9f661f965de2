"""Secret settings read from a file named by ``<NAME>_FILE`` (the container-secrets convention).

Standard library only, so the server and every plugin can use it for any setting.
"""

from __future__ import annotations

from collections.abc import Mapping

from runwire.errors import ConfigInvalid

FILE_SUFFIX = "_FILE"


def read_secret(environ: Mapping[str, str], name: str) -> str | None:
    """The value of setting ``name``, taken from ``environ[name]`` or the file ``environ[name + "_FILE"]``.

    A file is read as UTF-8 with trailing whitespace (the usual final newline) stripped; its
    content is never put in an error message. An empty value counts as unset, for both.

    :param environ: the settings, usually the process environment.
    :param name: the setting's name, e.g. ``OPENAI_API_KEY``.
    :returns: the file's content if ``<NAME>_FILE`` is set, else ``environ.get(name)``.
    :raises ConfigInvalid: both ``name`` and ``<NAME>_FILE`` are set, or the file cannot be
        read or is not UTF-8 text (the message names the variable and the path).
    """
    file_var = name + FILE_SUFFIX
    path = environ.get(file_var)
    if not path:
        return environ.get(name)
    if environ.get(name):
        raise ConfigInvalid(f"both {name} and {file_var} are set; set only one of them")
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().rstrip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigInvalid(f"{file_var}: cannot read secret file {path!r}: {reason}") from None
