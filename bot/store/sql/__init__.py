"""The queries of every aggregate, written once for SQLite and PostgreSQL."""
