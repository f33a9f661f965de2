"""runwire plugin subprocess (not implemented yet)."""
