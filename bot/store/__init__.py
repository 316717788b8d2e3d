"""Storage: the database engine, migrations and table models."""
