"""A plugin's settings model: built once by the host from the environment, handed to its classes."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from runwire.auth import AuthServices
from runwire.errors import ConfigInvalid
from runwire.hookspecs import hookimpl
from runwire.nodes import NodeContext, NodeOutput, NodeType
from runwire.plugin_settings import PluginSettings, build_settings, masked
from runwire.plugins import Plugins, get_plugin_manager
from runwire_server.cli import main

BUILT: list[DemoSettings] = []


class DemoSettings(PluginSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_")

    count: int = Field(default=1, ge=1)
    token: SecretStr | None = None
    endpoint: str = Field(default="", validation_alias="DEMO_OTHER_URL")

    def model_post_init(self, context: Any) -> None:
        BUILT.append(self)


class DemoNode(NodeType):
    type = "demo-node"

    async def run(self, data: Any, ctx: NodeContext) -> NodeOutput:
        return NodeOutput({"count": self.plugin_settings(DemoSettings).count})


def demo_plugins() -> Plugins:
    """A fresh manager with a plugin module declaring ``settings_model``."""
    plugin = types.ModuleType("demo_plugin")
    plugin.settings_model = DemoSettings  # type: ignore[attr-defined]
    plugin.register_node_types = hookimpl(lambda: [DemoNode])  # type: ignore[attr-defined]
    pm = get_plugin_manager(load_entry_points=False)
    pm.register(plugin, name="demo")
    return Plugins(pm)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEMO_COUNT", "DEMO_TOKEN", "DEMO_TOKEN_FILE", "DEMO_OTHER_URL"):
        monkeypatch.delenv(name, raising=False)
    BUILT.clear()


def test_the_host_builds_the_settings_once_and_hands_them_to_the_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEMO_COUNT", "3")
    monkeypatch.setenv("DEMO_OTHER_URL", " http://x ")
    plugins = demo_plugins()
    node = plugins.node_type("demo-node", None)
    assert node is not None
    settings = node.plugin_settings(DemoSettings)
    assert (settings.count, settings.endpoint) == (3, "http://x")
    monkeypatch.setenv("DEMO_COUNT", "5")  # read at load time, not again
    assert node.plugin_settings(DemoSettings) is settings and len(BUILT) == 1


def test_a_setting_comes_from_its_file_and_secrets_are_masked(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret\n", encoding="utf-8")
    settings = build_settings(DemoSettings, {"DEMO_TOKEN_FILE": str(tmp_path / "token")})
    assert settings.token is not None and settings.token.get_secret_value() == "s3cret"
    assert masked(settings) == {"DEMO_COUNT": "1", "DEMO_TOKEN": "****", "DEMO_OTHER_URL": ""}
    with pytest.raises(ConfigInvalid, match="plugin demo: both DEMO_TOKEN and DEMO_TOKEN_FILE are set"):
        build_settings(DemoSettings, {"DEMO_TOKEN": "a", "DEMO_TOKEN_FILE": "/x"}, plugin="demo")


def test_a_bad_value_names_the_plugin_and_the_variable_and_the_plugin_still_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEMO_COUNT", "zero")
    plugins = demo_plugins()
    assert plugins.settings.problem("demo") is not None
    assert str(plugins.settings.problem("demo")).startswith("plugin demo: DEMO_COUNT: ")
    node = plugins.node_type("demo-node", None)
    assert node is not None
    with pytest.raises(ConfigInvalid, match="plugin demo: DEMO_COUNT"):
        node.plugin_settings(DemoSettings)


def test_an_auth_provider_gets_them_from_its_services_mapping() -> None:
    services = AuthServices(settings={"DEMO_COUNT": "7"})
    assert services.settings_of(DemoSettings).count == 7
    hosted = AuthServices(settings={"DEMO_COUNT": "7"}, plugin_settings=demo_plugins().settings)
    assert hosted.settings_of(DemoSettings).count == 1  # what the host built from its environment


def test_runwire_plugins_shows_settings_with_secrets_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-do-not-show")
    monkeypatch.setenv("RUNWIRE_HTTP_ALLOW", "127.0.0.1")
    listed = CliRunner().invoke(main, ["plugins"])
    assert listed.exit_code == 0, listed.output
    assert "OPENAI_API_KEY=****" in listed.output and "sk-do-not-show" not in listed.output
    assert "RUNWIRE_HTTP_ALLOW=127.0.0.1" in listed.output
