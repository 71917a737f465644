"""Connecting for the guard: resolve, vet every address, connect to a vetted one, and
bound every socket read and write by the request's deadline.
"""

from __future__ import annotations

import contextlib
import contextvars
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpcore

from core.errors import OutboundRefused, ProviderUnreachable, redact
from core.outbound.addresses import OutboundPolicy, host_key

# The deadline (monotonic) of the request this thread is handling. Streams read it here
# because httpcore gives a pooled connection no handle on the request that uses it.
DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("_DEADLINE", default=None)


def time_left(timeout: float | None, expired: type[Exception]) -> float | None:
    """The smaller of httpcore's per-operation timeout and what is left of the deadline."""
    deadline = DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("deadline passed")
    return left if timeout is None else min(timeout, left)


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, (TimeoutError, httpcore.TimeoutException, ProviderUnreachable)):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write ends by the request's deadline."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    @contextlib.contextmanager
    def _io(
        self, timeout: float | None, expired: type[Exception], failed: type[Exception]
    ) -> Iterator[None]:
        try:
            self._sock.settimeout(time_left(timeout, expired))
            yield
        except TimeoutError:
            raise expired("timed out") from None
        except OSError as exc:
            raise failed(_os_reason(exc)) from None

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with self._io(timeout, httpcore.ReadTimeout, httpcore.ReadError):
            return self._sock.recv(max_bytes)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        while buffer:  # one send() at a time, each given only the time left
            with self._io(timeout, httpcore.WriteTimeout, httpcore.WriteError):
                buffer = buffer[self._sock.send(buffer) :]

    def close(self) -> None:
        self._sock.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        try:  # CPython bounds the whole handshake by the socket timeout
            with self._io(timeout, httpcore.ConnectTimeout, httpcore.ConnectError):
                tls = ssl_context.wrap_socket(self._sock, server_hostname=server_hostname)
        except (httpcore.ConnectTimeout, httpcore.ConnectError) as exc:
            self._sock.close()
            raise ProviderUnreachable(redact(f"TLS with {server_hostname} failed: {exc}")) from None
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # an idle pooled connection with something to read is dead
            if self._sock.fileno() == -1:
                return True
            poller = select.poll()  # not select(): descriptors above 1024 are common here
            poller.register(self._sock, select.POLLIN)
            return bool(poller.poll(0))
        if info == "ssl_object":  # httpcore asks it for the ALPN protocol
            return self._sock if isinstance(self._sock, ssl.SSLSocket) else None
        if info == "server_addr":  # the vetted address actually connected to
            return self._sock.getpeername()
        return self._sock if info == "socket" else None


def _resolve(host: str, port: int, timeout: float | None) -> list[tuple]:
    kind = {"type": socket.SOCK_STREAM, "proto": socket.IPPROTO_TCP}
    try:  # numeric forms (127.1, 2852039166, ::ffff:a.b.c.d) are parsed as the OS does
        return socket.getaddrinfo(host, port, flags=socket.AI_NUMERICHOST, **kind)
    except (socket.gaierror, UnicodeError):
        pass
    found: list[tuple] = []

    def lookup() -> None:
        with contextlib.suppress(OSError, UnicodeError):
            found.extend(socket.getaddrinfo(host, port, **kind))

    # getaddrinfo has no timeout: wait for it only as long as the deadline allows.
    worker = threading.Thread(target=lookup, name="outbound-dns", daemon=True)
    worker.start()
    worker.join(time_left(timeout, ProviderUnreachable))
    if worker.is_alive() or not found:
        raise ProviderUnreachable(
            redact(f"cannot resolve {host}" + (" in time" if worker.is_alive() else ""))
        )
    return found


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves, vets every address, then connects to a vetted address itself."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy

    def _vet(self, address: str, host: str, port: int) -> None:
        reason = self._policy.refusal(address, host=host, port=port)
        if reason:
            raise OutboundRefused(redact(reason))

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        with contextlib.suppress(ValueError):  # a literal, even one getaddrinfo rejects
            self._vet(host, host, port)
        for *_, sockaddr in (infos := _resolve(host, port, timeout)):
            self._vet(sockaddr[0], host, port)  # one bad address refuses the host
        reason = "no address"
        for family, kind, proto, _, sockaddr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(time_left(timeout, ProviderUnreachable))
                for option in socket_options or ():
                    sock.setsockopt(*option)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.connect(sockaddr)
                return _DeadlineStream(sock)
            except (OSError, ProviderUnreachable) as exc:
                sock.close()
                reason = _os_reason(exc)
        raise ProviderUnreachable(redact(f"cannot connect to {host_key(host, port)}: {reason}"))
