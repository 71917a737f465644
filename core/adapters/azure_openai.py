"""Azure OpenAI: the OpenAI wire format under a resource's deployment paths.

    base = https://{resource}.openai.azure.com/openai   (catalog base_url_for(config))
    GET  {base}/models?api-version=...                                listing and probe
    POST {base}/deployments/{deployment}/chat/completions?api-version=...   streamed (SSE)

The key goes in the ``api-key`` header; a key written as "Bearer <token>" (an Entra ID
token) goes in ``Authorization`` instead. Azure routes by deployment, so the model asked
for IS the deployment name: each model record calls its own deployment. The provider
config's ``deployment_id`` is only a default, for a call that names no model.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from core import catalog
from core.adapters import http, openai_compat, payloads
from core.adapters.base import Completion, ModelInfo, Target
from core.errors import ProviderModelMissing, ValidationError

DEFAULT_API_VERSION = "2025-04-01-preview"


def api_version(target: Target) -> str:
    """The config's api_version, else the catalog default for the type, else ours."""
    configured = payloads.optional_text(target.config.get("api_version"))
    if configured:
        return configured.strip()
    try:
        spec = catalog.get_provider_type(target.provider_type).field("api_version")
    except ValidationError:
        spec = None
    return spec.default if spec and spec.default else DEFAULT_API_VERSION


def _auth(target: Target) -> dict[str, str]:
    key = target.api_key or ""
    return {"Authorization": key} if key[:7].lower() == "bearer " else {"api-key": key}


def _kind(capabilities: Any) -> str | None:
    if not isinstance(capabilities, dict):
        return None
    if capabilities.get("chat_completion") or capabilities.get("completion"):
        return "inference"
    return "embedding" if capabilities.get("embeddings") else None


def _listing(payload: Any) -> list[ModelInfo]:
    """The OpenAI-shaped listing plus Azure's capabilities (for the kind)."""
    models = openai_compat.parse_listing(payload)
    with payloads.shape("model listing"):
        kinds = [_kind(row.get("capabilities")) for row in payload["data"]]
    return [
        ModelInfo(
            id=m.id,
            name=m.name,
            created=m.created,
            context_window=m.context_window,
            owned_by=m.owned_by,
            kind=m.kind or kind,
        )
        for m, kind in zip(models, kinds, strict=True)
    ]


class AzureOpenAIAdapter(http.ListingProbe):
    """The Azure OpenAI protocol."""

    protocol = "azure_openai"

    def list_models(self, client: httpx.Client, target: Target) -> list[ModelInfo]:
        """GET {base}/models?api-version=..."""
        payload = http.request_json(
            client,
            target,
            "GET",
            f"{target.base_url.rstrip('/')}/models",
            auth=_auth(target),
            params={"api-version": api_version(target)},
        )
        return _listing(payload)

    def complete(
        self,
        client: httpx.Client,
        target: Target,
        *,
        model: str,
        prompt: str,
        max_tokens: int = 256,
    ) -> Completion:
        """A streamed chat completion on the deployment."""
        deployment = (model or "").strip() or (
            payloads.optional_text(target.config.get("deployment_id")) or ""
        ).strip()
        if not deployment:
            raise ProviderModelMissing("No deployment to call: name the model (its deployment)")
        url = (
            f"{target.base_url.rstrip('/')}/deployments/{quote(deployment, safe='')}"
            "/chat/completions"
        )
        # The deployment's name usually reveals the model, which decides the token parameter.
        body = openai_compat.chat_body(deployment, prompt, max_tokens)
        body.pop("model")  # Azure takes the model from the deployment path
        return openai_compat.stream_chat(
            client,
            target,
            url,
            auth=_auth(target),
            body=body,
            model=deployment,
            params={"api-version": api_version(target)},
        )
