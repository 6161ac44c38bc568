"""The one bootstrap every gdtmesh process uses: configuration, logs, traces, gRPC plumbing,
Temporal connection and the payload codec."""
