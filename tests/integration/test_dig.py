"""The README's commands, run with the real ``dig`` against the real server.

Each test runs exactly what the README shows (with the test's port), so the README stays true.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integration.server import GslbProcess

README = ROOT / "README.md"


def readme_dig_commands() -> list[str]:
    """Every ``dig @127.0.0.1 -p 5353 ...`` line of the README."""
    return re.findall(r"^\$? ?(dig @127\.0\.0\.1 -p 5353 [^\n]+)$", README.read_text(), flags=re.MULTILINE)


def run_dig(dig: str, command: str, port: int) -> str:
    args = command.split()[1:]
    args = [str(port) if a == "5353" else a for a in args]
    result = subprocess.run([dig, *args], capture_output=True, text=True, timeout=10, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_readme_has_dig_examples() -> None:
    commands = readme_dig_commands()
    assert "dig @127.0.0.1 -p 5353 www.gslb.example.test A" in commands
    assert "dig @127.0.0.1 -p 5353 gslb.example.test SOA" in commands
    assert len(commands) >= 5


def test_every_readme_dig_example_answers(dig: str, example_zones: Path) -> None:
    with GslbProcess(example_zones) as server:
        for command in readme_dig_commands():
            output = run_dig(dig, command, server.port)
            assert "status: NOERROR" in output or "+short" in command, (command, output)
            assert "flags: qr aa" in output or "+short" in command, (command, output)


def test_dig_sees_the_www_pool_and_the_soa(dig: str, gslb_auth: GslbProcess) -> None:
    www = run_dig(dig, f"dig @127.0.0.1 -p {gslb_auth.port} www.gslb.example.test A +short", gslb_auth.port)
    addresses = www.split()
    assert len(set(addresses)) == 2 and set(addresses) <= {"192.0.2.10", "198.51.100.10", "203.0.113.10"}
    soa = run_dig(dig, f"dig @127.0.0.1 -p {gslb_auth.port} gslb.example.test SOA +tcp", gslb_auth.port)
    assert "status: NOERROR" in soa and "2026112501" in soa and "(TCP)" in soa
    nx = run_dig(dig, f"dig @127.0.0.1 -p {gslb_auth.port} nothing.gslb.example.test A", gslb_auth.port)
    assert "status: NXDOMAIN" in nx and "AUTHORITY: 1" in nx


def test_dig_over_ipv6(dig: str, gslb_auth: GslbProcess) -> None:
    result = subprocess.run(
        [dig, "@::1", "-p", str(gslb_auth.port), "www.gslb.example.test", "AAAA", "+short"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert result.stdout.split() == ["2001:db8:10::10"]


def test_gslb_check_validates_the_example_zones(example_zones: Path) -> None:
    result = subprocess.run(
        ["python3", "-m", "gslb", "check", str(example_zones)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok gslb.example.test. serial 2026112501")


def test_serve_refuses_to_start_on_a_broken_zone(tmp_path: Path) -> None:
    (tmp_path / "broken.test.zone").write_text(
        "$TTL 60\n@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 1.2.3\n"
    )
    server = GslbProcess(tmp_path, probe_zone="broken.test.")
    with pytest.raises(RuntimeError, match=r"broken\.test\.zone:4: Text input is malformed"):
        server.start(timeout=10)
