"""evaluate feature."""
