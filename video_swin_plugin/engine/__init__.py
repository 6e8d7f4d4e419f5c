"""Training machinery of the plugin: optimizer constructors, hooks (plugin scope)."""
