"""sim feature."""
