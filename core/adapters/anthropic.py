"""Anthropic Messages API.

    GET  {base}/v1/models?limit=1000     listing and probe (free); pages by after_id
    POST {base}/v1/messages              stream=true, SSE: message_start (input usage),
                                         content_block_delta (text), message_delta (output
                                         usage), message_stop; an ``error`` event mid-stream

Headers: ``x-api-key`` and ``anthropic-version: 2023-06-01``; a key written as
"Bearer <token>" (an OAuth token) goes in ``Authorization`` instead. A model id ending
in ":thinking" or "-thinking" (the OpenRouter convention) is sent without the suffix and
with extended thinking on, its budget added to the answer's.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from core.adapters import failures, http, payloads, reasoning, streams
from core.adapters.base import Completion, ModelInfo, Target
from core.errors import ProviderBadResponse

API_VERSION = "2023-06-01"
MAX_PAGES = 10
_THINKING_SUFFIX = re.compile(r"[:-]thinking$", re.IGNORECASE)


def _root(target: Target) -> str:
    """The API root without a trailing /v1, so both spellings of the base URL work."""
    base = target.base_url.rstrip("/")
    return base[:-3] if base.endswith("/v1") else base


def _auth(target: Target) -> dict[str, str]:
    key = target.api_key or ""
    return {"Authorization": key} if key[:7].lower() == "bearer " else {"x-api-key": key}


def _row(row: Any) -> ModelInfo:
    return ModelInfo(
        id=payloads.text(row["id"]),
        name=payloads.optional_text(row.get("display_name")),
        created=payloads.from_iso(row.get("created_at")),
        context_window=payloads.optional_int(row.get("max_input_tokens")),
        owned_by="anthropic",
        kind="inference",
    )


def message_body(model: str, prompt: str, max_tokens: int) -> dict[str, Any]:
    """A streamed one-message request; thinking variants get a thinking budget on top."""
    budget = reasoning.output_budget(model, max_tokens)
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "max_tokens": budget,
    }
    if _THINKING_SUFFIX.search(model):
        thinking = reasoning.THINKING_BUDGET  # max_tokens must exceed it: room for the answer
        body.update(
            model=_THINKING_SUFFIX.sub("", model),
            thinking={"type": "enabled", "budget_tokens": thinking},
            max_tokens=thinking + max(int(max_tokens), reasoning.MIN_ANSWER),
        )
    return body


class AnthropicAdapter(http.ListingProbe):
    """The Anthropic Messages protocol."""

    protocol = "anthropic"

    def list_models(self, client: httpx.Client, target: Target) -> list[ModelInfo]:
        """GET /v1/models, following has_more/last_id."""
        models: list[ModelInfo] = []
        params: dict[str, str] = {"limit": "1000"}
        for _ in range(MAX_PAGES):
            payload = http.request_json(
                client,
                target,
                "GET",
                f"{_root(target)}/v1/models",
                headers={"anthropic-version": API_VERSION},
                auth=_auth(target),
                params=params,
            )
            with payloads.shape("model listing"):
                models += [_row(row) for row in payload["data"]]
                if not payload.get("has_more") or not payload.get("last_id"):
                    break
                params = {"limit": "1000", "after_id": payloads.text(payload["last_id"])}
        return models

    def complete(
        self,
        client: httpx.Client,
        target: Target,
        *,
        model: str,
        prompt: str,
        max_tokens: int = 256,
    ) -> Completion:
        """A streamed message."""
        clock = streams.Stopwatch()
        parts: list[str] = []
        tokens_in = tokens_out = None
        served, seen = model, False
        headers = {"Accept": "text/event-stream", "anthropic-version": API_VERSION}
        with http.open_stream(
            client,
            target,
            "POST",
            f"{_root(target)}/v1/messages",
            headers=headers,
            auth=_auth(target),
            json=message_body(model, prompt, max_tokens),
            model=model,
        ) as response:
            for event, data in streams.sse_json(response):
                kind = data.get("type") or event
                if kind == "error":
                    error = raw if isinstance(raw := data.get("error"), dict) else {}
                    raise failures.error_in_stream(
                        target, str(error.get("type") or "error"), error.get("message")
                    )
                with payloads.shape("message stream event"):
                    if kind == "message_start":
                        message = data["message"]
                        served = payloads.optional_text(message.get("model")) or served
                        usage = message.get("usage") or {}
                        tokens_in = payloads.optional_int(usage.get("input_tokens"))
                        tokens_out = payloads.optional_int(usage.get("output_tokens"))
                        seen = True
                    elif kind == "content_block_delta":
                        delta = data["delta"]
                        clock.mark()  # a thinking delta is a first token too
                        if delta.get("type") == "text_delta":
                            parts.append(payloads.string(delta["text"]))
                    elif kind == "message_delta":
                        usage = data.get("usage") or {}
                        tokens_out = payloads.optional_int(usage.get("output_tokens")) or tokens_out
        if not seen:
            raise ProviderBadResponse("The stream carried no message events")
        return Completion(
            model=served,
            text="".join(parts),
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            ttft_ms=clock.ttft_ms,
            total_ms=clock.total_ms,
        )
