"""The wire formats of the APIs besides OpenAI's chat completions (which is `openai_schema`):
`anthropic` (the Messages API) and `responses` (OpenAI's Responses API). Requests as pydantic
models, lenient like `openai_schema`; what goes out is built by the renderers (render/)."""
