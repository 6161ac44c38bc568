"""The embedded mesh: every server gdtmesh needs, as real processes on loopback."""
