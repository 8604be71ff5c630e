"""One module per schema revision, applied in order by ``gslb db upgrade``."""
