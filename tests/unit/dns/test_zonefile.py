"""Zone files: good ones load, bad ones name file, line and what is wrong."""

from __future__ import annotations

from pathlib import Path

import dns.zone
import pytest

from gslb import cli
from gslb.dns.zonefile import ZoneLoadErrors, load_zones
from gslb.errors import ZoneError
from tests.conftest import EXAMPLE_ZONES, TEST_ZONES

HEADER = "$TTL 60\n@ IN SOA ns1 hostmaster 1 3600 600 86400 60\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"


def write(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(body)
    return path


def test_example_zone_loads() -> None:
    (zone,) = load_zones(EXAMPLE_ZONES)
    assert zone.origin.to_text() == "gslb.example.test."
    assert zone.serial == 2026112501


@pytest.mark.parametrize(
    ("record", "line", "detail"),
    [
        ("www IN A 192.0.2", 5, "malformed"),
        ("www IN BOGUS 1", 5, "unknown rdatatype"),
        ("www IN A 192.0.2.1 extra", 5, "expected EOL"),
        ("www.other.test. IN A 192.0.2.1", 5, "outside the zone"),
    ],
)
def test_syntax_errors_name_file_and_line(tmp_path: Path, record: str, line: int, detail: str) -> None:
    path = write(tmp_path, "bad.test.zone", HEADER + record + "\nlater IN A 192.0.2.9\n")
    with pytest.raises(ZoneError) as caught:
        load_zones(tmp_path)
    error = caught.value.errors[0] if isinstance(caught.value, ZoneLoadErrors) else caught.value
    assert error.path == str(path)
    assert error.line == line
    assert detail in error.detail
    assert f"{path}:{line}:" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("$TTL 60\nwww IN A 192.0.2.1\n", "no SOA"),
        ("$TTL 60\n@ IN SOA ns1 h 1 2 3 4 5\nwww IN A 192.0.2.1\n", "no NS"),
        (HEADER + "www IN CNAME ns1\nwww IN A 192.0.2.1\n", "CNAME"),
        (HEADER + "d IN DNAME elsewhere.test.\n", "DNAME"),
        (HEADER + "x IN SOA ns1 h 1 2 3 4 5\n", "SOA"),
    ],
)
def test_invalid_contents_are_refused(tmp_path: Path, body: str, detail: str) -> None:
    write(tmp_path, "bad.test.zone", body)
    with pytest.raises(ZoneError, match=detail):
        load_zones(tmp_path)


def test_every_broken_file_is_reported_and_nothing_loads(tmp_path: Path) -> None:
    write(tmp_path, "good.test.zone", HEADER)
    write(tmp_path, "a.test.zone", HEADER + "x IN A nope\n")
    write(tmp_path, "b.test.zone", "$TTL 60\nx IN A 192.0.2.1\n")
    with pytest.raises(ZoneLoadErrors) as caught:
        load_zones(tmp_path)
    assert [Path(e.path).name for e in caught.value.errors] == ["a.test.zone", "b.test.zone"]


def test_empty_or_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ZoneError, match="no zone files"):
        load_zones(tmp_path)
    with pytest.raises(ZoneError, match="does not exist"):
        load_zones(tmp_path / "missing")


def test_other_files_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "ok.test.zone", HEADER)
    write(tmp_path, "README.md", "not a zone")
    assert [z.origin.to_text() for z in load_zones(tmp_path)] == ["ok.test."]


@pytest.mark.parametrize("directory", [EXAMPLE_ZONES, TEST_ZONES])
def test_every_record_is_counted_plain_owners_included(
    directory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.check(directory) == 0
    printed = capsys.readouterr().out
    for loaded in load_zones(directory):
        whole = dns.zone.from_file(str(loaded.path), origin=loaded.origin, relativize=False)
        expected = sum(len(rdataset) for _, rdataset in whole.iterate_rdatasets())
        assert loaded.zone.plain.records > 0
        assert loaded.records == expected
        assert f"ok {loaded.origin} serial {loaded.serial} records {expected} " in printed
