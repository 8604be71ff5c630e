"""gslb: an authoritative, load-balancing DNS server for a delegated subdomain."""

__version__ = "0.1.0"
