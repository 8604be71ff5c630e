"""The README's "Admin API" section, run as written: real curl against a real ``gslb serve``.

Each ``sh`` block of the section that calls curl is run by bash, in order, in one shell (the
examples pass an ETag from one command to the next), with the README's token and address replaced
by the test server's. Every curl command is followed in the README by a comment giving its
status (``# 412 {...}``); the status each one got must be that one. So a README example that stops
working, or whose documented answer changes, fails here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.integration.conftest import ApiTokens, required_tool
from tests.integration.server import GslbProcess

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECTION = "## Admin API"
EXPECTED = re.compile(r"^# (\d{3})\b")
SETTINGS = {"TOKEN": re.compile(r"^TOKEN=\S+"), "GSLB": re.compile(r"^GSLB=\S+")}


@dataclass(frozen=True, slots=True)
class Command:
    line: int  # in README.md, for the failure message
    text: str  # continuation lines joined
    status: int | None  # what the README says it answers; None: not a curl command


def section(text: str) -> list[str]:
    """The README's lines from the Admin API heading to the next heading of its level."""
    lines = text.splitlines()
    start = lines.index(SECTION)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def blocks(lines: list[str], offset: int) -> list[list[tuple[int, str]]]:
    """The ``sh`` code blocks that call curl, each as (README line number, line) pairs."""
    found: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] | None = None
    for number, line in enumerate(lines, start=offset):
        if current is None and line.strip() == "```sh":
            current = []
        elif current is not None and line.strip() == "```":
            if any("curl " in text for _, text in current):
                found.append(current)
            current = None
        elif current is not None:
            current.append((number, line))
    return found


def commands(block: list[tuple[int, str]]) -> list[Command]:
    """The block's commands, each curl command with the status the comment under it gives."""
    result: list[Command] = []
    pending: tuple[int, str] | None = None
    for number, line in block:
        if pending is not None:
            pending = (pending[0], pending[1] + "\n" + line)
        elif line.strip() and not line.startswith("#"):
            pending = (number, line)
        else:
            expected = EXPECTED.match(line)
            if expected and result and result[-1].status is None and "curl " in result[-1].text:
                last = result[-1]
                result[-1] = Command(last.line, last.text, int(expected.group(1)))
            continue
        if not pending[1].endswith("\\"):
            result.append(Command(pending[0], pending[1], None))
            pending = None
    assert pending is None, f"README.md:{block[-1][0]}: a command ends with a backslash"
    return result


def script(all_commands: list[Command], settings: dict[str, str], headers: Path, results: Path) -> str:
    """One bash script: each curl writes its response headers to ``headers``; after each README
    curl command, its README line and the status it got go to ``results``."""
    lines = [
        "set -u",
        f'curl() {{ command curl -D {headers} "$@"; }}',
        f"record() {{ echo \"$1 $(head -c 12 {headers} 2>/dev/null | cut -d' ' -f2)\" >> {results}; }}",
    ]
    for command in all_commands:
        text = command.text
        for name, pattern in SETTINGS.items():
            text = pattern.sub(f"{name}={settings[name]}", text)
        if command.status is None:
            lines.append(text)
        else:
            lines += [f"rm -f {headers}", text, f"record {command.line}"]
    return "\n".join(lines) + "\n"


def test_the_readme_api_examples_work_as_written(
    api_server: GslbProcess, api_tokens: ApiTokens, tmp_path: Path
) -> None:
    required_tool("curl", "curl")
    text = README.read_text(encoding="utf-8")
    lines = section(text)
    offset = text.splitlines().index(SECTION) + 1
    all_commands = [c for block in blocks(lines, offset) for c in commands(block)]
    curls = [c for c in all_commands if "curl " in c.text]
    assert len(curls) >= 12, "the section lost its examples"
    undocumented = [c.line for c in curls if c.status is None]
    assert not undocumented, f"README.md lines {undocumented}: a curl command without its '# STATUS' comment"
    for name, pattern in SETTINGS.items():
        assert any(pattern.match(c.text) for c in all_commands), f"the examples no longer set {name}"

    headers, results = tmp_path / "headers", tmp_path / "results"
    settings = {"TOKEN": api_tokens.admin, "GSLB": api_server.api_url}
    run = subprocess.run(
        ["bash", "-c", script(all_commands, settings, headers, results)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    got = dict(line.split(" ", 1) for line in results.read_text().splitlines())
    for command in curls:
        assert got.get(str(command.line)) == str(command.status), (
            f"README.md:{command.line}: {command.text!r} answered {got.get(str(command.line))}, "
            f"the README says {command.status}\n{run.stdout[-2000:]}"
        )


def test_the_readme_token_example_is_what_gslb_token_create_prints() -> None:
    text = "\n".join(section(README.read_text(encoding="utf-8")))
    assert "gslb token create ops --role admin" in text
    run = subprocess.run(
        [sys.executable, "-m", "gslb", "token", "create", "ops", "--role", "admin"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    printed = run.stdout.splitlines()
    shown = [
        line for line in text.splitlines() if line.startswith(("token (", "configure", "api_tokens", "or in"))
    ]
    assert len(shown) == len(printed) == 4
    for readme_line, line in zip(shown, printed, strict=True):
        # The README abridges the secret and the hash ("4a45d30f…"): any such word stands for one.
        parts = re.split(r"[A-Za-z0-9_-]*…", readme_line)
        assert re.fullmatch("[A-Za-z0-9_-]+".join(map(re.escape, parts)), line), (readme_line, line)
