"""geo feature."""
