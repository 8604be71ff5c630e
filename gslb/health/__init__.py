"""Health checks: probes (TCP, HTTP, HTTPS) and the rise/fall state machine they feed.

``probes`` talks to targets and returns results; ``state`` turns results into per-member
UP/DOWN with hysteresis. Neither touches the store or the snapshot: the monitor that schedules
probes and publishes the down members (for ``PoolCompiler.compile(..., down)``) sits on top.
"""
