"""The storage layer shared by the feature modules: SQLAlchemy models, sessions, migrations."""
