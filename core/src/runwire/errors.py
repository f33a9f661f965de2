"""The error types of runwire core; the server maps each to one HTTP status in one place."""

from __future__ import annotations


class RunwireError(Exception):
    """Base of every error runwire raises on purpose."""


class PluginConflict(RunwireError):
    """Two plugins registered the same name in one registry (node type, binder, formatter, auth)."""


class PluginApiMismatch(RunwireError):
    """A plugin declares plugin API versions (``RUNWIRE_PLUGIN_API``) that exclude this runwire's."""


class WorkflowInvalid(RunwireError):
    """A workflow has structural problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems) if problems else "workflow is invalid")


class InputInvalid(RunwireError):
    """Run input does not satisfy the trigger's input fields; ``problems`` names each field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class TemplateError(RunwireError):
    """A ``{{ }}`` template could not be parsed or rendered."""


class TemplateRefused(TemplateError):
    """A template tried something the sandbox forbids (dunder access, huge output, ...)."""


class NodeFailed(RunwireError):
    """A node could not produce a result; the message is recorded on the node.

    ``retryable=False`` marks a failure that another attempt cannot fix (a refused URL, a
    missing file): the engine then skips the node's remaining retries.
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class BindingError(RunwireError):
    """An input binder could not bind its variable from the request (a client error)."""


class ConfigInvalid(RunwireError):
    """A configuration (binder, formatter, task config) is invalid; raised at start-up."""


class AuthRefused(RunwireError):
    """Credentials were presented but are not acceptable (bad key, forged or expired token)."""
