"""Served zones: ``/api/v1/zones``, and the names a pool may take in them.

A pool answers for names inside a zone the node serves, and never for a name that has A, AAAA
or CNAME records in a zone file. Finding those names walks every record of every zone, so it is
done once per list of zones (the node replaces the list on a reload), not once per request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiohttp import web

from gslb.api.context import context
from gslb.api.request import json_response
from gslb.declare.apply import static_owner_names
from gslb.dns.zonefile import LoadedZone


class ServedNames:
    """Origins and static owner names of the zones last asked about, kept until the list changes."""

    def __init__(self) -> None:
        self._zones: Sequence[LoadedZone] | None = None  # held, so that its id cannot be reused
        self.origins: tuple[str, ...] = ()
        self.static: Mapping[str, str] = {}

    def of(self, zones: Sequence[LoadedZone]) -> ServedNames:
        if zones is not self._zones:
            self.origins = tuple(z.origin.to_text() for z in zones)
            self.static = static_owner_names(zones)
            self._zones = zones
        return self


SERVED_NAMES = web.AppKey("served_names", ServedNames)


def served_names(request: web.Request) -> ServedNames:
    return request.app[SERVED_NAMES].of(context(request).zones())


async def list_zones(request: web.Request) -> web.Response:
    """The zones with their serials, and the snapshot revision each answering process serves."""
    api = context(request)
    store_revision = await api.blocking(api.store.revision)
    zones = [{"origin": z.origin.to_text(), "serial": z.serial, "file": str(z.path)} for z in api.zones()]
    return json_response({"zones": zones, "revisions": api.revisions(), "store_revision": store_revision})


def setup(app: web.Application) -> None:
    """Keep the served names in the API's application, for its pool writes."""
    app[SERVED_NAMES] = ServedNames()
