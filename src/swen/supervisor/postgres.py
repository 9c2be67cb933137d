"""A private PostgreSQL cluster for the rehearsal: its data under ``$SWEN_HOME/postgres``, listening on
a loopback port only (no Unix socket), trust authentication for the local ``swen`` role, database
``swen``. PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` user (the Debian
package's), which must be able to reach the data directory."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from swen.supervisor import Component, StartupError, as_user

ROLE = "swen"
DATABASE = "swen"
RUN_AS_ROOT_USER = "postgres"


@dataclass(frozen=True)
class PrivateCluster:
    data: Path
    port: int
    programs: dict[str, str]
    log_file: Path

    @property
    def url(self) -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def user(self) -> str | None:
        """Who runs it: the postgres user when we are root, else ourselves (None)."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(RUN_AS_ROOT_USER)
        except KeyError:
            raise StartupError(
                "PostgreSQL refuses to run as root and there is no postgres user",
                hint="install the Debian package postgresql (it creates the user), run as another "
                "user, or set SWEN_DATABASE_URL",
            ) from None
        return RUN_AS_ROOT_USER

    def initialise(self) -> bool:
        """initdb once (True when it ran); a data directory that has PG_VERSION is kept as it is."""
        if (self.data / "PG_VERSION").is_file():
            return False
        user = self.user
        self.data.mkdir(parents=True, exist_ok=True, mode=0o700)
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(self.data, entry.pw_uid, entry.pw_gid)
        done = subprocess.run(
            [
                self.programs["initdb"], "-D", str(self.data), "-U", ROLE, "--auth=trust",
                "-E", "UTF8", "--no-locale", "--no-instructions",
            ],
            capture_output=True, text=True, cwd="/", check=False, **as_user(user),
        )  # fmt: skip
        if done.returncode != 0:
            reach = f" (the {user} user must be able to reach it)" if user is not None else ""
            raise StartupError(
                f"initdb failed for {self.data}{reach}: {done.stderr.strip()[-600:]}",
                hint="choose a SWEN_HOME there, remove a half-made data directory, or set SWEN_DATABASE_URL",
            )
        return True

    def accepting(self) -> bool:
        check = [self.programs["pg_isready"], "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", ROLE]
        return subprocess.run(check, capture_output=True, check=False).returncode == 0

    def create_database(self) -> None:
        """Create the ``swen`` database unless it exists."""
        made = subprocess.run(
            [self.programs["createdb"], "-h", "127.0.0.1", "-p", str(self.port), "-U", ROLE, DATABASE],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if made.returncode != 0 and "already exists" not in made.stderr:
            raise StartupError(f"createdb failed: {made.stderr.strip()[-600:]}", hint=f"see {self.log_file}")

    def component(self) -> Component:
        return Component(
            "postgres",
            [
                self.programs["postgres"], "-D", str(self.data),
                "-c", "listen_addresses=127.0.0.1", "-c", f"port={self.port}",
                "-c", "unix_socket_directories=", "-c", "max_connections=300",
            ],
            log_file=self.log_file,
            ready=self.accepting,
            after_ready=self.create_database,
            stop_signal=signal.SIGINT,  # "fast" shutdown: the clients are already stopped
            stop_last=True,
            user=self.user,
        )  # fmt: skip
