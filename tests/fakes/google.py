"""Fake Google providers: the Gemini API (key header) and Vertex AI (service-account JWT
exchanged at a fake token endpoint, then a bearer token)."""

from __future__ import annotations

import base64
import functools
import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from core.adapters.base import Target
from tests.fakes.protocols import Protocol
from tests.fakes.server import Reply, json_reply, sse_reply

if TYPE_CHECKING:
    from tests.fakes.server import Request

STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
}


@functools.cache
def signing_key() -> rsa.RSAPrivateKey:
    """One RSA key per test run (generating one takes a moment)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class GoogleProtocol(Protocol):
    """Google's error shape and the shared generateContent stream."""

    def error_payload(self, status: int, message: str) -> Any:
        return {
            "error": {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}
        }

    def generate(self, model: str, stream_error: bool) -> Reply:
        events: list[tuple[str | None, Any]] = []
        for piece in self.pieces():
            events.append(
                (
                    None,
                    {
                        "candidates": [
                            {"content": {"role": "model", "parts": [{"text": piece}]}, "index": 0}
                        ],
                        "modelVersion": model,
                        "usageMetadata": {
                            "promptTokenCount": 8,
                            "candidatesTokenCount": 2,
                            "thoughtsTokenCount": 5,
                        },
                    },
                )
            )
            if stream_error:
                events.append(
                    (
                        None,
                        {
                            "error": {
                                "code": 503,
                                "status": "UNAVAILABLE",
                                "message": "The model is overloaded.",
                            }
                        },
                    )
                )
                return sse_reply(events)
        events[-1][1]["candidates"][0]["finishReason"] = "STOP"
        return sse_reply(events)


class Gemini(GoogleProtocol):
    name, provider_type, base_path = "gemini", "google_gemini", "/v1beta"
    default_models = ("gemini-2.5-flash", "gemini-2.0-flash", "text-embedding-004")

    def handle(self, request: Request, *, stream_error: bool) -> Reply:
        if "key" in request.query:  # the adapter must never put the key in a URL
            return self.error(400, "API key must not be sent in the URL", {})
        key = self.fake.key
        if key is not None and request.headers.get("x-goog-api-key") != key:
            # Gemini's real answer to a wrong key: 400 with reason API_KEY_INVALID
            return json_reply(
                {
                    "error": {
                        "code": 400,
                        "status": "INVALID_ARGUMENT",
                        "message": "API key not valid. Please pass a valid API key.",
                        "details": [{"reason": "API_KEY_INVALID"}],
                    }
                },
                400,
            )
        return self.route(request, stream_error)

    def route(self, request: Request, stream_error: bool) -> Reply:
        if request.method == "GET" and request.route == "/v1beta/models":
            rows = [
                {
                    "name": f"models/{m}",
                    "displayName": m.replace("-", " ").title(),
                    "inputTokenLimit": 1048576,
                    "outputTokenLimit": 8192,
                    "supportedGenerationMethods": ["embedContent"]
                    if "embed" in m
                    else ["generateContent", "countTokens"],
                }
                for m in self.fake.models
            ]
            page, token = self.page(rows, request.query.get("pageToken"))
            return json_reply({"models": page, **({"nextPageToken": token} if token else {})})
        prefix, suffix = "/v1beta/models/", ":streamGenerateContent"
        if (
            request.method == "POST"
            and request.route.startswith(prefix)
            and request.route.endswith(suffix)
            and request.query.get("alt") == "sse"
        ):
            model = unquote(request.route[len(prefix) : -len(suffix)])
            if model not in self.fake.models:
                return self.error(404, f"models/{model} is not found for API version v1beta", {})
            return self.generate(model, stream_error)
        return self.not_found(request)


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class Vertex(GoogleProtocol):
    """Vertex: POST /token checks the JWT; the API wants the token it issued."""

    name, provider_type = "vertex", "google_vertex"
    default_models = ("gemini-2.0-flash-001", "gemini-2.5-pro")
    client_email = "checker@fake-project.iam.gserviceaccount.com"

    def applies(self, request: Request) -> bool:
        return request.route != "/token" or bool(self.options.get("fail_token"))

    def service_account_json(self, **overrides: Any) -> str:
        pem = (
            signing_key()
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            .decode()
        )
        info = {
            "type": "service_account",
            "project_id": "fake-project",
            "private_key_id": "k1",
            "private_key": pem,
            "client_email": self.client_email,
            "token_uri": f"{self.fake.url}/token",
            **overrides,
        }
        return json.dumps(info)

    def target(self, **overrides: Any) -> Target:
        config = {
            "base_url": self.fake.base_url,
            "project_id": "fake-project",
            "location": "us-central1",
            "service_account_json": self.service_account_json(),
        }
        return super().target(**{"api_key": None, "config": config, **overrides})

    @property
    def token(self) -> str:
        return self.fake.key or "ya29.fake-access-token"

    def _check_assertion(self, body: bytes) -> str | None:
        """None when the JWT is valid; otherwise what is wrong with it."""
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return "unsupported grant_type"
        try:
            head, claims, sig = form["assertion"].split(".")
            signing_key().public_key().verify(
                _b64decode(sig), f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
            header, payload = json.loads(_b64decode(head)), json.loads(_b64decode(claims))
        except (KeyError, ValueError, InvalidSignature):
            return "Invalid JWT Signature."
        if (
            header.get("alg") != "RS256"
            or payload.get("iss") != self.client_email
            or payload.get("aud") != f"{self.fake.url}/token"
            or not payload.get("iat", 0) <= time.time() + 5 < payload.get("exp", 0)
        ):
            return "Invalid JWT: claims rejected"
        return None

    def handle(self, request: Request, *, stream_error: bool) -> Reply:
        if request.method == "POST" and request.route == "/token":
            problem = self._check_assertion(request.body)
            if problem:
                return json_reply({"error": "invalid_grant", "error_description": problem}, 400)
            return json_reply(
                {"access_token": self.token, "expires_in": 3599, "token_type": "Bearer"}
            )
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return self.error(401, "Request had invalid authentication credentials.", {})
        return self.route(request, stream_error)

    def route(self, request: Request, stream_error: bool) -> Reply:
        if request.method == "GET" and request.route == "/v1beta1/publishers/google/models":
            rows = [
                {
                    "name": f"publishers/google/models/{m}",
                    "versionId": "001",
                    "launchStage": "GA",
                    "openSourceCategory": "PROPRIETARY",
                }
                for m in self.fake.models
            ]
            page, token = self.page(rows, request.query.get("pageToken"))
            return json_reply(
                {"publisherModels": page, **({"nextPageToken": token} if token else {})}
            )
        prefix = "/v1/projects/fake-project/locations/us-central1/publishers/google/models/"
        suffix = ":streamGenerateContent"
        if (
            request.method == "POST"
            and request.route.startswith(prefix)
            and request.route.endswith(suffix)
        ):
            model = unquote(request.route[len(prefix) : -len(suffix)])
            if model not in self.fake.models:
                return self.error(404, f"Publisher Model `{model}` was not found", {})
            return self.generate(model, stream_error)
        return self.not_found(request)
