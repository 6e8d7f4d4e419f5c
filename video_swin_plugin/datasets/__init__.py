"""Datasets and data transforms of the plugin (registered in the plugin scope)."""
