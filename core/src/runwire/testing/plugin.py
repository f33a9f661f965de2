"""runwire's pytest plugin (entry point ``pytest11``: ``runwire``), active wherever runwire is
installed.

- ``async def`` tests run on a fresh event loop when no other plugin (pytest-asyncio, anyio)
  runs them, so a plugin's tests need no asyncio configuration. Async *fixtures* still need
  pytest-asyncio.
- The :func:`runwire_plugins` fixture: the plugins a test's workflows run with. By default the
  modules of the ``runwire_plugins`` ini option (plus core's built-ins), or every installed
  plugin when that option is unset; override the fixture in a ``conftest.py`` for anything else.
- :func:`runwire_node_runner`: ``runwire_node_runner("Reverse Text")`` returns a
  :class:`~runwire.testing.NodeRunner` over :func:`runwire_plugins`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import pytest

from runwire.plugins import Plugins
from runwire.testing import NodeRunner, node_runner, plugins_from

INI_PLUGINS = "runwire_plugins"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the ``runwire_plugins`` ini option."""
    parser.addini(
        INI_PLUGINS,
        type="linelist",
        default=[],
        help="runwire: plugin modules the runwire_plugins fixture registers (default: all installed)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a coroutine test function that no other plugin took on a new event loop."""
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(function(**kwargs))
    return True


@pytest.fixture
def runwire_plugins(pytestconfig: pytest.Config) -> Plugins:
    """Plugins for a test's workflows: the ``runwire_plugins`` ini modules, or all installed."""
    modules: list[str] = pytestconfig.getini(INI_PLUGINS)
    return plugins_from(*modules) if modules else Plugins.load()


@pytest.fixture
def runwire_node_runner(runwire_plugins: Plugins) -> Callable[..., NodeRunner]:
    """``runwire_node_runner(name, type=..., node_id=...)``: a node runner over ``runwire_plugins``."""

    def make(name: str | None = None, **options: Any) -> NodeRunner:
        return node_runner(runwire_plugins, name, **options)

    return make
