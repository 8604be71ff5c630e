"""Real servers on loopback for the tests and the benchmarks: gslb, Knot DNS, gdnsd, Unbound, HTTP backends.

tests/ and bench/ both start their servers from here, so a benchmark measures the same launch as the test
that checks it. Each server runs on a free loopback port with its own temporary directory, and every process
started is stopped by its PID. Nothing here imports pytest. gslb runs as ``python -m gslb``; only the
reference servers' pools (gdnsd.py, static_pools.py) are read with gslb's own declaration reader.
"""
