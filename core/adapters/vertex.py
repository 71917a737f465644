"""Google Vertex AI with a service-account key.

    token  RS256 JWT {iss: client_email, scope: cloud-platform, aud: token_uri, iat, exp}
           signed with the JSON's private_key ──▶ POST token_uri (grant_type jwt-bearer)
           ──▶ access_token, cached until a minute before it expires
    GET  {base}/v1beta1/publishers/google/models                 listing and probe (free)
    POST {base}/v1/projects/{project}/locations/{location}/publishers/google/models/{m}
         :streamGenerateContent?alt=sse                          Gemini's SSE chunks

The token request goes through the same client as every call, so a token_uri pointing at
a refused address is refused like any other URL. The access token joins the secrets
redacted from every reason; the body and stream parsing are Gemini's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from core.adapters import gemini, http, payloads, streams
from core.adapters.base import Completion, ModelInfo, Target
from core.errors import ProviderError, ProviderUnauthorized

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
MAX_PAGES = 10
_tokens: dict[str, tuple[str, float]] = {}  # cache key -> (access token, expires at)
_tokens_lock = threading.Lock()
T = TypeVar("T")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def service_account(target: Target) -> dict[str, Any]:
    """The service-account JSON from the config, checked for what signing needs."""
    raw = target.config.get("service_account_json")
    try:
        info = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise ProviderUnauthorized("The service account JSON is not valid JSON") from None
    if not isinstance(info, dict):
        raise ProviderUnauthorized("No service account JSON is configured")
    for name in ("client_email", "private_key"):
        if not payloads.optional_text(info.get(name)):
            raise ProviderUnauthorized(f"The service account JSON has no {name}")
    return info


def signed_jwt(info: dict[str, Any], *, now: float | None = None) -> str:
    """The RS256 assertion the token endpoint exchanges for an access token."""
    try:
        key = serialization.load_pem_private_key(info["private_key"].encode("utf-8"), None)
    except (ValueError, TypeError):
        raise ProviderUnauthorized("The service account private key cannot be read") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ProviderUnauthorized("The service account private key is not an RSA key")
    issued = int(now if now is not None else time.time())
    header = {"alg": "RS256", "typ": "JWT", "kid": info.get("private_key_id") or ""}
    claims = {
        "iss": info["client_email"],
        "scope": SCOPE,
        "aud": info.get("token_uri") or DEFAULT_TOKEN_URI,
        "iat": issued,
        "exp": issued + 3600,
    }
    signing_input = ".".join(
        _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


def _cache_key(info: dict[str, Any]) -> str:
    material = json.dumps(
        [info.get("client_email"), info.get("private_key"), info.get("token_uri")]
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def access_token(client: httpx.Client, target: Target) -> str:
    """A cached or fresh OAuth access token for the target's service account."""
    info = service_account(target)
    cache_key = _cache_key(info)
    with _tokens_lock:
        token, expires = _tokens.get(cache_key, ("", 0.0))
    if token and expires > time.time():
        return token
    try:
        payload = http.request_json(
            client,
            target,
            "POST",
            info.get("token_uri") or DEFAULT_TOKEN_URI,
            credential_body=True,
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": signed_jwt(info),
            },
        )
    except ProviderError as exc:
        if exc.status_code in (400, 401, 403):  # invalid_grant and friends
            raise ProviderUnauthorized(
                f"The token endpoint refused the service account: {exc.reason}",
                status_code=exc.status_code,
            ) from None
        raise
    with payloads.shape("token response"):
        token = payloads.text(payload["access_token"])
        lifetime = payloads.optional_int(payload.get("expires_in")) or 3600
    with _tokens_lock:
        _tokens[cache_key] = (token, time.time() + max(lifetime - 60, 0))
    return token


def forget_token(target: Target) -> None:
    """Drop the cached token (after the API refused it)."""
    with _tokens_lock:
        _tokens.pop(_cache_key(service_account(target)), None)


class VertexAdapter(http.ListingProbe):
    """The Vertex AI protocol (publisher models, Gemini wire format)."""

    protocol = "vertex"

    @staticmethod
    def _call(client: httpx.Client, target: Target, call: Callable[[dict[str, str], str], T]) -> T:
        """Run ``call(auth headers, token)``; a token the API refuses is forgotten."""
        token = access_token(client, target)
        try:
            return call({"Authorization": f"Bearer {token}"}, token)
        except ProviderUnauthorized:
            forget_token(target)
            raise

    def list_models(self, client: httpx.Client, target: Target) -> list[ModelInfo]:
        """GET /v1beta1/publishers/google/models, following nextPageToken."""
        url = f"{target.base_url.rstrip('/')}/v1beta1/publishers/google/models"
        models: list[ModelInfo] = []
        params = {"pageSize": "100"}
        for _ in range(MAX_PAGES):

            def fetch(headers: dict[str, str], token: str, page: dict[str, str] = params) -> Any:
                return http.request_json(
                    client, target, "GET", url, auth=headers, params=page, secrets=(token,)
                )

            payload = self._call(client, target, fetch)
            with payloads.shape("model listing"):
                # An empty listing may omit the key; any other payload must carry it.
                for row in payload["publisherModels"] if payload else []:
                    name = payloads.text(row["name"])
                    models.append(
                        ModelInfo(
                            id=name.rsplit("/", 1)[-1],
                            owned_by="google",
                            name=payloads.optional_text(row.get("displayName")),
                        )
                    )
                token = payloads.optional_text(payload.get("nextPageToken"))
            if not token:
                break
            params = {"pageSize": "100", "pageToken": token}
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
        """A streamed generateContent on the project's location."""
        project = payloads.optional_text(target.config.get("project_id"))
        location = payloads.optional_text(target.config.get("location")) or "us-central1"
        if not project:
            raise ProviderError("The provider config has no project_id")
        segment = gemini.model_segment(model, prefix="publishers/google/models/")
        url = (
            f"{target.base_url.rstrip('/')}/v1/projects/{quote(project.strip(), safe='')}"
            f"/locations/{quote(location.strip(), safe='')}/publishers/google/models/"
            f"{segment}:streamGenerateContent"
        )
        clock = streams.Stopwatch()

        def stream(headers: dict[str, str], token: str) -> Completion:
            with http.open_stream(
                client,
                target,
                "POST",
                url,
                params={"alt": "sse"},
                headers={"Accept": "text/event-stream"},
                auth=headers,
                json=gemini.content_body(model, prompt, max_tokens),
                secrets=(token,),
                model=model,
            ) as response:
                return gemini.read_stream(target, response, model, clock, (token,))

        return self._call(client, target, stream)
