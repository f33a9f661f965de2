"""runwire server: the HTTP front doors, the queue workers, the run store and the CLI."""
