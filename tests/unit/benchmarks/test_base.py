"""bench/dnsperf_example.py --base: the checkout before a change runs as server 'base' in the same rounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.dnsperf_example import REPO_ROOT, parse_args


def test_base_runs_right_after_gslb_and_only_when_named() -> None:
    assert "base" not in parse_args([]).servers
    args = parse_args(["--base", str(REPO_ROOT), "--servers", "gslb,knot"])
    assert args.servers == ["gslb", "base", "knot"] and args.base == REPO_ROOT
    assert parse_args(["--base", str(REPO_ROOT), "--servers", "knot"]).servers == ["base", "knot"]


def test_base_must_be_a_gslb_checkout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--base", str(tmp_path)])
    assert "is not a gslb checkout" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--servers", "gslb,base"])
    assert "base needs --base DIR" in capsys.readouterr().err
