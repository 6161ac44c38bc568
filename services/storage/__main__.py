import sys

from services.storage.server import main

sys.exit(main())
