"""`python -m services.gdt_connector`: the GDT portal connector process."""

from services.gdt_connector.server import main

main()
