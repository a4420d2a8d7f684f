"""The OpenAI wire format we accept, named as OpenAI names it.

Lenient on purpose (like vLLM's protocol module): unknown fields are allowed and ignored, so
clients that send `temperature`, `top_p`, `user`, … keep working. Content parts are checked in
`conversation.py`, which can say exactly which part is unsupported.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatMessage(_Lenient):
    role: Role
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None  # an assistant's calls
    tool_call_id: str | None = None  # a tool message: the call it answers
    function_call: dict[str, Any] | None = None  # the pre-`tools` form of one call


class StreamOptions(_Lenient):
    include_usage: bool = False


class JsonSchemaFormat(_Lenient):
    name: str = "response"
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Lenient):
    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: JsonSchemaFormat | None = None


# What LMArena cannot honour: accepted, ignored, counted (README "Chat completions"; /metrics
# lmarenarev_ignored_parameters_total). Any other unknown field is counted as "other".
IGNORED_PARAMETERS = (
    "temperature", "top_p", "top_k", "min_p", "top_a", "seed", "logit_bias", "logprobs",
    "top_logprobs", "presence_penalty", "frequency_penalty", "repetition_penalty", "user",
    "service_tier", "store", "metadata", "reasoning_effort", "verbosity", "modalities", "audio",
    "prediction", "web_search_options",
)  # fmt: skip


class ChatCompletionRequest(_Lenient):
    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    # Tool calling, emulated in the prompt (docs/tools.md); `functions`/`function_call` are
    # the pre-`tools` names of the same thing.
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    # Checked as OpenAI checks them, so a wrong value is a 400 and not silently accepted.
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    stop: str | list[str] | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int | None = Field(None, ge=1)
    response_format: ResponseFormat | None = None

    def stop_sequences(self) -> tuple[str, ...]:
        stop = [self.stop] if isinstance(self.stop, str) else self.stop or []
        return tuple(s for s in stop if s)

    def token_limit(self) -> int | None:
        """max_completion_tokens (OpenAI's newer name) and max_tokens: the smaller, if any."""
        limits = [x for x in (self.max_tokens, self.max_completion_tokens) if x is not None]
        return min(limits) if limits else None

    def ignored_parameters(self) -> list[str]:
        """The parameters sent that LMArena cannot honour (null values are not sent), whether
        a field of this model (checked, like a temperature's range) or an extra one."""
        known = [name for name in IGNORED_PARAMETERS if getattr(self, name, None) is not None]
        extra = self.model_extra or {}
        other = any(v is not None for k, v in extra.items() if k not in IGNORED_PARAMETERS)
        return [*known, "other"] if other else known


class CompletionRequest(_Lenient):
    """`POST /v1/completions`, the legacy API: the prompt becomes one user message."""

    model: str = Field(min_length=1)
    prompt: str | list[str] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    max_tokens: int | None = Field(None, ge=1)
    n: int | None = Field(None, ge=1)
    echo: bool = False

    def as_chat(self) -> ChatCompletionRequest:
        """The same request as a chat completion (its other fields kept, counted as ignored)."""
        prompt = self.prompt if isinstance(self.prompt, str) else self.prompt[0]
        fields = {**(self.model_extra or {}), **self.model_dump(exclude={"prompt", "echo"})}
        fields["messages"] = [{"role": "user", "content": prompt}]
        return ChatCompletionRequest.model_validate(fields)


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "lmarenarev"
    type: str | None = None  # text, search, image; video, code, document: listed, not served yet
    arenas: list[str] | None = None  # LMArena's arenas holding the model (its catalogue, 2026)
    capabilities: dict[str, Any] | None = None  # LMArena's, with expose_available_models
    automatic: bool | None = None  # true: offered from LMArena's list (no models.json entry)


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# --- what we emit (documented in the OpenAPI schema; the renderers build the JSON) ---------------


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionToolCallFunction(BaseModel):
    name: str
    arguments: str  # JSON text


class ChatCompletionToolCall(BaseModel):
    id: str
    type: Literal["function"]
    function: ChatCompletionToolCallFunction


class ChatCompletionMessage(BaseModel):
    role: Literal["assistant"]
    content: str | None
    reasoning_content: str | None = None
    tool_calls: list[ChatCompletionToolCall] | None = None


class ChatCompletionChoice(BaseModel):
    index: int
    message: ChatCompletionMessage
    finish_reason: str | None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatCompletionChoice]
    usage: CompletionUsage | None = None


class ChoiceDeltaToolCall(BaseModel):
    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: ChatCompletionToolCallFunction | None = None


class ChoiceDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ChoiceDeltaToolCall] | None = None


class ChatCompletionChunkChoice(BaseModel):
    index: int
    delta: ChoiceDelta
    finish_reason: str | None = None


class ChatCompletionChunk(BaseModel):
    """One `data:` event of a stream (the last ones: usage with no choices, then `[DONE]`)."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChatCompletionChunkChoice]
    usage: CompletionUsage | None = None


class TextCompletionChoice(BaseModel):
    text: str
    index: int
    logprobs: None = None
    finish_reason: str | None


class TextCompletion(BaseModel):
    """`/v1/completions`' answer; with stream=true each event is one of these (the last ones:
    usage with no choices, then `[DONE]`)."""

    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[TextCompletionChoice]
    usage: CompletionUsage | None = None


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error envelope: every error the gateway sends has this shape."""

    error: ErrorDetail


# --- images ------------------------------------------------------------------------------------


class ImageGenerationRequest(_Lenient):
    """`POST /v1/images/generations` (quality, style, user, … are accepted and ignored)."""

    prompt: str = Field(min_length=1)
    model: str = Field(min_length=1)
    n: int = Field(1, ge=1, le=10)
    size: str | None = None
    response_format: Literal["url", "b64_json"] | None = None


class Image(BaseModel):
    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None


class ImagesResponse(BaseModel):
    created: int
    data: list[Image]
