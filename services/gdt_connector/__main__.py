import sys

from services.gdt_connector.server import main

sys.exit(main())
