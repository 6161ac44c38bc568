"""`python -m services.storage`: the storage process."""

from services.storage.server import main

main()
