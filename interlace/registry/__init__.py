"""Plugin discovery: the hook specifications and the registry that loads and checks plugins."""

from interlace.registry.registry import (
    KINDS,
    PluginFailure,
    Registry,
    list_plugins,
    plugin_errors,
    registry,
    reload_plugins,
    resolve,
)

__all__ = ["KINDS", "PluginFailure", "Registry", "list_plugins", "plugin_errors", "registry",
           "reload_plugins", "resolve"]
