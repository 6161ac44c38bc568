"""`python -m workers`: the Temporal worker process."""

import os
import sys

from workers.main import main

code = main()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)  # skip interpreter teardown: the Temporal SDK can crash there
