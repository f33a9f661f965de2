"""The store's Alembic revisions (``versions/``) and their environment (``env.py``), run by
:func:`runwire_server.store.schema.upgrade_schema`; see docs/server.md, "Schema migrations"."""
