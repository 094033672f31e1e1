"""A plugin module that cannot be imported (a missing dependency)."""

raise ImportError("interlace_brokenfam needs the package 'nonexistent_dependency'")
