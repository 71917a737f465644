"""Google Gemini API (generativelanguage.googleapis.com/v1beta).

    GET  {base}/models?pageSize=1000                            listing and probe (free)
    POST {base}/models/{model}:streamGenerateContent?alt=sse    SSE chunks of candidates,
                                                                usageMetadata on each

The key travels only in the ``x-goog-api-key`` header, never as ``?key=``: a key in a
URL ends up in proxy logs and in the text of transport exceptions. A wrong key answers
400 API_KEY_INVALID, which the shared status mapping reads as unauthorized. The body and
stream parsing are shared with the Vertex adapter.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from core.adapters import failures, http, payloads, reasoning, streams
from core.adapters.base import Completion, ModelInfo, Target
from core.errors import ProviderBadResponse

MAX_PAGES = 10


def model_segment(model: str, prefix: str = "models/") -> str:
    """The model id as one URL path segment (a leading resource prefix is dropped)."""
    model = model[len(prefix) :] if model.startswith(prefix) else model
    return quote(model, safe="-._~@")


def content_body(model: str, prompt: str, max_tokens: int) -> dict[str, Any]:
    """One user turn; thinking models (2.5 and later) count thoughts in maxOutputTokens."""
    return {
        "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        "generationConfig": {"maxOutputTokens": reasoning.output_budget(model, max_tokens)},
    }


def _kind(methods: Any) -> str | None:
    methods = methods if isinstance(methods, list) else []
    if "generateContent" in methods:
        return "inference"
    return "embedding" if "embedContent" in methods else None


def read_stream(
    target: Target,
    response: httpx.Response,
    model: str,
    clock: streams.Stopwatch,
    secrets: tuple[str, ...] = (),
) -> Completion:
    """streamGenerateContent SSE chunks into a Completion."""
    parts: list[str] = []
    usage: dict[str, Any] = {}
    served, seen = model, False
    for _, chunk in streams.sse_json(response):
        if isinstance(chunk.get("error"), dict):
            error = chunk["error"]
            raise failures.error_in_stream(
                target, str(error.get("status") or ""), error.get("message"), extra_secrets=secrets
            )
        with payloads.shape("content stream chunk"):
            for candidate in chunk.get("candidates") or []:
                for part in (candidate.get("content") or {}).get("parts") or []:
                    if part.get("text") or part.get("thought"):
                        clock.mark()
                    if "text" in part and not part.get("thought"):
                        parts.append(payloads.string(part["text"]))
            usage = chunk.get("usageMetadata") or usage
            served = payloads.optional_text(chunk.get("modelVersion")) or served
            seen = seen or any(
                k in chunk for k in ("candidates", "usageMetadata", "promptFeedback")
            )
    if not seen:
        raise ProviderBadResponse("The stream carried no content chunks")
    with payloads.shape("usage metadata"):
        out = payloads.optional_int(usage.get("candidatesTokenCount"))
        thoughts = payloads.optional_int(usage.get("thoughtsTokenCount"))
        return Completion(
            model=served,
            text="".join(parts),
            input_tokens=payloads.optional_int(usage.get("promptTokenCount")),
            output_tokens=None
            if out is None and thoughts is None
            else (out or 0) + (thoughts or 0),
            ttft_ms=clock.ttft_ms,
            total_ms=clock.total_ms,
        )


class GeminiAdapter(http.ListingProbe):
    """The Gemini API protocol."""

    protocol = "gemini"

    @staticmethod
    def _auth(target: Target) -> dict[str, str]:
        return {"x-goog-api-key": target.api_key or ""}

    def list_models(self, client: httpx.Client, target: Target) -> list[ModelInfo]:
        """GET {base}/models, following nextPageToken."""
        models: list[ModelInfo] = []
        params = {"pageSize": "1000"}
        for _ in range(MAX_PAGES):
            payload = http.request_json(
                client,
                target,
                "GET",
                f"{target.base_url.rstrip('/')}/models",
                auth=self._auth(target),
                params=params,
            )
            with payloads.shape("model listing"):
                for row in payload["models"]:
                    name = payloads.text(row["name"])
                    models.append(
                        ModelInfo(
                            id=name.removeprefix("models/"),
                            name=payloads.optional_text(row.get("displayName")),
                            context_window=payloads.optional_int(row.get("inputTokenLimit")),
                            owned_by="google",
                            kind=_kind(row.get("supportedGenerationMethods")),
                        )
                    )
                token = payloads.optional_text(payload.get("nextPageToken"))
            if not token:
                break
            params = {"pageSize": "1000", "pageToken": token}
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
        """A streamed generateContent."""
        clock = streams.Stopwatch()
        url = f"{target.base_url.rstrip('/')}/models/{model_segment(model)}:streamGenerateContent"
        with http.open_stream(
            client,
            target,
            "POST",
            url,
            headers={"Accept": "text/event-stream"},
            auth=self._auth(target),
            params={"alt": "sse"},
            json=content_body(model, prompt, max_tokens),
            model=model,
        ) as response:
            return read_stream(target, response, model, clock)
