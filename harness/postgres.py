"""A throwaway PostgreSQL cluster on a free loopback port, for tests that stop and start the database.

The shared server on 127.0.0.1:5432 is never stopped; a test that needs PostgreSQL to fail runs its
own: ``initdb`` into a temporary directory, then ``postgres`` itself in the foreground (not
``pg_ctl``, which daemonizes), so the process held is the server and ``stop()`` ends it by its PID.
The data directory outlives ``stop()``, so ``start()`` again brings the same database back, as an
outage that ends does. PostgreSQL refuses to run as root, so as root the cluster runs as the
``postgres`` account the Debian package creates.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from harness.process import HOST, free_port

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
"""Debian keeps the server programs out of PATH, one directory per major version (newest first)."""
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
ACCOUNT = "postgres"


def which_postgres() -> Path | None:
    """The directory with ``initdb`` and ``postgres``, or None when the server is not installed."""
    for directory in BIN_DIRS:
        if (directory / "initdb").is_file() and (directory / "postgres").is_file():
            return directory
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class PostgresStartError(RuntimeError):
    """The cluster did not come up; the message carries its log."""


class PostgresServer:
    """``initdb`` once, then ``postgres`` in the foreground on ``host`` and a free port."""

    def __init__(self, host: str = HOST, port: int = 0) -> None:
        found = which_postgres()
        if found is None:
            raise FileNotFoundError("initdb and postgres (Debian package 'postgresql')")
        self.bin = found
        self.host = host
        self.port = port or free_port(host)
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="gslb-postgres-")
        self.root = Path(self._dir.name)
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self._user = ACCOUNT if os.geteuid() == 0 else None
        if self._user is not None:
            account = pwd.getpwnam(self._user)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._initdb()

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the cluster's ``postgres`` database (trust auth, no password)."""
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/postgres"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("postgres is not running")
        return self.process.pid

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(args, capture_output=True, check=False, user=self._user, timeout=120)

    def _initdb(self) -> None:
        done = self._run(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        )
        if done.returncode != 0:
            raise PostgresStartError(f"initdb failed:\n{done.stdout.decode()}{done.stderr.decode()}")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        if self.process is not None:
            raise RuntimeError("postgres is already running")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(self.bin / "postgres"),
                    *("-D", str(self.data), "-p", str(self.port), "-k", str(self.root)),
                    *("-c", f"listen_addresses={self.host}", "-c", "fsync=off"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                user=self._user,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not self.accepting():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise PostgresStartError(f"postgres did not start:\n{self.log}")
            time.sleep(0.05)

    def accepting(self) -> bool:
        done = self._run([str(self.bin / "pg_isready"), "-h", self.host, "-p", str(self.port), "-t", "1"])
        return done.returncode == 0

    def stop(self, how: signal.Signals = signal.SIGINT) -> None:
        """End the server by its PID: SIGINT is PostgreSQL's fast shutdown (clients are cut off at once,
        as in an outage); it is killed if it has not stopped within STOP_TIMEOUT."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(how)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def close(self) -> None:
        """Stop the server and remove the cluster."""
        self.stop()
        self._dir.cleanup()
