"""The gateway: gdtmesh's public gRPC API (`gdtmesh.gateway.v1.TaskService`). It authenticates
callers, validates requests, maps tasks to Temporal workflows and reads their progress."""
