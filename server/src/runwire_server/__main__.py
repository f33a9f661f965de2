"""``python -m runwire_server``: the ``runwire`` command line."""

from runwire_server.cli import main

main()
