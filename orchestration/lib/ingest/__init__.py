"""Governed ingest: landing files → typed, routed, reconciled tables in each region's store."""
