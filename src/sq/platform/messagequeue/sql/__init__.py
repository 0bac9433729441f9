"""The SQL backend (SQLite and PostgreSQL through SQLAlchemy Core)."""
