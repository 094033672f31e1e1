"""Plugin discovery: the hook specifications and the registry that loads and checks plugins."""

from interlace.registry.claims import PluginSource, Registration
from interlace.registry.hookspecs import KINDS
from interlace.registry.registry import (
    PluginFailure,
    Registry,
    base_class,
    declare_kind,
    list_plugins,
    plugin_errors,
    registry,
    reload_plugins,
    resolve,
)

__all__ = ["KINDS", "PluginFailure", "PluginSource", "Registration", "Registry", "base_class",
           "declare_kind", "list_plugins", "plugin_errors", "registry", "reload_plugins",
           "resolve"]
