"""`gdtmesh bench`: measurements that turn the mesh's claims into numbers.

- `scenario`: a data set and a portal budget, as sandbox flags and connector variables;
- `runs`: a mesh started for a scenario, imports through the gateway, the sandbox's evidence;
- `workload`: the portal requests an import needs at the least (the physical bound);
- `exactness`: the bucket against the sandbox's ground truth;
- `legacy`, `direct`: the crawlers the mesh is compared with;
- `gateway_load`: TaskService latency at fixed request rates;
- `suite`: the benchmarks themselves, `report`: BENCHMARKS.md and bench-results.json.
"""
