"""The fault suite's own platform: a 3-broker KRaft cluster behind a TCP proxy, its own
PostgreSQL, and two replicas of every process, on ports and folders of its own.

Nothing here touches the shared Kafka (19092) and PostgreSQL (55432) or the demo's ports:
data under .data/chaos, brokers on 31092-31094 (controllers 31192-31194, the proxy in front of
the brokers on 31292-31294), PostgreSQL on 31432, services on the demo's ports + 12000
(replica 2: + 13000). The CI version (profile "ci") has its own: .data/chaos-ci, brokers on
30092-30094, PostgreSQL on 30432, one process of each kind on the demo's ports + 14000. The chaos cluster's brokers have only their PLAINTEXT listener (the
secured SASL listener of `make infra` is the single broker's; the suite does not test it).

Broker 3's log folder and PostgreSQL's WAL can live on small disks of their own (ext4 in a
loop file, mounted with errors=remount-ro), so that they can fill up or turn read-only mid-run
as a failing disk does (the kernel's own emergency read-only switch, which, unlike
`mount -o remount,ro`, does not wait for open files to close).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BROKERS = 3


@dataclass(frozen=True)
class Profile:
    """Where a run lives: its data folder, ports, replicas and heaps. `make chaos` and the CI
    test have different ones, so a CI run never meets a manual run's leftovers."""

    data: Path
    kafka: int            # brokers on kafka..kafka+2, controllers +100, the proxy +200
    pg: int
    service_offset: int   # services on the demo's ports + this (replica 2: + 1000 more)
    replicas: int
    heap: str


PROFILES = {
    # every port below 32768: this machine's ephemeral ports (32768-60999) are handed to
    # outgoing connections, and one of them on a listener's port makes its restart fail
    # ("Address already in use"; it happened to PostgreSQL on 56432)
    "full": Profile(ROOT / ".data" / "chaos", 31092, 31432, 12000, replicas=2, heap="384m"),
    # CI: one process of each kind (the full run's second replicas double the processes a
    # 2-core runner must start), brokers with smaller heaps
    "ci": Profile(ROOT / ".data" / "chaos-ci", 30092, 30432, 14000, replicas=1, heap="256m"),
}


def environment(profile: Profile) -> dict[str, str]:
    return {
        "MINSHENG_DATA": str(profile.data),
        "MINSHENG_KAFKA_LIBS": str(ROOT / ".data" / "kafka" / "libs"),
        "KAFKA_CLUSTER_PORT": str(profile.kafka),
        "KAFKA_PROXY_OFFSET": "200",
        "KAFKA_NODE_HEAP": profile.heap,
        "MINSHENG_LOCAL_CLUSTER": str(BROKERS),
        "MINSHENG_LOCAL_REPLICAS": str(profile.replicas),
        "MINSHENG_PORT_OFFSET": str(profile.service_offset),
        "PGPORT": str(profile.pg),
        "MINSHENG_PG_PORT": str(profile.pg),
        "MINSHENG_PG_DBNAME": "chaos",
        "MINSHENG_ENVIRONMENT": "test",
        "MINSHENG_CLOCK": "event",
        # the chaos cluster's brokers have only PLAINTEXT listeners: a developer's exported
        # SECURE_BUS (`make up SECURE_BUS=1`) must not send the suite's services to SASL
        "MINSHENG_LOCAL_SECURE_BUS": "0",
        "MINSHENG_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
        "KAFKA_SASL_PORT": "0",
        "KAFKA_SSL_PORT": "0",
        # the load's many made-up citizens repeat within seconds (as in `make bench`)
        "MINSHENG_CITIZEN_BURST": "1000",
        "MINSHENG_CITIZEN_RATE_PER_S": "100",
    }


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"chaos_{name}",
                                                  ROOT / "deploy" / "local" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ChaosPlatform:
    """Start, break, mend and stop the isolated cluster. The deploy/local modules read their
    ports and folders from the environment when loaded, so they are loaded here, after it is
    set (this process's environment is the suite's from then on)."""

    def __init__(self, profile: str = "full") -> None:
        self.profile = PROFILES[profile]
        self.data = self.profile.data
        os.environ.update(environment(self.profile))
        self.infra = _load("infra")
        self.services = _load("services")
        self.names = list(self.services.SERVICES)
        self.disk: SmallDisk | None = None      # broker 3's log folder
        self.wal_disk: SmallDisk | None = None  # PostgreSQL's WAL

    # -- whole platform -------------------------------------------------------------------------
    def start(self, *, disk_mb: int = 0, wal_disk_mb: int = 0) -> None:
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)
        self.data.mkdir(parents=True)
        if disk_mb:
            self.disk = SmallDisk(self.infra.node_dir(3) / "logs",
                                  self.data / "disks" / "kafka-3.img", disk_mb)
            self.disk.create()
        if wal_disk_mb:
            self.wal_disk = SmallDisk(self.data / "pg-wal", self.data / "disks" / "pg-wal.img",
                                      wal_disk_mb, owner=self._pg_owner(), subdir="wal")
            self.wal_disk.create()
            os.environ["MINSHENG_PG_WALDIR"] = str(self.wal_disk.data)
        # the development token keys, made once here rather than raced for by 18 processes
        subprocess.run([self.services.PYTHON, "-m", "backbone.auth", "dev-keys"], cwd=ROOT,
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.start_pg()
        if self.wal_disk is not None:  # a WAL that stays well inside its small disk
            self.sql("ALTER SYSTEM SET max_wal_size = '64MB'",
                     "ALTER SYSTEM SET min_wal_size = '32MB'", "SELECT pg_reload_conf()")
        self.infra.cluster_up(BROKERS)
        if self.services.start(self.names) != 0:
            raise RuntimeError("the chaos platform's services did not become ready")

    def stop(self) -> None:
        """Everything this suite may have started or mounted, also a previous run's leftovers
        (found by their pid files and by the mounts under the suite's data folder)."""
        self.services.stop(self.names)
        # the brokers SIGKILLed, not stopped: the run's checks are done (or it failed) and the
        # next start deletes their folders. Told to stop all at once (infra's kafka_down), each
        # waited for a quorum that was leaving until infra killed it after 30 s (30 of the ci
        # mode's 33 s of teardown, 2026-12-07); nothing of a controlled shutdown is checked here
        for node in range(1, BROKERS + 1):
            self.kill_broker(node)
        self.infra.kafka_down()  # whatever else a pid file names (none of the nodes' now)
        self.infra.pg_down()
        self.kill_pg()  # a server that would not stop (its WAL disk read-only, say)
        for mount in _mounts_under(self.data):
            subprocess.run(["umount", "-l", mount], check=False)
        self.disk = self.wal_disk = None
        os.environ.pop("MINSHENG_PG_WALDIR", None)

    def _pg_owner(self) -> tuple[int, int] | None:
        self.infra.PG_DIR.mkdir(parents=True, exist_ok=True)
        as_user = self.infra._as_pg_user()
        return (as_user["user"], as_user["group"]) if as_user else None

    def sql(self, *statements: str, timeout: float = 10) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.profile.pg, user="postgres",
                             dbname="postgres", autocommit=True,
                             connect_timeout=int(timeout)) as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]

    # -- addresses ------------------------------------------------------------------------------
    def port(self, process: str) -> int:
        service = self.service_of(process)
        return dict(self.services.processes(service, 2))[process][1]

    def service_of(self, process: str) -> str:
        base = self.services.replica_of(process)[0]
        for service, parts in self.services.PARTS.items():
            if base in parts:
                return service
        return base

    def grpc_port(self, process: str) -> int:
        service, replica = self.service_of(process), self.services.replica_of(process)[1]
        return (self.services.SERVICES[service][1] + self.services.port_offset()
                + (replica - 1) * self.services.REPLICA_PORT_STRIDE)

    def url(self, process: str) -> str:
        return f"http://127.0.0.1:{self.port(process)}"

    def processes(self) -> list[str]:
        return [p for s in self.names for p in self.services.processes(s)]

    def proxy_pairs(self) -> dict[int, int]:
        return {self.infra.advertised_port(i): self.infra.broker_port(i)
                for i in range(1, BROKERS + 1)}

    # -- faults ---------------------------------------------------------------------------------
    def pid(self, process: str) -> int | None:
        return self.services.running_pid(process)

    def signal_process(self, process: str, sig: int) -> None:
        pid = self.pid(process)
        if pid is not None:
            os.killpg(pid, sig)

    def restart_process(self, process: str) -> None:
        """Start what is not running of the process's service (the dead replica)."""
        deadline = time.monotonic() + 10
        while (pid := self.pid(process)) is not None and _alive(pid) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        self.services.start([self.service_of(process)])

    def broker_pid(self, node: int) -> int | None:
        try:
            pid = int((self.infra.node_dir(node) / "kafka.pid").read_text())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) and _ours(pid, str(self.infra.node_dir(node))) else None

    def kill_broker(self, node: int) -> None:
        pid = self.broker_pid(node)
        if pid is not None:
            os.killpg(pid, signal.SIGKILL)
            while self.broker_pid(node) is not None:
                time.sleep(0.1)
        (self.infra.node_dir(node) / "kafka.pid").unlink(missing_ok=True)

    def start_broker(self, node: int) -> None:
        self.infra.node_up(node, BROKERS)

    def pg_pid(self) -> int | None:
        try:
            return int((self.infra.PG_DIR / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill_pg(self) -> None:
        """The whole server at once, as a power cut or the OOM killer would: the postmaster
        and every backend and helper process, SIGKILL."""
        data = self.infra.PG_DIR / "data"
        pid = self.pg_pid()
        if pid is not None and not _ours(pid, str(self.infra.PG_DIR)):
            pid = None  # a stale pid file naming someone else's process now
        victims = []
        if pid is not None:
            # stopped first, so it forks no backend between the census and the kill: one
            # forked then lived on (reparented to init) holding the shared memory, and every
            # start after was refused
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
            _wait_stopped(pid)
            victims = [pid, *_children(pid)]
        # and whatever is left of an earlier server of this data folder (a backend's working
        # folder is the data folder), pid file or not
        victims += [p for p in _working_in(data) if p not in victims]
        if not victims:
            return
        for victim in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(v) for v in victims):
            time.sleep(0.1)
        if not any(_alive(v) for v in victims):
            # A killed postmaster is reparented to this machine's init, which may take its time
            # to reap it: until then a new postmaster takes the zombie for a live one ("lock
            # file postmaster.pid already exists") and refuses to start. It and all its
            # children are dead: its lock files are stale.
            # The same for the lock of its Unix socket.
            (self.infra.PG_DIR / "data" / "postmaster.pid").unlink(missing_ok=True)
            for lock in (self.infra.PG_DIR / "run").glob(".s.PGSQL.*.lock"):
                lock.unlink(missing_ok=True)

    def start_pg(self, attempts: int = 3) -> None:
        for attempt in range(attempts):
            try:
                self.infra.pg_up()
                return
            except subprocess.CalledProcessError:
                if attempt == attempts - 1:
                    raise
                self.kill_pg()  # a postmaster half up, or a stale lock: clear and try again

    # -- health ---------------------------------------------------------------------------------
    def all_ready(self) -> bool:
        return all(self.ready(p) for p in self.processes())

    def ready(self, process: str) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url(process)}/readyz", timeout=2) as r:
                return r.status == 200
        except Exception:
            return False

    def leader_of(self, topic: str, partition: int = 0) -> int | None:
        import asyncio

        from aiokafka.admin import AIOKafkaAdminClient

        async def ask() -> Any:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.infra.bootstrap(BROKERS))
            await admin.start()
            try:
                return await admin.describe_topics([topic])
            finally:
                await admin.close()

        try:
            described = asyncio.run(asyncio.wait_for(ask(), 20))
        except Exception:
            return None
        for t in described:
            for p in t["partitions"]:
                if p["partition"] == partition and p["leader"] >= 1:
                    return int(p["leader"])
        return None


class SmallDisk:
    """An ext4 file system in a loop file, mounted at ``mount`` (errors=remount-ro), that can be
    filled up, turned read-only by the kernel, and repaired (unmounted, checked, mounted)."""

    def __init__(self, mount: Path, image: Path, size_mb: int, *,
                 owner: tuple[int, int] | None = None, subdir: str = ""):
        self.mount, self.image, self.size_mb, self.owner = mount, image, size_mb, owner
        self.data = mount / subdir if subdir else mount
        self.filler = mount / "filler"

    def create(self) -> None:
        self.image.parent.mkdir(parents=True, exist_ok=True)
        self.mount.mkdir(parents=True, exist_ok=True)
        with open(self.image, "wb") as f:
            f.truncate(self.size_mb * 1024 * 1024)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(self.image)], check=True)
        self._mount()

    def _mount(self) -> None:
        subprocess.run(["mount", "-o", "loop,errors=remount-ro", str(self.image),
                        str(self.mount)], check=True)
        # Kafka would take lost+found for a partition's folder; nothing else needs it
        shutil.rmtree(self.mount / "lost+found", ignore_errors=True)
        self.data.mkdir(exist_ok=True)
        if self.owner:
            for path in (self.mount, self.data):
                os.chown(path, *self.owner)
            os.chmod(self.data, 0o700)

    def fill(self) -> None:
        """Write zeros until the disk is full (the filler stays until ``free``)."""
        subprocess.run(["dd", "if=/dev/zero", f"of={self.filler}", "bs=1M",
                        f"count={self.size_mb}"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def device(self) -> str:
        for line in Path("/proc/mounts").read_text().splitlines():
            dev, where = line.split()[:2]
            if where == str(self.mount):
                return dev
        raise RuntimeError(f"{self.mount} is not mounted")

    def turn_read_only(self) -> None:
        """What ext4 does on an I/O error with errors=remount-ro: read-only at once."""
        name = Path(self.device()).name
        Path(f"/sys/fs/ext4/{name}/trigger_fs_error").write_text("1")

    def read_only(self) -> bool:
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            if fields[1] == str(self.mount):
                return "ro" in fields[3].split(",") or "emergency_ro" in fields[3]
        return False

    def repair(self) -> None:
        """Unmount (whoever used it must have stopped), check and mount again."""
        self.free()
        deadline = time.monotonic() + 30
        while subprocess.run(["umount", str(self.mount)], stderr=subprocess.DEVNULL,
                             check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.mount} stays busy")
            time.sleep(0.5)
        subprocess.run(["e2fsck", "-fy", str(self.image)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        self._mount()


def _mounts_under(folder: Path) -> list[str]:
    """Mount points under ``folder``, deepest first."""
    found = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
             if line.split()[1].startswith(str(folder) + "/")]
    return sorted(found, key=len, reverse=True)


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _working_in(folder: Path) -> list[int]:
    """The processes whose working folder is ``folder`` (a PostgreSQL server's postmaster,
    backends and helpers all work in its data folder)."""
    want = str(folder.resolve())
    out = []
    for cwd in Path("/proc").glob("[0-9]*/cwd"):
        with contextlib.suppress(OSError):
            if os.readlink(cwd) == want:
                out.append(int(cwd.parent.name))
    return out


def _wait_stopped(pid: int, timeout_s: float = 5.0) -> None:
    """Until ``pid`` is stopped (state T) or gone."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state in ("T", "t", "Z", "X"):
            return
        time.sleep(0.01)


def _ours(pid: int, marker: str) -> bool:
    """The process's command line names ``marker`` (its data folder): a pid file's number may
    belong to another process by now."""
    try:
        return marker in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False


def _alive(pid: int) -> bool:
    """Running, not a zombie: a broker this process started and killed is its child, and stays
    a zombie (still "there" to kill(pid, 0)) until reaped here."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
