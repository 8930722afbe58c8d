"""docker/nginx.conf in front of daphne processes on 127.0.0.1, as compose runs it.

The site file is the repo's own, changed in two places only: Docker's DNS (`resolver
127.0.0.11`, `server web:8000 resolve;`) becomes one `server 127.0.0.1:PORT;` line per daphne
(Debian's nginx also predates `resolve`), and `listen 8000` a free loopback port. The main file
around it is the nginx image's (`worker_processes auto`, 1024 connections a worker, an access
log), with every path under the work directory so that nothing needs root.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.support.servers import ROOT, free_port

SITE = ROOT / "docker" / "nginx.conf"
_DOCKER_ONLY = (
    "resolver 127.0.0.11 valid=5s ipv6=off;",
    "server web:8000 resolve;",
    "listen 8000;",
)


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None


def loopback_site(upstream_ports: list[int], port: int) -> str:
    """docker/nginx.conf with its Docker-only lines made for daphnes on 127.0.0.1."""
    site = SITE.read_text()
    for line in _DOCKER_ONLY:
        if line not in site:
            raise RuntimeError(f"docker/nginx.conf changed: update tests/support/nginx.py ({line})")
    servers = "\n    ".join(f"server 127.0.0.1:{p};" for p in upstream_ports)
    site = site.replace(_DOCKER_ONLY[0], "# (Docker's resolver: not used on loopback)")
    site = site.replace(_DOCKER_ONLY[1], servers)
    return site.replace(_DOCKER_ONLY[2], f"listen 127.0.0.1:{port};")


def main_conf(workdir: Path) -> str:
    """The nginx image's nginx.conf, its paths moved under `workdir`."""
    temp = " ".join(
        f"{kind}_temp_path {workdir / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"pid {workdir / 'nginx.pid'};\n"
        f"error_log {workdir / 'error.log'} notice;\n"
        "daemon off;\n"
        "worker_processes auto;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        "  default_type application/octet-stream;\n"
        "  log_format upstream '$upstream_addr $status \"$request\"';\n"
        f"  access_log {workdir / 'access.log'} upstream;\n"
        "  sendfile on;\n"
        "  keepalive_timeout 65;\n"
        f"  {temp}\n"
        f"  include {workdir / 'site.conf'};\n"
        "}\n"
    )


class NginxProxy:
    """nginx serving the repo's site file in front of `upstream_ports`."""

    def __init__(self, workdir: Path, upstream_ports: list[int]) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        (workdir / "site.conf").write_text(loopback_site(upstream_ports, self.port))
        (workdir / "nginx.conf").write_text(main_conf(workdir))
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        nginx = nginx_binary()
        if nginx is None:
            raise RuntimeError("nginx is not installed (apt-get install nginx)")
        conf = str(self.workdir / "nginx.conf")
        command = [nginx, "-p", str(self.workdir), "-c", conf]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed: {check.stderr}")
        self.proc = subprocess.Popen(command)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError((self.workdir / "error.log").read_text()) from None
                time.sleep(0.1)
        raise RuntimeError("nginx did not listen")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def upstreams(self) -> list[str]:
        """The upstream address of each request, in order."""
        log = (self.workdir / "access.log").read_text()
        return [line.split()[0] for line in log.splitlines()]
