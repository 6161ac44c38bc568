"""`python -m services.gateway`: the gateway process."""

import os
import sys

from services.gateway.server import main

code = main()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)  # skip interpreter teardown: the Temporal SDK can crash there
