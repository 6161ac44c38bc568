"""`python -m services.gateway`: the gateway process."""

from services.gateway.server import main

main()
