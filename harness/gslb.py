"""``gslb serve`` as a child process on a free loopback port, for the integration tests and bench/."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import dns.message

from harness.process import HOST, ServerProcess, free_port


class GslbProcess(ServerProcess):
    """``python -m gslb serve`` on ``zones``; ready once ``probe_zone`` answers, stopped on leaving ``with``.

    ``workdir`` is the child's working directory (None: ours); ``python -m gslb`` finds the package there
    when it is not installed. With ``--workers N`` in ``extra_args`` it is ready once one worker answers
    (the log says ``workers ready`` once all do), and stopping it leaves none of them running.
    """

    name = "gslb"
    port_taken_markers = ("Address already in use",)  # its DNS or its API port

    def __init__(
        self,
        zones: Path,
        extra_args: Sequence[str] = (),
        host: str = HOST,
        port: int = 0,
        listen_v6: bool = False,
        probe_zone: str = "gslb.example.test.",
        workdir: Path | None = None,
        *,
        prefix: Sequence[str] = (),
        environ: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(host, port, prefix)
        self.zones = zones
        self.extra_args = tuple(extra_args)
        self.listen_v6 = listen_v6
        self.probe_zone = probe_zone
        self.workdir = workdir
        self.environ = dict(environ or {})  # added to the child's environment (GSLB_API_TOKENS, ...)
        self.api_port = 0  # the admin API's, chosen at each launch unless extra_args set --api-listen

    def command(self) -> list[str]:
        args = [sys.executable, "-m", "gslb", "serve", "--zones", str(self.zones)]
        args += ["--listen", f"{self.host}:{self.port}"]
        if self.listen_v6:
            args += ["--listen", f"[::1]:{self.port}"]
        if "--api-listen" not in self.extra_args:
            self.api_port = free_port(self.host)
            args += ["--api-listen", f"{self.host}:{self.api_port}"]
        if "--db" not in self.extra_args:
            # Each server gets its own store, so no test sees another's pools (or the checkout's).
            args += ["--db", f"sqlite:///{self.rundir / 'gslb.sqlite'}"]
        return args + list(self.extra_args)

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    def probe_zones(self) -> Sequence[str]:
        return (self.probe_zone,)

    def cwd(self) -> Path | None:
        return self.workdir

    def env(self) -> Mapping[str, str]:
        return dict(os.environ, PYTHONUNBUFFERED="1", **self.environ)

    def ready_answer(self, response: dns.message.Message) -> bool:
        # gslb loads every zone before it opens a socket, so any answer means it is ready; that includes a
        # REFUSED for a probe zone it does not serve, which tests starting it on other zones rely on.
        return True
