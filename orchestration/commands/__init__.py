"""The `steward` subcommands, one module per group; `orchestration/cli.py` puts them
together."""
