"""`python -m sandbox`: the sandbox GDT portal process."""

from sandbox.app import main

main()
