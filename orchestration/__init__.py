import os

# Stores, keys and checkpoints hold personal data and secrets: everything this process (and
# DuckDB, dbt and Dagster inside or below it) creates is its owner's alone.
os.umask(0o077)
