"""Persistence adapters: SQLAlchemy tables and repositories, migrations, the event bus."""
