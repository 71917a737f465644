"""Pure ranking and comparison over model capabilities: the registry, tiers, scopes, filters,
comparison and the workload calculator."""
