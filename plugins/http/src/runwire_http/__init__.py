"""runwire plugin http (not implemented yet)."""
