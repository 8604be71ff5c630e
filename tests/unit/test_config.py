"""Settings: precedence file < environment < flags, and errors that name the setting."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from gslb.config import DEFAULT_LISTEN, Endpoint, dumps, load, loads
from gslb.errors import ConfigError
from tests.conftest import ROOT


def test_defaults_serve_the_example_on_5353() -> None:
    settings = load(environ={})
    assert settings.listen == DEFAULT_LISTEN
    assert [str(e) for e in settings.listen] == ["127.0.0.1:5353", "[::1]:5353"]
    assert settings.zones == Path("zones") and settings.max_udp_payload == 1232
    assert settings.listen_is_default


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "gslb.toml"
    config.write_text(
        'listen = ["127.0.0.1:1053"]\nmax_udp_payload = 1400\ntransfer_allow = ["127.0.0.2/32"]\n'
    )
    settings = load(config, environ={"GSLB_MAX_UDP_PAYLOAD": "1300"}, overrides={"zones": "/srv/zones"})
    assert settings.listen == (Endpoint("127.0.0.1", 1053),)
    assert not settings.listen_is_default
    assert settings.max_udp_payload == 1300
    assert settings.zones == Path("/srv/zones")
    assert settings.transfer_allow == (ipaddress.ip_network("127.0.0.2/32"),)
    assert load(config, environ={}, overrides={"max_udp_payload": 4096}).max_udp_payload == 4096


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"listen": ["127.0.0.1"]}, "listen"),
        ({"listen": ["localhost:53"]}, "not an IP address"),
        ({"listen": ["127.0.0.1:70000"]}, "out of range"),
        ({"max_udp_payload": 100}, "max_udp_payload"),
        ({"tcp_idle_timeout": 0}, "tcp_idle_timeout"),
        ({"tcp_max_connections": 0}, "tcp_max_connections"),
        ({"udp_batch": 0}, "udp_batch: 0 is outside 1-1024"),
        ({"udp_batch": 1025}, "udp_batch: 1025 is outside 1-1024"),
        ({"transfer_allow": ["10.0.0.0/33"]}, "transfer_allow"),
        ({"log_level": "loud"}, "log_level"),
        ({"workers": 0}, "workers: 0 is outside 1-256"),
        ({"workers": 257}, "workers: 257 is outside 1-256"),
        ({"workers": "two"}, "--workers: expected a number"),
    ],
)
def test_bad_values_name_the_setting(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(environ={}, overrides=overrides)


def test_unknown_key_and_bad_toml_are_reported_with_the_file(tmp_path: Path) -> None:
    config = tmp_path / "gslb.toml"
    config.write_text("listne = []\n")
    with pytest.raises(ConfigError, match="unknown setting 'listne'"):
        load(config, environ={})
    config.write_text("listen = [\n")
    with pytest.raises(ConfigError, match=str(config)):
        load(config, environ={})


def test_ipv6_endpoint_syntax() -> None:
    assert Endpoint.parse("[::1]:5353") == Endpoint("::1", 5353)
    assert str(Endpoint.parse("[::1]:53")) == "[::1]:53"


def test_readme_toml_example_is_valid(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = [block.split("```", 1)[0] for block in readme.split("```toml\n")[1:]]
    example = next(block for block in blocks if block.startswith("zones ="))
    config = tmp_path / "gslb.toml"
    config.write_text(example)
    settings = load(config, environ={})
    assert [str(e) for e in settings.listen] == ["127.0.0.1:53", "[::1]:53"]
    assert settings.zones == Path("/etc/gslb/zones")


def test_client_prefixes_and_pool_ttl_bounds() -> None:
    settings = load(environ={"GSLB_CLIENT_PREFIX_V4": "20"}, overrides={"pool_ttl_floor": 10})
    assert (settings.client_prefix_v4, settings.client_prefix_v6) == (20, 56)
    assert (settings.pool_ttl_floor, settings.pool_ttl_ceiling) == (10, 300)
    with pytest.raises(ConfigError, match="client_prefix_v6"):
        load(environ={}, overrides={"client_prefix_v6": 129})
    with pytest.raises(ConfigError, match="pool_ttl_floor"):
        load(environ={}, overrides={"pool_ttl_floor": 400})


def test_workers_from_file_environment_and_flag(tmp_path: Path) -> None:
    assert load(environ={}).workers == 1
    config = tmp_path / "gslb.toml"
    config.write_text("workers = 4\n")
    assert load(config, environ={}).workers == 4
    assert load(config, environ={"GSLB_WORKERS": "3"}).workers == 3
    assert load(config, environ={"GSLB_WORKERS": "3"}, overrides={"workers": 2}).workers == 2
    with pytest.raises(ConfigError, match="GSLB_WORKERS"):
        load(environ={"GSLB_WORKERS": "many"})
    config.write_text("workers = true\n")
    with pytest.raises(ConfigError, match="workers: expected a number"):
        load(config, environ={})


def test_settings_handed_to_a_worker_are_the_settings_loaded() -> None:
    """What the supervisor writes down a worker's channel; equal, and ``listen_is_default`` kept."""
    settings = load(
        environ={},
        overrides={
            "zones": "/srv/zones",
            "listen": ["127.0.0.1:53", "[::1]:53"],
            "transfer_allow": ["127.0.0.2/32", "2001:db8::/64"],
            "tcp_idle_timeout": 2.5,
            "workers": 8,
            "udp_batch": 1,
            "db": "postgresql+psycopg://gslb@db/gslb",
        },
    )
    handed = loads(dumps(settings))
    assert handed == settings and not handed.listen_is_default
    assert loads(dumps(load(environ={}))).listen_is_default
    with pytest.raises(ConfigError, match="handed-over settings"):
        loads('{"zones": "zones"}')
