"""detview."""
