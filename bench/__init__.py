"""Benchmarks that hold gslb against reference servers on loopback (run as scripts, see bench/README.md)."""
