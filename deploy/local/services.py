"""Start, stop and inspect the six services as local background processes.

    python deploy/local/services.py start|stop|status [service ...]

Each service is one process (`python -m services.<name>`), configured by environment
variables, logging JSON lines to .data/logs/<name>.log; its pid is in .data/run/<name>.pid.
A service listed in PARTS runs as several processes instead, each one of its roles (intake:
its API and its duplicate projector), started, stopped and shown together under the
service's name. `start` waits until every process answers /readyz.

Cluster mode (`make up CLUSTER=3`: MINSHENG_LOCAL_CLUSTER=3) runs every process twice (or
MINSHENG_LOCAL_REPLICAS times) against the local Kafka cluster: replica 1 on the usual ports,
replica N on the usual ports + (N-1)*1000 (intake 8101 and 9101, dispatch's gRPC 50052 and
51052), named `<process>.N` (intake.2, intake-projector.2). MINSHENG_PORT_OFFSET moves every
port, for a second platform beside the first (the fault suite runs one).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("MINSHENG_DATA", ROOT / ".data"))
PYTHON = os.environ.get("PYTHON", str(ROOT / ".venv/bin/python"))

# name -> (HTTP port, gRPC port or 0)
SERVICES: dict[str, tuple[int, int]] = {
    "intake": (8101, 0),
    "dispatch": (8102, 50052),
    "sla": (8103, 0),
    "feedback": (8104, 0),
    "analytics": (8105, 0),
    "audit": (8106, 50056),
    "workbench": (8108, 0),
    "identity": (8107, 0),  # staff login and the token keys (services/identity)
    "notifier": (8109, 0),  # answers to citizens by SMS / WeChat (services/notifier)
}

# Services that run as more than one process: service -> {process: (role, HTTP port)}.
# intake's duplicate projector scores every acceptance against recent tickets; in a process of
# its own it never holds the GIL the request path needs (the port serves /readyz and /metrics).
PARTS: dict[str, dict[str, tuple[str, int]]] = {
    "intake": {"intake": ("api", 8101), "intake-projector": ("projector", 8111)},
    # the faust surge-alert worker (突发预警) beside analytics' KPI fold
    "analytics": {"analytics": ("all", 8105), "analytics-surges": ("surges", 8115)},
}


REPLICA_PORT_STRIDE = 1000
MAX_REPLICAS = 9


def port_offset() -> int:
    return int(os.environ.get("MINSHENG_PORT_OFFSET", "0") or 0)


def cluster_size() -> int:
    n = int(os.environ.get("MINSHENG_LOCAL_CLUSTER", "0") or 0)
    return n if n > 1 else 0


def replicas() -> int:
    """How many processes of each kind run: 1, or 2 in cluster mode (MINSHENG_LOCAL_REPLICAS)."""
    configured = os.environ.get("MINSHENG_LOCAL_REPLICAS", "")
    return int(configured) if configured else (2 if cluster_size() else 1)


def replica_of(process: str) -> tuple[str, int]:
    """("intake-projector", 2) for "intake-projector.2"; (process, 1) for a first replica."""
    base, _, n = process.partition(".")
    return base, int(n) if n else 1


def processes(name: str, n: int | None = None) -> dict[str, tuple[str, int]]:
    """The processes service `name` runs as: process name -> (role or "", HTTP port)."""
    first = PARTS.get(name, {name: ("", SERVICES[name][0])})
    out = {}
    for r in range(1, (n or replicas()) + 1):
        for process, (role, port) in first.items():
            out[process if r == 1 else f"{process}.{r}"] = (
                role, port + port_offset() + (r - 1) * REPLICA_PORT_STRIDE)
    return out


def process_env(service: str, process: str, base: dict[str, str] | None = None
                ) -> dict[str, str]:
    """One process's environment: the service's, plus its role, its own ports and, in
    cluster mode, the cluster's Kafka."""
    role, port = processes(service, replica_of(process)[1])[process]
    env = service_env(service, base)
    if role:
        env[f"MINSHENG_{service.upper()}_ROLE"] = role
    base_name, replica = replica_of(process)
    # its consumers' static membership: the same name when it is restarted, a name no other
    # process of the platform has (never one inherited from the shell: all would share it)
    env["MINSHENG_CONSUMER_INSTANCE"] = f"{base_name}.{replica}"
    if role or replica > 1 or port_offset():
        env["MINSHENG_HTTP_PORT"] = str(port)
        if SERVICES[service][1]:
            env["MINSHENG_GRPC_PORT"] = str(grpc_port(service, process))
    if cluster_size():
        secure = secure_bus(env)
        env.update({k: v for k, v in _infra().cluster_env(cluster_size(), secure).items()
                    if k not in (base if base is not None else os.environ)})
    return env


def _infra():
    """deploy/local/infra.py (the cluster's addresses), loaded by path: this file is also
    loaded by path, by the end-to-end harness, and must not depend on sys.path."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("minsheng_local_infra",
                                                  Path(__file__).with_name("infra.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def service_env(name: str, base: dict[str, str] | None = None) -> dict[str, str]:
    http, grpc = SERVICES[name]
    env = dict(base if base is not None else os.environ)
    env.setdefault("PYTHONPATH", f"{ROOT}:{ROOT / 'proto'}")
    env.setdefault("MINSHENG_HTTP_PORT", str(http))
    if grpc:
        env.setdefault("MINSHENG_GRPC_PORT", str(grpc))
    env.setdefault("MINSHENG_DATA", str(DATA))
    # A local platform: development keys under .data/keys, SMS codes in the log. Without this a
    # service runs as production and refuses to start on development keys.
    env.setdefault("MINSHENG_ENVIRONMENT", "development")
    # The local platform runs on event time, so `make up` can play a simulated month in
    # minutes (backbone/clock.py); a production deployment leaves MINSHENG_CLOCK=wall.
    env.setdefault("MINSHENG_CLOCK", "event")
    if name == "feedback":
        # every simulated citizen (the demo's month, the end-to-end and fault suites) follows
        # its rating link from 127.0.0.1: one person's per-address limits would throttle them
        # all (the limits have tests of their own; a deployment keeps the defaults)
        env.setdefault("MINSHENG_RATING_LINK_REQUESTS_PER_MINUTE", "1000000")
        env.setdefault("MINSHENG_HALL_REQUESTS_PER_MINUTE", "1000000")
    if name == "identity":
        # the workbench (on this host) forwards each browser's address with its logins, so
        # identity's per-address login limit counts browsers, not the workbench
        env.setdefault("MINSHENG_TRUSTED_PROXIES", "127.0.0.1")
    # `make up` (SECURE_BUS unset: "auto"; SECURE_BUS=1 insists): every service on the
    # broker's SASL listener (19094, or the cluster's) as its own SCRAM principal, whose ACLs
    # hold it to its topics (docs/security.md; `make infra` provisioned the principals)
    if secure_bus(env):
        env.update(secure_bus_env(name))
    return env


_SECURED_READY: dict[str, bool] = {}
PASSWORDS = DATA / "keys" / "kafka-users.json"  # made by `make infra` (tools.bus_security)


def secure_bus(env: dict[str, str]) -> bool:
    """Whether the services use the secured listener: MINSHENG_LOCAL_SECURE_BUS=1 yes, "auto"
    (what `make up` says) when the secured listener answers and every service's password is
    in the passwords file (a broker started before it existed: PLAINTEXT, said once)."""
    mode = env.get("MINSHENG_LOCAL_SECURE_BUS", "")
    if mode != "auto":
        return mode == "1"
    if "ready" not in _SECURED_READY:
        _SECURED_READY["ready"] = _secured_listener_ready()
    return _SECURED_READY["ready"]


def secured_port() -> int:
    """The secured listener the services use (0: none), from the environment as it is now."""
    if cluster_size():
        return _infra().sasl_port(1) if _infra().CLUSTER_SASL else 0
    return int(os.environ.get("KAFKA_SASL_PORT", "19094") or 0)


def _secured_listener_ready() -> bool:
    import socket

    from backbone import bus_access

    port = secured_port()
    try:
        known = set(json.loads(PASSWORDS.read_text()))
    except (OSError, ValueError):
        known = set()
    wanted = {bus_access.service_principal(s) for s in bus_access.SERVICES}
    listening = False
    if port:
        with socket.socket() as probe:
            probe.settimeout(1)
            listening = probe.connect_ex(("127.0.0.1", port)) == 0
    if listening and wanted <= known:
        print(f"[services] the bus: SASL/SCRAM on 127.0.0.1:{port}, each service as its own "
              "principal (SECURE_BUS=0 for PLAINTEXT)", file=sys.stderr)
        return True
    print("[services] the bus: PLAINTEXT (no provisioned secured listener"
          f"{'' if listening else f' on {port}'}; restart Kafka with `make down` + `make infra` "
          "to have one)", file=sys.stderr)
    return False


def secure_bus_env(name: str) -> dict[str, str]:
    from backbone import bus_access
    from tools import bus_security

    if name not in bus_access.SERVICES:
        return {}
    principals = [bus_access.service_principal(s) for s in bus_access.SERVICES]
    # the port of this environment, not tools.bus_security's default read at its import
    return bus_security.service_env(name, bus_security.passwords_for(principals, PASSWORDS),
                                    port=secured_port())


def pidfile(name: str) -> Path:
    return DATA / "run" / f"{name}.pid"


def running_pid(name: str) -> int | None:
    path = pidfile(name)
    if not path.exists():
        return None
    try:
        pid = int(path.read_text().strip())
        try:  # a process this one started and that died is a zombie until reaped
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return None
    return pid


def ready(port: int, timeout: float = 1.0) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=timeout) as r:
            return True, json.loads(r.read()).get("checks", {}).__repr__()
    except Exception as exc:  # any failure means "not ready"
        return False, type(exc).__name__


def start(names: list[str]) -> int:
    """Start what is not running and wait for /readyz. Replicas start in waves, every first
    replica, then every second: replicas of one service starting at once race each other's
    CREATE TABLE IF NOT EXISTS, which PostgreSQL can still refuse."""
    (DATA / "run").mkdir(parents=True, exist_ok=True)
    (DATA / "logs").mkdir(parents=True, exist_ok=True)
    # our fixed ports out of the kernel's choice for outgoing connections (where permitted)
    reserved = _infra().reserve_ports(listening_ports(names))
    if reserved:
        print(f"[services] reserved from outgoing connections' local ports: {reserved}")
    waves: dict[int, dict[str, tuple[str, int]]] = {}
    for service in names:
        for name, (_, port) in processes(service).items():
            waves.setdefault(replica_of(name)[1], {})[name] = (service, port)
    for wave in sorted(waves):
        if _start_wave(waves[wave]) != 0:
            return 1
    print("all services ready")
    return 0


def grpc_port(service: str, process: str) -> int:
    """The process's gRPC port (replica N: the first's + (N-1) * REPLICA_PORT_STRIDE), 0: none."""
    first = SERVICES[service][1]
    return first and first + port_offset() + (replica_of(process)[1] - 1) * REPLICA_PORT_STRIDE


def process_ports(service: str, process: str) -> list[int]:
    """The ports one process listens on: HTTP, and gRPC if its service has one."""
    return [processes(service)[process][1], *filter(None, [grpc_port(service, process)])]


def listening_ports(names: list[str]) -> list[int]:
    """Every port the named services' processes listen on (HTTP and gRPC, every replica)."""
    return [port for service in names for process in processes(service)
            for port in process_ports(service, process)]


# what a server that could not bind its port writes last (uvicorn; gRPC)
BIND_FAILED = ("address already in use", "Failed to bind to address")
BIND_RETRIES = 3


def _bindable(port: int) -> bool:
    """Nothing holds 127.0.0.1:``port``, not even a closed connection in TIME-WAIT (which a
    gRPC server's bind does not step over: seen for 60 s after the connection holding it
    closed)."""
    import socket
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_bindable(name: str, service: str, deadline: float) -> None:
    ports = process_ports(service, name)
    while not all(map(_bindable, ports)) and time.monotonic() < deadline:
        time.sleep(1)


def _launch(name: str, service: str) -> None:
    log = open(DATA / "logs" / f"{name}.log", "ab")
    proc = subprocess.Popen([PYTHON, "-m", f"services.{service}"], cwd=ROOT,
                            env=process_env(service, name), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    pidfile(name).write_text(str(proc.pid))
    print(f"{name:<16} started (pid {proc.pid})")


def _listened_on(port: int) -> bool:
    """Something accepts connections on 127.0.0.1:``port``."""
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _start_wave(wave: dict[str, tuple[str, int]], timeout: float = 120) -> int:
    for name, (service, _) in wave.items():
        if running_pid(name):
            print(f"{name:<16} already running (pid {running_pid(name)})")
            continue
        # a process this script does not know of (its pid file lost, or started by hand)
        # still serving the port: a new one could not bind, and that old one would answer
        # the readiness checks in its place, old code and all
        held = [port for port in process_ports(service, name) if _listened_on(port)]
        if held:
            print(f"{name}: port(s) {held} are served by a process not started here "
                  f"(`ss -ltnp` names it); stop it first")
            return 1
        _launch(name, service)
    deadline = time.monotonic() + timeout
    waiting = list(wave)
    retries = dict.fromkeys(wave, BIND_RETRIES)
    while waiting and time.monotonic() < deadline:
        for name in list(waiting):
            if running_pid(name) is not None:  # ours, not whatever else answers the port
                if ready(wave[name][1])[0]:
                    waiting.remove(name)
            else:
                lines = (DATA / "logs" / f"{name}.log").read_text(errors="replace").splitlines()
                if retries[name] and any(m in "\n".join(lines[-5:]) for m in BIND_FAILED):
                    # its port was held, most often by a connection the kernel gave it as a
                    # local port (where ports cannot be reserved): gone once its process is
                    retries[name] -= 1
                    print(f"{name} could not bind its port; starting it again once its ports are free")
                    _wait_bindable(name, wave[name][0], deadline)
                    _launch(name, wave[name][0])
                    continue
                print(f"{name} exited; last lines of .data/logs/{name}.log:")
                print("\n".join(lines[-20:]))
                return 1
        time.sleep(0.5)
    if waiting:
        print(f"not ready after {timeout:.0f} s: {', '.join(waiting)} (see .data/logs/)")
        return 1
    return 0


def stop(names: list[str]) -> int:
    """SIGTERM to every process at once, then SIGKILL to those still there after 10 s."""
    # every replica that may run, whatever this shell's cluster setting
    running = {name: pid for service in names for name in processes(service, MAX_REPLICAS)
               if (pid := running_pid(name)) is not None}
    for pid in running.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(running_pid(n) for n in running):
        time.sleep(0.1)
    for name, pid in running.items():
        if running_pid(name) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        pidfile(name).unlink(missing_ok=True)
        print(f"{name:<16} stopped")
    return 0


def status(names: list[str]) -> int:
    bad = 0
    for service in names:
        for name, (_, http) in processes(service).items():
            pid = running_pid(name)
            grpc = grpc_port(service, name)
            ok = ready(http)[0] if pid else False
            bad += not ok
            where = f"http://127.0.0.1:{http}" + (f"  grpc 127.0.0.1:{grpc}" if grpc else "")
            print(f"{name:<16} {'ready' if ok else 'DOWN':<6} pid {pid or '-':<8} {where}")
    return 1 if bad else 0


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "status"
    names = argv[2:] or list(SERVICES)
    unknown = [n for n in names if n not in SERVICES]
    if unknown:
        print(f"unknown service(s): {unknown}; known: {list(SERVICES)}")
        return 2
    commands = {"start": start, "stop": stop, "status": status}
    if cmd not in commands:
        print(f"usage: {Path(argv[0]).name} start|stop|status [service ...]  (services: "
              f"{' '.join(SERVICES)}; none named: all of them)")
        return 0 if cmd in ("-h", "--help", "help") else 2
    return commands[cmd](names)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
