"""High-level Python APIs: inference, streaming."""
