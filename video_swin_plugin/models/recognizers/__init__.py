"""mmaction2 recognizers of the plugin (registered in the plugin scope)."""
