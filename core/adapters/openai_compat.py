"""OpenAI-compatible Chat Completions: OpenAI and every catalog row whose protocol is "openai"
(Groq, DeepSeek, OpenRouter, Together, Mistral, vLLM, LM Studio, LiteLLM proxies, ...).

    GET  {base}/models                   listing and probe (free)
    POST {base}/chat/completions         stream=true, SSE chunks; usage arrives in the last
                                         chunk thanks to stream_options.include_usage

The listing, body and stream parsers are shared with the Azure OpenAI adapter.
"""

from __future__ import annotations

from typing import Any

import httpx

from core.adapters import failures, http, payloads, reasoning, streams
from core.adapters.base import Completion, ModelInfo, Target
from core.errors import ProviderBadResponse

# Listing 'type' values (Together, vLLM extensions) mapped to ModelInfo.kind.
_KINDS = {
    "chat": "inference",
    "language": "inference",
    "code": "inference",
    "embedding": "embedding",
    "embeddings": "embedding",
    "rerank": "rerank",
}


def parse_listing(payload: Any) -> list[ModelInfo]:
    """``{"data": [{"id": ...}, ...]}`` (or a bare list, as Together answers) to ModelInfo."""
    rows = payload.get("data") if isinstance(payload, dict) else payload
    with payloads.shape("model listing"):
        if not isinstance(rows, list):
            raise TypeError("no data list")
        return [
            ModelInfo(
                id=payloads.text(row["id"]),
                name=payloads.optional_text(row.get("name") or row.get("display_name")),
                created=payloads.from_unix(row.get("created") or row.get("created_at")),
                context_window=payloads.optional_int(
                    row.get("context_window")
                    or row.get("context_length")
                    or row.get("max_model_len")
                ),
                owned_by=payloads.optional_text(row.get("owned_by")),
                kind=_KINDS.get(str(row.get("type") or "").lower()),
            )
            for row in rows
        ]


def chat_body(model: str, prompt: str, max_tokens: int) -> dict[str, Any]:
    """A streamed one-message chat request with a budget the model can answer within."""
    budget = reasoning.output_budget(model, max_tokens)
    cap = "max_completion_tokens" if reasoning.is_openai_reasoning(model) else "max_tokens"
    return {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "stream_options": {"include_usage": True},
        cap: budget,
    }


def _usage(usage: Any) -> tuple[int | None, int | None]:
    if not isinstance(usage, dict):
        return None, None
    return (
        payloads.optional_int(usage.get("prompt_tokens")),
        payloads.optional_int(usage.get("completion_tokens")),
    )


def _from_message(payload: Any, model: str, clock: streams.Stopwatch) -> Completion:
    """A non-streamed answer, from a server that ignored ``stream: true``."""
    with payloads.shape("chat completion"):
        message = payload["choices"][0]["message"]
        text = message.get("content") or ""
        if not isinstance(text, str):
            raise TypeError("content is not text")
        clock.mark()
        tokens_in, tokens_out = _usage(payload.get("usage"))
        return Completion(
            model=payloads.optional_text(payload.get("model")) or model,
            text=text,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            ttft_ms=None,
            total_ms=clock.total_ms,
        )


def stream_chat(
    client: httpx.Client,
    target: Target,
    url: str,
    *,
    auth: dict[str, str],
    body: dict[str, Any],
    model: str,
    params: dict[str, str] | None = None,
) -> Completion:
    """POST a chat completion and read its SSE chunks into a Completion."""
    clock = streams.Stopwatch()
    parts: list[str] = []
    usage: Any = None
    served, seen = model, False
    headers = {"Accept": "text/event-stream"}
    with http.open_stream(
        client,
        target,
        "POST",
        url,
        headers=headers,
        auth=auth,
        json=body,
        params=params,
        model=model,
    ) as response:
        if http.is_json(response):
            return _from_message(
                http.parse_json(http.read_capped(response), response), model, clock
            )
        for _, chunk in streams.sse_json(response):
            if chunk.get("error"):
                error = chunk["error"]
                kind = (
                    str(error.get("type") or error.get("code") or "")
                    if isinstance(error, dict)
                    else ""
                )
                message = error.get("message") if isinstance(error, dict) else error
                raise failures.error_in_stream(target, kind, message)
            with payloads.shape("chat stream chunk"):
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    content = delta.get("content")
                    if content or delta.get("reasoning_content") or delta.get("reasoning"):
                        clock.mark()
                    if isinstance(content, str):
                        parts.append(content)
                served = payloads.optional_text(chunk.get("model")) or served
                usage = chunk.get("usage") or usage
                seen = seen or "choices" in chunk or "usage" in chunk
    if not seen:
        raise ProviderBadResponse("The stream carried no chat completion chunks")
    tokens_in, tokens_out = _usage(usage)
    return Completion(
        model=served,
        text="".join(parts),
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        ttft_ms=clock.ttft_ms,
        total_ms=clock.total_ms,
    )


class OpenAICompatAdapter(http.ListingProbe):
    """The OpenAI Chat Completions protocol; the key, when there is one, as a bearer token."""

    protocol = "openai"

    @staticmethod
    def _auth(target: Target) -> dict[str, str]:
        return {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}

    def list_models(self, client: httpx.Client, target: Target) -> list[ModelInfo]:
        """GET {base}/models."""
        url = f"{target.base_url.rstrip('/')}/models"
        return parse_listing(http.request_json(client, target, "GET", url, auth=self._auth(target)))

    def complete(
        self,
        client: httpx.Client,
        target: Target,
        *,
        model: str,
        prompt: str,
        max_tokens: int = 256,
    ) -> Completion:
        """A streamed chat completion."""
        url = f"{target.base_url.rstrip('/')}/chat/completions"
        return stream_chat(
            client,
            target,
            url,
            auth=self._auth(target),
            body=chat_body(model, prompt, max_tokens),
            model=model,
        )
