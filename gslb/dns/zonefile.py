"""Standard RFC 1035 master files in ``zones/`` → validated zones: dnspython's, with the plain
owners' records beside them as wire (gslb/dns/plain.py).

A zone is served whole or not at all: every problem in every file is collected and reported
with its file (and line where the parser knows it), and nothing is served until all are fixed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.tokenizer
import dns.zone
import dns.zonefile

from gslb.dns import zonelines
from gslb.dns.plain import StaticZone
from gslb.errors import ZoneError
from gslb.runtime import gcpause

ZONE_SUFFIX = ".zone"

# Types whose semantics the responder does not implement; serving them as plain data would
# give wrong answers (DNAME rewrites names below it), so they are refused at load time.
UNSUPPORTED_TYPES = {dns.rdatatype.DNAME: "DNAME redirection is not supported"}

_LOCATION = re.compile(r"^(?P<path>.*):(?P<line>\d+): (?P<detail>.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class LoadedZone:
    """A zone as read from one file."""

    origin: dns.name.Name
    path: Path
    zone: StaticZone

    @property
    def serial(self) -> int:
        soa = self.zone.get_soa()
        return int(soa.serial)

    @property
    def records(self) -> int:
        """Every record of the file (an RRset's duplicates once), plain owners' included."""
        return sum(len(rdataset) for _, rdataset in self.zone.iterate_rdatasets()) + self.zone.plain.records


class ZoneLoadErrors(ZoneError):
    """Several zone files failed; each error is kept so all can be reported at once."""

    def __init__(self, errors: list[ZoneError]) -> None:
        self.errors = errors
        ZoneError.__init__(self, errors[0].path, errors[0].detail, errors[0].line)
        self.args = ("\n".join(str(e) for e in errors),)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


def zone_files(directory: Path) -> list[Path]:
    """The zone files of a directory: one zone per ``<origin>.zone`` file, sorted by name."""
    return sorted(p for p in directory.iterdir() if p.is_file() and p.name.endswith(ZONE_SUFFIX))


def origin_of(path: Path) -> dns.name.Name:
    """The zone origin a file serves, taken from its name as Knot and gdnsd do."""
    return dns.name.from_text(path.name[: -len(ZONE_SUFFIX)])


def load_zone(path: Path) -> LoadedZone:
    """Read and validate one zone file; raise ZoneError naming the file (and line)."""
    try:
        origin = origin_of(path)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, dns.exception.DNSException) as exc:
        raise ZoneError(str(path), f"cannot read zone file: {exc}") from exc
    zone = _parse(path, origin, text)
    _check_contents(path, zone)
    return LoadedZone(origin, path, zone)


def load_zones(directory: Path) -> list[LoadedZone]:
    """Load every zone file of ``directory``; all errors are gathered into one exception."""
    if not directory.is_dir():
        raise ZoneError(str(directory), "zone directory does not exist")
    loaded: list[LoadedZone] = []
    errors: list[ZoneError] = []
    with gcpause.paused():
        for path in zone_files(directory):
            try:
                loaded.append(load_zone(path))
            except ZoneError as exc:
                errors.append(exc)
    seen: dict[dns.name.Name, Path] = {}
    for zone in loaded:
        if zone.origin in seen:
            errors.append(
                ZoneError(str(zone.path), f"zone {zone.origin} is also served by {seen[zone.origin]}")
            )
        seen[zone.origin] = zone.path
    if errors:
        raise ZoneLoadErrors(errors)
    if not loaded:
        raise ZoneError(str(directory), f"no zone files (*{ZONE_SUFFIX}) found")
    return loaded


class _StrictReader(dns.zonefile.Reader):
    """dnspython's reader, except that an owner outside the zone is an error, not skipped."""

    def _eat_line(self) -> None:
        name = self.last_name
        raise dns.exception.SyntaxError(
            f"{self.tok.filename}:{self.tok.line_number}: owner {name} is outside the zone {self.zone_origin}"
        )


def _parse(path: Path, origin: dns.name.Name, text: str, *, simple_lines: bool = True) -> StaticZone:
    """The zone of ``text``; ``simple_lines=False`` leaves every line to dnspython (for tests)."""
    try:
        slow: frozenset[bytes] = frozenset()
        while True:
            try:
                zone = _read(path, origin, text, simple_lines, slow)
                break
            except zonelines.Interleaved as mixed:
                slow |= mixed.owners  # never any of slow's: this ends
        zone.check_origin()
    except dns.exception.SyntaxError as exc:
        line, detail = _locate(path, origin, text, str(exc))
        raise ZoneError(str(path), detail, line) from exc
    except dns.zone.NoSOA as exc:
        raise ZoneError(str(path), f"zone {origin} has no SOA record at its origin") from exc
    except dns.zone.NoNS as exc:
        raise ZoneError(str(path), f"zone {origin} has no NS records at its origin") from exc
    except dns.zonefile.CNAMEAndOtherData as exc:
        raise ZoneError(str(path), f"a CNAME shares its owner name with other data: {exc}") from exc
    except (dns.exception.DNSException, ValueError) as exc:
        raise ZoneError(str(path), str(exc) or type(exc).__name__) from exc
    return zone


def _read(
    path: Path, origin: dns.name.Name, text: str, simple_lines: bool, slow: frozenset[bytes] = frozenset()
) -> StaticZone:
    """The zone of ``text``, the simple lines of owners not in ``slow`` read by zonelines."""
    zone = StaticZone(origin)
    with zone.writer(True) as txn:
        reader = _StrictReader(dns.tokenizer.Tokenizer("", str(path)), dns.rdataclass.IN, txn)
        if simple_lines:
            simple = zonelines.read(reader, text, str(path), slow)
        else:
            reader.tok = dns.tokenizer.Tokenizer(text, str(path))
            reader.read()
            simple = {}
    zone.plain = zonelines.merge(zone, simple)
    return zone


def _locate(path: Path, origin: dns.name.Name, text: str, message: str) -> tuple[int | None, str]:
    """Line and detail of a dnspython syntax error, corrected to the record's own line.

    dnspython validates some rdata only after reading the end of line, so it reports the line
    after the faulty record; if the text up to that line fails the same way, it was that line.
    """
    match = _LOCATION.match(message)
    if match is None:
        return None, message
    line, detail = int(match["line"]), match["detail"]
    if line > 1:
        prefix = "\n".join(text.splitlines()[: line - 1]) + "\n"
        try:
            dns.zone.from_text(
                prefix, origin=origin, relativize=False, filename=str(path), check_origin=False
            )
        except dns.exception.SyntaxError as exc:
            again = _LOCATION.match(str(exc))
            if again is not None and again["detail"] == detail:
                line -= 1
        except dns.exception.DNSException:
            pass
    return line, detail


def _check_contents(path: Path, zone: StaticZone) -> None:
    """Refuse what the responder does not serve. Plain owners (zone.plain) hold only class IN
    A, AAAA and TXT records below the apex: nothing here to refuse."""
    assert zone.origin is not None
    soa = zone.get_rdataset(zone.origin, dns.rdatatype.SOA)
    if soa is not None and len(soa) != 1:
        raise ZoneError(str(path), f"zone {zone.origin} has {len(soa)} SOA records; exactly one is allowed")
    for name, node in zone.nodes.items():
        for rdataset in node.rdatasets:
            if rdataset.rdclass != dns.rdataclass.IN:
                raise ZoneError(str(path), f"{name} {rdataset.rdclass.name}: only class IN is served")
            reason = UNSUPPORTED_TYPES.get(rdataset.rdtype)
            if reason:
                raise ZoneError(str(path), f"{name} {rdataset.rdtype.name}: {reason}")
            if rdataset.rdtype == dns.rdatatype.SOA and name != zone.origin:
                raise ZoneError(str(path), f"{name} SOA: an SOA record is only allowed at the zone origin")
