"""Plugins shipped with core, registered through the same plugin manager as third-party ones."""
