"""runwire plugin auth0 (not implemented yet)."""
