"""The outbound guard: the one HTTP client for URLs that users and admins configure.

A base URL typed into a form must not make Modeldesk a proxy to the cloud metadata service
or the office network. The transport resolves each host itself, vets every address, and
connects to a vetted address, so the address checked is the one used (no DNS rebinding)::

    URL ─▶ http(s)? ─▶ getaddrinfo ─▶ every address vetted ─▶ connect to it ─▶ TLS (hostname)

    never        link-local 169.254/16 and fe80::/10 (cloud metadata), fd00:ec2::254 and other
                 metadata endpoints, unspecified, multicast, broadcast, reserved, and the
                 IPv4-mapped / -compatible / NAT64 / 6to4 spellings of these
    if allowed   loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), CGNAT 100.64/10,
                 other non-global: a CIDR in MODELDESK_ALLOWED_NETWORKS, or a trusted host:port

Redirects (at most 3) pass the same checks. A request an adapter marked as credentialed
(the ``CREDENTIALS`` extension: the headers its auth step added, or a body that is a
credential) is never followed to another origin: that hop is refused before anything is
sent, so no key, signature, session token or assertion reaches it, and no answer from a
server that never saw the key can pass for the provider's. Any other request loses the
usual key headers once a hop leaves the first origin.

One deadline covers a whole ``send``, hops and body: each socket read and write gets at
most the time left, so a server trickling a byte a second cannot hold a request.
The body is streamed and capped after decompression. Errors are ``core.errors``, raised by
the client itself, so adapters only map HTTP statuses:

    OutboundRefused      not http(s), or a refused address: nothing was sent
    ProviderUnreachable  DNS, connection refused or lost, TLS, the deadline passed
    ProviderBadResponse  body over max_body_bytes, > 3 redirects, not HTTP, bad encoding
    ProviderError        the request could not be encoded (an invalid header value)

Reasons name host, address and class; never a header, a query or a body.

    addresses.py   OutboundPolicy: which addresses may be reached
    sockets.py     resolve, vet, connect; sockets bounded by the request's deadline
    client.py      GuardedTransport, guarded_client: origins, redirects, body cap, errors
"""

from core.outbound.addresses import OutboundPolicy
from core.outbound.client import CREDENTIALS, MAX_REDIRECTS, GuardedTransport, guarded_client

__all__ = ["CREDENTIALS", "MAX_REDIRECTS", "GuardedTransport", "OutboundPolicy", "guarded_client"]
