"""The Alembic migrations, shipped inside the package so an installed aggregator can
create and upgrade its database (``aggregator db upgrade``); run through
``aggregator.store.migrate``, never imported."""
