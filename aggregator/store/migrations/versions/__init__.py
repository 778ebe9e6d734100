"""One file per schema revision (Alembic); a package only so that it is installed."""
