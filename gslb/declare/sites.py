"""``[sites.NAME]``: where members run, the subnets that locate clients there, its LVS addresses."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from gslb.declare import fields
from gslb.declare.problems import Problems
from gslb.model import IPAddress, IPNetwork, LvsMode, Site

SITE_KEYS = {"region", "description", "subnets", "lvs_mode", "vips"}


def read_site(problems: Problems, name: str, body: dict[str, Any], earlier: Path | None) -> Site | None:
    """One site's table; None if ``earlier`` (the file that declared the name first) is not None."""
    where = f"sites.{name}"
    fields.unknown_keys(problems, body, SITE_KEYS, where)
    if earlier is not None:
        problems.add(where, f"also declared in {earlier}")
        return None
    subnets: list[IPNetwork] = []
    for index, text in enumerate(fields.string_list(problems, body, "subnets", where)):
        try:
            subnets.append(ipaddress.ip_network(text))
        except ValueError as exc:
            problems.add(f"{where}.subnets[{index}]", str(exc))
    vips: list[IPAddress] = []
    for index, text in enumerate(fields.string_list(problems, body, "vips", where)):
        try:
            vips.append(ipaddress.ip_address(text))
        except ValueError:
            problems.add(f"{where}.vips[{index}]", f"{text!r} is not an IP address")
    mode = body.get("lvs_mode")
    lvs_mode = fields.enum(problems, LvsMode, mode, f"{where}.lvs_mode") if mode is not None else None
    return Site(
        name,
        region=fields.string(problems, body, "region", where),
        description=fields.string(problems, body, "description", where),
        subnets=tuple(subnets),
        lvs_mode=lvs_mode,
        vips=tuple(vips),
    )
