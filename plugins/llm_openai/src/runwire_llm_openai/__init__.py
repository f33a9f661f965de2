"""runwire plugin llm-openai (not implemented yet)."""
