"""The connector's fixtures (a real sandbox portal and real Redis, connector servers started
in-process on free ports, real gRPC clients, and a tampering proxy for the portal answers the
sandbox cannot produce) come from tests/support/fixtures.py, over its fixed data set."""
