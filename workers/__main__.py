"""`python -m workers`: the Temporal worker process."""

from workers.main import main

main()
