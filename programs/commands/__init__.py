"""Subcommands of the `gdtmesh` CLI (see programs/cli.py)."""
