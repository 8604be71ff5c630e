"""DNS servers as child processes on free loopback ports, shared by the integration tests and bench/.

Nothing here imports pytest or the gslb package (gslb is run as ``python -m gslb``), so the benchmark
scripts can use it as they are.
"""
