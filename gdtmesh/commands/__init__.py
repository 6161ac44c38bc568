"""Subcommands of the `gdtmesh` CLI (see gdtmesh/cli.py)."""
