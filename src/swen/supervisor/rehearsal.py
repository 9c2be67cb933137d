"""``swen up --production``: the production topology rehearsed on one machine, as processes.

    postgres (private cluster under $SWEN_HOME/postgres, or SWEN_DATABASE_URL)
      <- api-1 .. api-3 (swen api, one loopback port each) <- haproxy (SWEN_API_HOST:SWEN_API_PORT)
      <- engine-1, engine-2 (swen engine: they elect one leader through the database)
      <- simulator (swen simulate)
    dashboard (swen dashboard) -> haproxy;  prometheus -> api-1 .. api-3 /metrics;
    prometheus -> alertmanager -> haproxy /alerts (bearer token)

Every SWEN process gets production settings: the PostgreSQL URL, leader election on, an alert token
(``$SWEN_HOME/rehearsal/alert-token``, made once), the API's address as haproxy's. Generated configs
and every process's log live under ``$SWEN_HOME/rehearsal/``. The components are started in that
order by the one supervisor (``swen.supervisor``), each waited for when something depends on it, and
stopped in reverse (the database last).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from swen.config import Settings
from swen.supervisor import Component, StartupError, swen_command
from swen.supervisor.binaries import locate, needed
from swen.supervisor.configs import (
    Replica,
    alertmanager_config,
    haproxy_config,
    prometheus_config,
    rules_text,
)
from swen.supervisor.postgres import PrivateCluster

LOOPBACK = "127.0.0.1"
DIR = "rehearsal"


@dataclass(frozen=True)
class Endpoint:
    """One row of the table `swen up --production` prints."""

    component: str
    address: str
    note: str


@dataclass
class Rehearsal:
    settings: Settings
    database_url: str
    private_cluster: PrivateCluster | None
    components: list[Component]
    endpoints: list[Endpoint]
    env: dict[str, str]
    """What every SWEN process of the rehearsal gets (production settings)."""
    workdir: Path
    ports: dict[str, int] = field(default_factory=dict)
    """Every port it will listen on, by the setting that chooses it (checked free before the start)."""

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    def check_ports_free(self) -> None:
        """StartupError naming every port already taken and the setting that chose it."""
        taken = [f"{port} ({setting})" for setting, port in self.ports.items() if _in_use(port)]
        if taken:
            raise StartupError(
                f"port(s) already in use on {LOOPBACK}: {', '.join(taken)}",
                hint="stop what listens there, or choose other ports (SWEN_API_PORT, SWEN_DASHBOARD_PORT, "
                'SWEN_REHEARSAL=\'{"api_ports": [...], "postgres_port": ...}\')',
            )

    def write_topology(self) -> Path:
        """``$SWEN_HOME/rehearsal/topology.json``: every component with its pid and address (at start)."""
        by_name = {c.name: c for c in self.components}
        data = [
            {"component": e.component, "pid": by_name[e.component].pid, "address": e.address, "note": e.note}
            for e in self.endpoints
        ]
        path = self.workdir / "topology.json"
        path.write_text(json.dumps({"supervisor_pid": os.getpid(), "components": data}, indent=2) + "\n")
        return path


def _in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return True
    return False


def _answers(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    return check


def _listens(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1):
                return True
        except OSError:
            return False

    return check


def _alert_token(workdir: Path) -> tuple[str, Path]:
    """The bearer token Alertmanager sends to /alerts: made once, kept in a 0600 file."""
    path = workdir / "alert-token"
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip(), path
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)
    return token, path


@dataclass
class _Builder:
    """Collects the components in start order, their table rows and the ports they take."""

    settings: Settings
    programs: dict[str, str]
    workdir: Path
    components: list[Component] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    @property
    def front(self) -> str:
        """haproxy's URL: the platform's API address (SWEN_API_HOST:SWEN_API_PORT)."""
        return f"http://{self.settings.api_host}:{self.settings.api_port}"

    @property
    def replicas(self) -> list[Replica]:
        ports = self.settings.rehearsal.api_ports
        return [Replica(f"api-{i}", LOOPBACK, port) for i, port in enumerate(ports, 1)]

    def add(
        self, component: Component, address: str, note: str, *, port: tuple[str, int] | None = None
    ) -> None:
        if component.log_file is None:
            component.log_file = self.logs / f"{component.name}.log"
        self.components.append(component)
        self.endpoints.append(Endpoint(component.name, address, note))
        if port is not None:
            self.ports[port[0]] = port[1]

    def postgres(self, prepare: Callable[[str], None] | None) -> PrivateCluster:
        home = self.settings.home.resolve()
        port = self.settings.rehearsal.postgres_port
        cluster = PrivateCluster(home / "postgres", port, self.programs, self.logs / "postgres.log")
        component = cluster.component()
        create = component.after_ready

        def after_ready() -> None:
            if create is not None:
                create()
            if prepare is not None:
                prepare(cluster.url)

        component.after_ready = after_ready
        self.add(component, cluster.url, f"private cluster, data in {cluster.data}",
                 port=("rehearsal.postgres_port", port))  # fmt: skip
        return cluster

    def api_replicas(self) -> None:
        for replica in self.replicas:
            argv = swen_command("api", "--host", LOOPBACK, "--port", str(replica.port))
            ready = _answers(f"http://{replica.address}/healthz")
            self.add(Component(replica.name, argv, ready=ready), f"http://{replica.address}", "swen api",
                     port=(f"rehearsal.api_ports ({replica.name})", replica.port))  # fmt: skip

    def haproxy(self) -> None:
        stats = self.workdir / "haproxy.sock"
        config = self.workdir / "haproxy.cfg"
        bind = f"{self.settings.api_host}:{self.settings.api_port}"
        config.write_text(haproxy_config(bind=bind, replicas=self.replicas, stats_socket=stats))
        argv = [self.programs["haproxy"], "-db", "-f", str(config)]
        self.add(Component("haproxy", argv, ready=_answers(f"{self.front}/healthz")), self.front,
                 f"load balancer: the API for every client; stats socket {stats}",
                 port=("api_port (haproxy)", self.settings.api_port))  # fmt: skip

    def engines_and_simulator(self, lock_fds: tuple[int, ...]) -> None:
        for i in range(1, self.settings.rehearsal.engines + 1):
            engine = Component(f"engine-{i}", swen_command("engine"), pass_fds=lock_fds)
            self.add(engine, "-", "swen engine (they elect one leader, see its log)")
        self.add(Component("simulator", swen_command("simulate"), pass_fds=lock_fds), "-", "swen simulate")

    def alertmanager(self, token_file: Path) -> str:
        port = self.settings.rehearsal.alertmanager_port
        url = f"http://{LOOPBACK}:{port}"
        config = self.workdir / "alertmanager.yml"
        config.write_text(alertmanager_config(alerts_url=f"{self.front}/alerts", token_file=token_file))
        argv = [
            self.programs["prometheus-alertmanager"], f"--config.file={config}",
            f"--storage.path={self.workdir / 'alertmanager-data'}", f"--web.listen-address={LOOPBACK}:{port}",
            f"--web.external-url={url}", "--cluster.listen-address=",
        ]  # fmt: skip
        self.add(Component("alertmanager", argv, ready=_answers(f"{url}/-/ready")), url,
                 "sends self-healing alerts to haproxy /alerts",
                 port=("rehearsal.alertmanager_port", port))  # fmt: skip
        return f"{LOOPBACK}:{port}"

    def prometheus(self, alertmanager: str) -> None:
        port = self.settings.rehearsal.prometheus_port
        url = f"http://{LOOPBACK}:{port}"
        rules, config = self.workdir / "swen.rules.yml", self.workdir / "prometheus.yml"
        rules.write_text(rules_text())
        config.write_text(
            prometheus_config(rules_file=rules, replicas=self.replicas, alertmanager=alertmanager)
        )
        argv = [
            self.programs["prometheus"], f"--config.file={config}",
            f"--storage.tsdb.path={self.workdir / 'prometheus-data'}",
            f"--web.listen-address={LOOPBACK}:{port}", f"--web.external-url={url}",
        ]  # fmt: skip
        self.add(Component("prometheus", argv, ready=_answers(f"{url}/-/ready")), url,
                 f"scrapes /metrics of the {len(self.replicas)} API replicas",
                 port=("rehearsal.prometheus_port", port))  # fmt: skip

    def dashboard(self) -> None:
        host, port = self.settings.dashboard_host, self.settings.dashboard_port
        component = Component("dashboard", swen_command("dashboard"), ready=_listens(port))
        self.add(component, f"http://{host}:{port}", f"reads the API through haproxy ({self.front})",
                 port=("dashboard_port", port))  # fmt: skip


def plan(
    settings: Settings,
    *,
    dashboard: bool = True,
    lock_fds: tuple[int, ...] = (),
    prepare: Callable[[str], None] | None = None,
) -> Rehearsal:
    """The rehearsal's components in start order, with their configs written under
    ``$SWEN_HOME/rehearsal``. ``prepare(database_url)`` runs once the private database answers
    (``swen init``: schema and infra repository) before any SWEN process starts; with SWEN_DATABASE_URL
    the caller runs it. Checks the programs first (StartupError naming each missing one and its
    Debian package)."""
    private = settings.database_url is None
    home = settings.home.resolve()
    build = _Builder(settings, locate(needed(private_postgres=private)), home / DIR)
    build.logs.mkdir(parents=True, exist_ok=True)
    cluster = build.postgres(prepare) if private else None
    database_url = cluster.url if cluster is not None else str(settings.database_url)
    token, token_file = _alert_token(build.workdir)
    build.api_replicas()
    build.haproxy()
    build.engines_and_simulator(lock_fds)
    build.prometheus(build.alertmanager(token_file))
    if dashboard:
        build.dashboard()
    env = {
        "SWEN_HOME": str(home),
        "SWEN_DATABASE_URL": database_url,
        "SWEN_LEADER_ELECTION": "true",
        "SWEN_ALERT_TOKEN": token,
        "SWEN_API_URL": build.front,
    }
    return Rehearsal(settings, database_url, cluster, build.components, build.endpoints, env, build.workdir,
                     build.ports)  # fmt: skip
