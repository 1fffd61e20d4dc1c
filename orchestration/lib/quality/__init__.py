"""Data quality: Great Expectations suites from `expectations/`, run inside the DuckDB store."""
