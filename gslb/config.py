"""Settings from a TOML file, then ``GSLB_*`` environment variables, then flags; validated once.

The result is one frozen ``Settings`` passed explicitly to whatever needs it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from gslb.errors import ConfigError
from gslb.model import DEFAULT_TTL_BOUNDS, TtlBounds
from gslb.tokens import ApiToken

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An address and port to listen on; ``str()`` gives ``127.0.0.1:5353`` or ``[::1]:5353``."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str, setting: str = "listen") -> Endpoint:
        text = text.strip()
        if text.startswith("["):
            host, sep, port = text[1:].partition("]:")
        else:
            host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit():
            raise ConfigError(f"{setting}: {text!r} is not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)")
        try:
            address = ipaddress.ip_address(host)
        except ValueError as exc:
            raise ConfigError(f"{setting}: {host!r} is not an IP address") from exc
        number = int(port)
        if not 0 < number < 65536:
            raise ConfigError(f"{setting}: port {number} is out of range 1-65535")
        return cls(str(address), number)

    @property
    def family_v6(self) -> bool:
        return ":" in self.host

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if self.family_v6 else f"{self.host}:{self.port}"


DEFAULT_LISTEN = (Endpoint("127.0.0.1", 5353), Endpoint("::1", 5353))
DEFAULT_API_LISTEN = Endpoint("127.0.0.1", 8053)
OFF = "off"  # api_listen's value for no API at all
MAX_WORKERS = 256
MAX_UDP_BATCH = 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable. Field names are the TOML keys and, upper-cased, the GSLB_ env names."""

    zones: Path = Path("zones")
    listen: tuple[Endpoint, ...] = DEFAULT_LISTEN
    max_udp_payload: int = 1232
    tcp_idle_timeout: float = 10.0
    tcp_max_connections: int = 256
    # Datagrams read and answered per system call where the platform has recvmmsg/sendmmsg
    # (gslb/answer/mmsg.py); 1 answers each with its own recvfrom/sendto.
    udp_batch: int = 32
    transfer_allow: tuple[Network, ...] = ()
    log_level: str = "info"
    # Any SQLAlchemy URL; the default is a SQLite file in the working directory. Its environment
    # variable is GSLB_DB_URL (see _ENV_NAMES).
    db: str = "sqlite:///gslb.sqlite"
    # Sticky policies key clients by their network: the ECS subnet, else the source address
    # truncated to these prefix lengths.
    client_prefix_v4: int = 24
    client_prefix_v6: int = 56
    # Every pool's TTL is kept within these bounds, whatever a pool declares.
    pool_ttl_floor: int = DEFAULT_TTL_BOUNDS.floor  # what unsettled and draining pools answer with
    pool_ttl_ceiling: int = DEFAULT_TTL_BOUNDS.ceiling
    # Processes answering on the same listeners (SO_REUSEPORT); more than 1 adds a supervisor.
    workers: int = 1
    # The admin API's address ("off": none), and the tokens it accepts: NAME:ROLE:sha256:HEX each,
    # only the hash of the secret (gslb token create). Without tokens it serves only the open
    # paths (healthz, readyz, metrics), and it refuses to listen beyond loopback at all.
    api_listen: Endpoint | None = DEFAULT_API_LISTEN
    api_tokens: tuple[ApiToken, ...] = ()
    # Set when ``listen`` was left at its default: an IPv6 default that the host cannot bind
    # (no IPv6 on the machine) is then skipped with a warning instead of failing start-up.
    listen_is_default: bool = field(default=True, compare=False)

    @property
    def ttl_bounds(self) -> TtlBounds:
        return TtlBounds(self.pool_ttl_floor, self.pool_ttl_ceiling)

    def validate(self) -> Settings:
        if not 512 <= self.max_udp_payload <= 65535:
            raise ConfigError(f"max_udp_payload: {self.max_udp_payload} is outside 512-65535")
        if self.tcp_idle_timeout <= 0:
            raise ConfigError(f"tcp_idle_timeout: {self.tcp_idle_timeout} must be positive")
        if self.tcp_max_connections < 1:
            raise ConfigError(f"tcp_max_connections: {self.tcp_max_connections} must be at least 1")
        if not 1 <= self.udp_batch <= MAX_UDP_BATCH:
            raise ConfigError(f"udp_batch: {self.udp_batch} is outside 1-{MAX_UDP_BATCH}")
        if not self.listen:
            raise ConfigError("listen: at least one ADDRESS:PORT is required")
        if self.log_level.lower() not in ("debug", "info", "warning", "error"):
            raise ConfigError(f"log_level: {self.log_level!r} is not debug, info, warning or error")
        if not 0 <= self.client_prefix_v4 <= 32:
            raise ConfigError(f"client_prefix_v4: {self.client_prefix_v4} is outside 0-32")
        if not 0 <= self.client_prefix_v6 <= 128:
            raise ConfigError(f"client_prefix_v6: {self.client_prefix_v6} is outside 0-128")
        if not 0 <= self.pool_ttl_floor <= self.pool_ttl_ceiling <= 86400:
            raise ConfigError(
                f"pool_ttl_floor/pool_ttl_ceiling: need 0 <= floor <= ceiling <= 86400, "
                f"got {self.pool_ttl_floor} and {self.pool_ttl_ceiling}"
            )
        if not 1 <= self.workers <= MAX_WORKERS:
            raise ConfigError(f"workers: {self.workers} is outside 1-{MAX_WORKERS}")
        if self.api_listen is not None:
            if not ipaddress.ip_address(self.api_listen.host).is_loopback and not self.api_tokens:
                raise ConfigError(
                    f"api_listen: {self.api_listen} is not a loopback address, and no api_tokens are "
                    "configured (create one with gslb token create)"
                )
            if self.api_listen in self.listen:
                raise ConfigError(f"api_listen: {self.api_listen} is also a DNS listener")
        names = [token.name for token in self.api_tokens]
        if len(set(names)) != len(names):
            raise ConfigError(
                "api_tokens: two tokens have the same name (the change log could not tell them apart)"
            )
        if not self.db.strip():
            raise ConfigError("db: a database URL is required, e.g. sqlite:///gslb.sqlite")
        return self


def _networks(values: Any, setting: str) -> tuple[Network, ...]:
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    if not isinstance(values, list):
        raise ConfigError(f"{setting}: expected a list of networks")
    try:
        return tuple(ipaddress.ip_network(str(v).strip()) for v in values)
    except ValueError as exc:
        raise ConfigError(f"{setting}: {exc}") from exc


def _endpoints(values: Any, setting: str) -> tuple[Endpoint, ...]:
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    if not isinstance(values, list):
        raise ConfigError(f"{setting}: expected a list of ADDRESS:PORT")
    return tuple(Endpoint.parse(str(v), setting) for v in values)


def _tokens(values: Any, setting: str) -> tuple[ApiToken, ...]:
    """A list of NAME:ROLE:sha256:HEX strings or {name, role, sha256} tables; a string of them
    separated by commas (an environment variable)."""
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    if not isinstance(values, list):
        raise ConfigError(f"{setting}: expected a list of tokens")
    tokens = []
    for value in values:
        if isinstance(value, dict):
            unknown = set(value) - {"name", "role", "sha256"}
            if unknown or set(value) != {"name", "role", "sha256"}:
                raise ConfigError(
                    f"{setting}: a token table has exactly name, role and sha256, got {sorted(value)}"
                )
            tokens.append(ApiToken.of(str(value["name"]), str(value["role"]), str(value["sha256"]), setting))
        else:
            tokens.append(ApiToken.parse(str(value), setting))
    return tuple(tokens)


def _number(value: Any, setting: str, kind: type[int] | type[float]) -> int | float:
    if isinstance(value, bool):
        raise ConfigError(f"{setting}: expected a number, got {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{setting}: expected a number, got {value!r}") from exc


def _coerce(name: str, value: Any, source: str) -> Any:
    setting = f"{source}{name}"
    if name == "zones":
        return Path(str(value))
    if name == "listen":
        return _endpoints(value, setting)
    if name == "transfer_allow":
        return _networks(value, setting)
    if name in (
        "max_udp_payload", "tcp_max_connections", "client_prefix_v4", "client_prefix_v6", "pool_ttl_floor",
        "pool_ttl_ceiling", "workers", "udp_batch",
    ):  # fmt: skip
        return _number(value, setting, int)
    if name == "api_listen":
        if value is None or str(value).strip().lower() == OFF:
            return None
        return Endpoint.parse(str(value), setting)
    if name == "api_tokens":
        return _tokens(value, setting)
    if name == "tcp_idle_timeout":
        return _number(value, setting, float)
    return str(value)


_KEYS = tuple(f.name for f in fields(Settings) if f.name != "listen_is_default")
# Environment variables not named GSLB_<KEY>: GSLB_DB_URL reads better than GSLB_DB.
_ENV_NAMES = {"db": "GSLB_DB_URL"}


def load(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge file, environment and flag values (later wins) into validated Settings."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = config_file or (Path(environ["GSLB_CONFIG"]) if environ.get("GSLB_CONFIG") else None)
    if config_file is not None:
        try:
            document = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{config_file}: {exc}") from exc
        for key, value in document.items():
            if key not in _KEYS:
                raise ConfigError(f"{config_file}: unknown setting {key!r} (known: {', '.join(_KEYS)})")
            values[key] = _coerce(key, value, f"{config_file}: ")
    for key in _KEYS:
        env_name = _ENV_NAMES.get(key, f"GSLB_{key.upper()}")
        if environ.get(env_name):
            values[key] = _coerce(key, environ[env_name], f"{env_name} → ")
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _coerce(key, value, "--")
    settings = replace(Settings(), **values, listen_is_default="listen" not in values)
    return settings.validate()


def dumps(settings: Settings) -> str:
    """Settings as one line of JSON that ``loads`` turns back into equal Settings.

    A supervisor hands its workers the settings it loaded this way, so a worker started hours later
    serves what the others serve even if the file or the environment changed meanwhile.
    """
    document: dict[str, Any] = {key: _plain(getattr(settings, key)) for key in _KEYS}
    document["listen_is_default"] = settings.listen_is_default
    return json.dumps(document)


def loads(text: str) -> Settings:
    """The Settings ``dumps`` wrote, validated again."""
    try:
        document = json.loads(text)
        values = {key: _coerce(key, document[key], "handed-over settings: ") for key in _KEYS}
        is_default = bool(document["listen_is_default"])
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"handed-over settings: {exc}") from exc
    return replace(Settings(), **values, listen_is_default=is_default).validate()


def _plain(value: Any) -> Any:
    if value is None:
        return OFF
    if isinstance(value, Endpoint):
        return str(value)
    if isinstance(value, tuple):
        return [str(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value
