"""Steward as a shared Dagster deployment: the run queue's lanes and pools, the Celery
executor's configuration, the processes a deployment runs, and submitting runs to it.

Embedded mode (`make run`) needs none of this: runs execute inside `steward run`.
"""
