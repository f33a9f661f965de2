"""The ``basic-node`` named "LLM OpenAI": a chat completion on any OpenAI-compatible API.

The OpenAI SDK is imported when a node first runs, not when the plugin loads: importing it takes
a few hundred milliseconds and tens of MiB, which every ``runwire`` command and idle server would
pay whether or not a workflow calls an LLM.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from runwire import ConfigInvalid, NodeContext, NodeData, NodeFailed, NodeOutput, NodeType, to_text
from runwire_llm_openai.config import API_KEY_ENV, API_KEY_FILE_ENV, OpenAISettings
from runwire_llm_openai.content import NOT_JSON, parse_json_content

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)
ERROR_DETAIL_CHARS = 300


class Message(BaseModel):
    """One prompt message; ``message`` takes ``{{ }}`` templates."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    role: Literal["system", "developer", "user", "assistant"]
    message: str


class LlmSettings(BaseModel):
    """Model settings, as the reference names them, plus runwire's connection settings."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    model_name: str = Field(min_length=1, description="Model to call, e.g. gpt-4o.")
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0, description="Cap on completion tokens.")
    response_format: Literal["text", "json_object"] = Field(
        default="text", description='"json_object" asks the model for a JSON object (JSON mode).'
    )
    base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible base URL for this node; must be OPENAI_BASE_URL or listed in "
        "RUNWIRE_LLM_BASE_URLS.",
    )
    max_retries: int = Field(
        default=2, ge=0, le=10, description="SDK retries on connection errors, 408, 409, 429 and 5xx."
    )
    request_timeout: float = Field(default=120.0, gt=0, le=900, description="Seconds per attempt.")


class LlmOpenAIData(NodeData):
    """``data`` of an "LLM OpenAI" node."""

    messages: list[Message] = Field(min_length=1)
    settings: LlmSettings


def _usage(completion: Any) -> dict[str, int]:
    usage = getattr(completion, "usage", None)
    if usage is None:
        return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    return {
        "prompt_tokens": int(usage.prompt_tokens or 0),
        "completion_tokens": int(usage.completion_tokens or 0),
        "total_tokens": int(usage.total_tokens or 0),
    }


def _detail(exc: openai.APIError) -> str:
    """The API's own error message when it sent one, else the SDK's."""
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    return (message if isinstance(message, str) and message else str(exc.message))[:ERROR_DETAIL_CHARS]


RETRYABLE_4XX = frozenset({408, 409, 429})
"""The 4xx answers another attempt may change; any other 4xx says the request itself (key,
model, messages) is wrong, and the node's ``retries`` are not spent on it (nor are the SDK's)."""


class LlmOpenAINode(NodeType):
    """Sends the rendered messages to a chat-completions API and returns the reply."""

    type = "basic-node"
    name = "LLM OpenAI"
    title = "LLM OpenAI"
    description = (
        "Chat completion on OpenAI or any OpenAI-compatible API. messages[].message takes {{ }} "
        "templates; the reply is result.content (always a string), result.json when it is JSON."
    )
    data_model = LlmOpenAIData

    async def run(self, data: LlmOpenAIData, ctx: NodeContext) -> NodeOutput:
        """Call the API; return ``{content, usage, model, finish_reason, json?}`` and the cost."""
        settings = data.settings
        try:
            config = self.plugin_settings(OpenAISettings)
            base_url = config.base_url_for(settings.base_url)
        except ConfigInvalid as exc:  # the operator's or the node's own settings: no retry fixes it
            raise NodeFailed(str(exc), retryable=False) from None
        if config.api_key is None:
            raise NodeFailed(f"{API_KEY_ENV} is not set (nor {API_KEY_FILE_ENV})", retryable=False)
        messages = [{"role": m.role, "content": to_text(ctx.render(m.message))} for m in data.messages]
        request: dict[str, Any] = {"model": settings.model_name, "messages": messages}
        if settings.temperature is not None:
            request["temperature"] = settings.temperature
        if settings.max_tokens is not None:
            request["max_tokens"] = settings.max_tokens
        if settings.response_format != "text":
            request["response_format"] = {"type": settings.response_format}
        import openai  # here, not at module level: see the module's docstring
        from openai.types.chat import ChatCompletion

        client = openai.AsyncOpenAI(
            api_key=config.api_key.get_secret_value(),
            base_url=base_url,
            max_retries=settings.max_retries,
            timeout=settings.request_timeout,
            http_client=attempt_bounded_client(settings.request_timeout),
        )
        async with client:
            try:
                completion = await client.chat.completions.create(**request)
            except openai.APIStatusError as exc:
                raise NodeFailed(
                    f"LLM API answered HTTP {exc.status_code}: {_detail(exc)}",
                    retryable=exc.status_code >= 500 or exc.status_code in RETRYABLE_4XX,
                ) from None
            except openai.APITimeoutError:
                raise NodeFailed(f"LLM API timed out after {settings.request_timeout:g} s") from None
            except openai.APIConnectionError as exc:
                raise NodeFailed(f"cannot reach the LLM API: {_detail(exc)}") from None
            except openai.APIError as exc:
                raise NodeFailed(f"LLM API error: {_detail(exc)}") from None
            except ValueError:  # a reply that claims to be JSON but is not
                raise NodeFailed("LLM API returned a reply that is not valid JSON") from None
        if not isinstance(completion, ChatCompletion):  # the SDK hands non-JSON bodies back as text
            raise NodeFailed("LLM API returned something that is not a chat completion")
        if not completion.choices:
            raise NodeFailed("LLM API returned no choices")
        choice = completion.choices[0]
        content = choice.message.content or getattr(choice.message, "refusal", None) or ""
        usage = _usage(completion)
        model = completion.model or settings.model_name
        result: dict[str, Any] = {
            "content": content,
            "usage": usage,
            "model": model,
            "finish_reason": choice.finish_reason,
        }
        parsed = parse_json_content(content)
        if parsed is not NOT_JSON:
            result["json"] = parsed
        cost = config.price_table.cost(model, usage["prompt_tokens"], usage["completion_tokens"])
        if cost is None:
            cost = config.price_table.cost(
                settings.model_name, usage["prompt_tokens"], usage["completion_tokens"]
            )
        if cost is None:
            log.warning("no price for model %r: its cost is counted as 0", model)
        return NodeOutput(result, cost=cost or 0.0)


def attempt_bounded_client(seconds: float) -> Any:
    """The SDK's default HTTP client, each attempt (connect, send, the whole answer) bounded by
    ``seconds`` (``request_timeout``).

    The SDK hands ``timeout`` to its HTTP library, which applies it to each operation apart: to
    each read, so an API that sends its answer a few bytes at a time held an attempt for as long
    as it kept sending. An attempt over time raises the library's own ``ReadTimeout``, which the
    SDK retries (``max_retries``) and reports as a timeout like any other.
    """
    client = _attempt_bounded_class()()
    client.attempt_s = seconds
    return client


@functools.cache
def _attempt_bounded_class() -> Any:
    """The SDK's default HTTP client class, its ``send`` bounded by the instance's ``attempt_s``
    (made once: the SDK, and with it its HTTP library, is imported at the first call)."""
    import openai

    base = openai.DefaultAsyncHttpxClient
    library = importlib.import_module(base.__mro__[1].__module__.split(".")[0])  # httpx2 or httpx

    class AttemptBounded(base):  # type: ignore[misc,valid-type]
        attempt_s: float

        async def send(self, request: Any, **kwargs: Any) -> Any:
            try:
                async with asyncio.timeout(self.attempt_s):
                    return await super().send(request, **kwargs)
            except TimeoutError:
                raise library.ReadTimeout(
                    f"no whole answer within {self.attempt_s:g} s", request=request
                ) from None

    return AttemptBounded
