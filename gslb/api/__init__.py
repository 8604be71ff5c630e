"""The admin HTTP API (aiohttp): pools, sites, members, checks, health, zones, changes, metrics."""
