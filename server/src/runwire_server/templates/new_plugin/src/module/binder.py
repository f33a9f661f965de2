"""The ``[[ ident ]]`` input binder: a request header as a variable."""

from __future__ import annotations

from runwire import BinderConfig, InputBinder, RequestParts


class HeaderConfig(BinderConfig):
    """One entry of ``[[ ident ]]_args``: ``{"env_var_name": "TOKEN", "header": "X-Token"}``."""

    header: str


class HeaderBinder(InputBinder):
    """Binds the value of a request header (``""`` when the request has none)."""

    kind = "[[ ident ]]"
    config_model = HeaderConfig

    def bind(self, request: RequestParts) -> str:
        """The header's value."""
        assert isinstance(self.config, HeaderConfig)
        return request.headers.get(self.config.header.lower(), "")
