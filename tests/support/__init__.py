"""Doubles, fixtures and helpers shared by the test folders.

- `imports`: the import activity doubles (an in-memory portal and bucket under the real
  activity names) and a worker of the real import workflows;
- `services`: connector and storage client stubs under the real activities;
- `portal`: the sandbox's data sets, a crawler-like client and its admin endpoints;
- `connector`: a running connector's client, its test configuration, a tampering proxy;
- `gateway`: the gateway in-process in front of a worker over the doubles;
- `fixtures`: the portal and connector pytest fixtures (a plugin, see tests/conftest.py).
"""
