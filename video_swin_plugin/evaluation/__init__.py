"""Metrics of the plugin (registered in the plugin scope)."""
