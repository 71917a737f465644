"""Every live call to a provider, through the adapters and the outbound guard: health checks and
their scheduler, test connection, discovery, speed checks."""
