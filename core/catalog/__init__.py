"""The catalog: provider types and model facts as validated data files, plus their loaders.

* ``provider_types`` (module) loads ``provider_types.yaml``: what a provider record can be
  (wire protocol, default endpoint, auth style, config fields, env vars);
* ``model_facts``: the offline model facts (capabilities from models.dev, prices from
  genai-prices), each with its source and date;
* ``lookalikes``: the skeleton that duplicate-name checks compare (``confusables.txt``);
* ``registry_seed.yaml``: the built-in registry table's twelve models, read by
  ``core.explorer.registry``.

This module only re-exports the provider-type names (``from core.catalog import
get_provider_type``). Here ``provider_types`` is the function; the loader's own names
(``_load`` included) come with ``from core.catalog.provider_types import ...``.
"""

from core.catalog.provider_types import (
    AUTH_STYLES,
    PROTOCOLS,
    CatalogError,
    ConfigField,
    ProviderType,
    SystemRule,
    env_var_names,
    get_provider_type,
    looks_secret,
    merge_secret_config,
    provider_type_ids,
    provider_types,
    public_config,
    public_config_text,
)

__all__ = [
    "AUTH_STYLES",
    "PROTOCOLS",
    "CatalogError",
    "ConfigField",
    "ProviderType",
    "SystemRule",
    "env_var_names",
    "get_provider_type",
    "looks_secret",
    "merge_secret_config",
    "provider_type_ids",
    "provider_types",
    "public_config",
    "public_config_text",
]
