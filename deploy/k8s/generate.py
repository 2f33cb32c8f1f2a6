"""Write the production manifests in deploy/k8s/ from one table of the platform's processes.

    python deploy/k8s/generate.py           # (re)write the YAML files
    python deploy/k8s/generate.py --check   # exit 1 when a committed file differs (make lint)

Ten Deployments differ only in a few numbers; writing them by hand would copy the same probes,
resources and PodDisruptionBudget ten times, and the copies would drift. The table below is
the one place that says which processes exist, on which ports, with how many replicas.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NAMESPACE = "minsheng"
IMAGE = "registry.example.org/minsheng/services:0.1.0"  # built from deploy/container/Containerfile
KAFKA_CLUSTER = "minsheng-kafka"
PG_CLUSTER = "minsheng-pg"
# The brokers' only client listener: SCRAM-SHA-512 over TLS (no PLAINTEXT); each process is the
# SCRAM principal of its service (backbone/bus_access.py), a KafkaUser whose ACLs the Strimzi
# User Operator applies and whose password it keeps in a Secret of the same name.
KAFKA_PORT = 9093
KAFKA_CA_DIR = "/etc/minsheng/kafka-ca"
REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2


@dataclass(frozen=True)
class Process:
    name: str  # Deployment name (without the minsheng- prefix)
    module: str  # python -m services.<module>
    http: int
    grpc: int = 0
    role: str = ""  # MINSHENG_<MODULE>_ROLE, for a service that runs as several processes
    replicas: int = 2
    cpu: tuple[str, str] = ("250m", "1")  # request, limit
    memory: tuple[str, str] = ("384Mi", "768Mi")
    what: str = ""
    env: tuple[tuple[str, str], ...] = ()  # settings only this process needs


# Replicas: two of everything, so a node drain or a crash never takes a service away; intake's
# API takes the citizens' traffic and gets three. Requests follow docs/benchmarks.md (one
# process near one core at its measured peak); docs/scaling.md says when to raise them.
PROCESSES: list[Process] = [
    Process("intake-api", "intake", 8101, role="api", replicas=3, cpu=("500m", "2"),
            memory=("512Mi", "1Gi"), what="channels in: submissions, Open311, citizens"),
    Process("intake-projector", "intake", 8111, role="projector", cpu=("500m", "1"),
            memory=("512Mi", "1Gi"), what="intake's read model and duplicate (并单) detector"),
    Process("dispatch", "dispatch", 8102, grpc=50052, what="routing, assignments, units' gRPC"),
    Process("sla", "sla", 8103, what="working-day deadlines, warnings, supervision"),
    Process("feedback", "feedback", 8104, what="replies, ratings, callbacks, the public hall"),
    Process("analytics", "analytics", 8105, memory=("512Mi", "1Gi"),
            what="KPIs, rankings, hot topics"),
    Process("analytics-surges", "analytics.entrypoints.surges", 8115,
            env=(("MINSHENG_SURGES_HTTP_PORT", "8115"),),
            what="surge alerts: hopping-window counts (faust-streaming)"),
    Process("audit", "audit", 8106, grpc=50056, memory=("512Mi", "1Gi"),
            what="the append-only ledger, replay and verification"),
    Process("identity", "identity", 8107, what="staff identities and tokens"),
    Process("workbench", "workbench", 8108, what="the staff workbench pages"),
    Process("notifier", "notifier", 8109,
            what="delivers citizen.notices by SMS and WeChat, exactly once"),
]

LABELS = {"app.kubernetes.io/part-of": "minsheng"}


def labels(p: Process) -> dict[str, str]:
    return {**LABELS, "app.kubernetes.io/name": p.name}


def probe(path: str, port: str, *, period: int, failures: int, timeout: int = 3) -> dict:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period,
            "timeoutSeconds": timeout, "failureThreshold": failures}


def _bus_access():
    """backbone/bus_access.py (pure data), the one table of who may do what on the bus."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from backbone import bus_access

    return bus_access


def bus_principal(p: Process) -> str:
    """The SCRAM user a process connects as: its service's (intake-api and intake-projector
    are both intake); "" for a service that never touches the bus (identity)."""
    service = p.module.split(".")[0]
    bus = _bus_access()
    return bus.service_principal(service) if service in bus.SERVICES else ""


def bus_env(p: Process) -> list[dict]:
    user = bus_principal(p)
    if not user:
        return []
    return [{"name": "MINSHENG_KAFKA_SASL_USERNAME", "value": user},
            {"name": "MINSHENG_KAFKA_SASL_PASSWORD", "valueFrom": {"secretKeyRef": {
                "name": user, "key": "password"}}},
            # its consumers static members of their groups under the pod's name (unique among
            # live pods): a container restarted in its pod (a crash, kill -9, OOM) takes its
            # partitions back at once instead of after the session timeout
            {"name": "MINSHENG_CONSUMER_INSTANCE", "valueFrom": {"fieldRef": {
                "fieldPath": "metadata.name"}}}]


def container(p: Process) -> dict:
    env = [{"name": "MINSHENG_HTTP_PORT", "value": str(p.http)}, *bus_env(p),
           {"name": "MINSHENG_PG_USER", "valueFrom": {"secretKeyRef": {
               "name": f"{PG_CLUSTER}-app", "key": "username"}}},
           {"name": "MINSHENG_PG_PASSWORD", "valueFrom": {"secretKeyRef": {
               "name": f"{PG_CLUSTER}-app", "key": "password"}}}]
    if p.grpc:
        env.append({"name": "MINSHENG_GRPC_PORT", "value": str(p.grpc)})
    if p.role:
        env.append({"name": f"MINSHENG_{p.module.upper()}_ROLE", "value": p.role})
    env += [{"name": k, "value": v} for k, v in p.env]
    ports = [{"name": "http", "containerPort": p.http, "protocol": "TCP"}]
    if p.grpc:
        ports.append({"name": "grpc", "containerPort": p.grpc, "protocol": "TCP"})
    return {
        "name": p.name,
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": [f"services.{p.module}"],
        "ports": ports,
        "env": env,
        "envFrom": [{"configMapRef": {"name": "minsheng-config"}},
                    {"secretRef": {"name": "minsheng-secrets"}}],
        "resources": {"requests": {"cpu": p.cpu[0], "memory": p.memory[0]},
                      "limits": {"cpu": p.cpu[1], "memory": p.memory[1]}},
        # A service connects to PostgreSQL and Kafka (creating its schema and topics) before
        # it serves HTTP: the startup probe gives that two minutes before liveness counts.
        "startupProbe": probe("/healthz", "http", period=2, failures=60),
        "livenessProbe": probe("/healthz", "http", period=10, failures=6),
        # /readyz answers 503 while PostgreSQL or Kafka is unreachable: the pod leaves the
        # Service's endpoints, and comes back by itself; it is not restarted for it.
        "readinessProbe": probe("/readyz", "http", period=5, failures=3),
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"},
                         {"name": "data", "mountPath": "/app/.data"},
                         {"name": "kafka-ca", "mountPath": KAFKA_CA_DIR, "readOnly": True}],
    }


def deployment(p: Process) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": f"minsheng-{p.name}", "namespace": NAMESPACE, "labels": labels(p),
                     "annotations": {"minsheng.example.org/what": p.what}},
        "spec": {
            "replicas": p.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": labels(p)},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels(p), "annotations": {
                    "prometheus.io/scrape": "true", "prometheus.io/port": str(p.http),
                    "prometheus.io/path": "/metrics"}},
                "spec": {
                    "automountServiceAccountToken": False,
                    # the runtime stops HTTP, then its loops (10 s), then the clients
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                                        "runAsGroup": 10001, "fsGroup": 10001,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "topologySpreadConstraints": [{
                        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": labels(p)}}],
                    "containers": [container(p)],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                                {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
                                # the CA of the brokers' certificates (Strimzi's cluster CA)
                                {"name": "kafka-ca", "secret": {
                                    "secretName": f"{KAFKA_CLUSTER}-cluster-ca-cert",
                                    "items": [{"key": "ca.crt", "path": "ca.crt"}]}}],
                },
            },
        },
    }


def service(p: Process) -> dict:
    ports = [{"name": "http", "port": p.http, "targetPort": "http", "protocol": "TCP"}]
    if p.grpc:
        ports.append({"name": "grpc", "port": p.grpc, "targetPort": "grpc", "protocol": "TCP"})
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"minsheng-{p.name}", "namespace": NAMESPACE,
                         "labels": labels(p)},
            "spec": {"type": "ClusterIP", "selector": labels(p), "ports": ports}}


def disruption_budget(p: Process) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": f"minsheng-{p.name}", "namespace": NAMESPACE,
                         "labels": labels(p)},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels(p)}}}


def config() -> list[dict]:
    settings = {
        "MINSHENG_ENVIRONMENT": "production",
        "MINSHENG_HTTP_HOST": "0.0.0.0",
        "MINSHENG_CLOCK": "wall",
        "MINSHENG_LOG_LEVEL": "INFO",
        "MINSHENG_KAFKA_BOOTSTRAP": f"{KAFKA_CLUSTER}-kafka-bootstrap:{KAFKA_PORT}",
        "MINSHENG_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "MINSHENG_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "MINSHENG_KAFKA_SSL_CAFILE": f"{KAFKA_CA_DIR}/ca.crt",
        "MINSHENG_KAFKA_REPLICATION_FACTOR": str(REPLICATION_FACTOR),
        "MINSHENG_KAFKA_MIN_INSYNC_REPLICAS": str(MIN_INSYNC_REPLICAS),
        "MINSHENG_PG_HOST": f"{PG_CLUSTER}-rw",  # CloudNativePG's service for the primary
        "MINSHENG_PG_PORT": "5432",
        "MINSHENG_PG_DBNAME": "minsheng",
        "MINSHENG_RATING_URL_BASE": "https://12345.example.org/feedback",
        "MINSHENG_AUDIT_URL": "http://minsheng-audit:8106",
        "MINSHENG_LEDGER_ID": "fuyang.example.org/audit",
        "MINSHENG_NOTIFIER_INTAKE_URL": "http://minsheng-intake-api:8101",
    }
    # token keys: see backbone/auth.py (the identity service signs, every service verifies)
    secret_keys = ["MINSHENG_TOKEN_SIGNING_KEY", "MINSHENG_TOKEN_PUBLIC_KEYS",
                   "MINSHENG_PSEUDONYM_PEPPER",
                   "MINSHENG_IDENTITY_MASTER_KEY", "MINSHENG_RATING_LINK_SIGNING_KEY",
                   "MINSHENG_CHECKPOINT_KEY", "MINSHENG_INTAKE_SMS_URL",
                   "MINSHENG_INTAKE_SMS_TOKEN", "MINSHENG_INTAKE_BUS_KEYS",
                   "MINSHENG_NOTIFIER_SMS_URL", "MINSHENG_NOTIFIER_SMS_TOKEN",
                   "MINSHENG_NOTIFIER_WECHAT_URL", "MINSHENG_NOTIFIER_WECHAT_TOKEN"]
    return [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "minsheng-config", "namespace": NAMESPACE, "labels": LABELS},
         "data": settings},
        # Placeholders only: replace every value (kubectl create secret generic, or your
        # secret store's operator) before applying. The services refuse the development
        # defaults in production, but not these strings: do not apply them as they are.
        {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
         "metadata": {"name": "minsheng-secrets", "namespace": NAMESPACE, "labels": LABELS,
                      "annotations": {"minsheng.example.org/placeholder": "true"}},
         "stringData": {k: "REPLACE-ME" for k in secret_keys}},
    ]


def kafka() -> list[dict]:
    """Strimzi 1.x (kafka.strimzi.io/v1): KRaft with node pools, three controllers, three
    brokers. Field names are those of Strimzi's CRDs (040-Crd-kafka.yaml,
    045-Crd-kafkanodepool.yaml); deploy/k8s/validate.py checks them."""
    def pool(name: str, role: str, size: str, cpu: tuple[str, str], mem: tuple[str, str],
             heap: str) -> dict:
        return {"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaNodePool",
                "metadata": {"name": name, "namespace": NAMESPACE,
                             "labels": {**LABELS, "strimzi.io/cluster": KAFKA_CLUSTER}},
                "spec": {"replicas": 3, "roles": [role],
                         "storage": {"type": "jbod", "volumes": [{
                             "id": 0, "type": "persistent-claim", "size": size,
                             "deleteClaim": False, "kraftMetadata": "shared"}]},
                         "resources": {"requests": {"cpu": cpu[0], "memory": mem[0]},
                                       "limits": {"cpu": cpu[1], "memory": mem[1]}},
                         "jvmOptions": {"-Xms": heap, "-Xmx": heap}}}

    cluster = {
        "apiVersion": "kafka.strimzi.io/v1", "kind": "Kafka",
        "metadata": {"name": KAFKA_CLUSTER, "namespace": NAMESPACE, "labels": LABELS},
        "spec": {
            "kafka": {
                # Strimzi 1.2 runs Kafka 4.2.x and 4.3.x; the local platform and CI use 4.1.1
                # (docs/kafka-version.md). The clients speak the same protocol to both.
                "version": "4.2.1",
                "metadataVersion": "4.2-IV1",
                # one listener, authenticated and encrypted: no PLAINTEXT (docs/security.md)
                "listeners": [{"name": "scram", "port": KAFKA_PORT, "type": "internal",
                               "tls": True, "authentication": {"type": "scram-sha-512"}}],
                # ACLs per principal (the KafkaUsers in kafka-users.yaml); no ACL, no access
                "authorization": {"type": "simple"},
                "config": {
                    "default.replication.factor": REPLICATION_FACTOR,
                    "min.insync.replicas": MIN_INSYNC_REPLICAS,
                    "offsets.topic.replication.factor": REPLICATION_FACTOR,
                    "transaction.state.log.replication.factor": REPLICATION_FACTOR,
                    "transaction.state.log.min.isr": MIN_INSYNC_REPLICAS,
                    "unclean.leader.election.enable": False,
                    "auto.create.topics.enable": False,
                    "log.retention.hours": 168,
                },
                "rack": {"topologyKey": "topology.kubernetes.io/zone"},
            },
            "entityOperator": {"topicOperator": {}, "userOperator": {}},
        },
    }
    return [pool("controller", "controller", "20Gi", ("500m", "1"), ("1Gi", "2Gi"), "768m"),
            pool("broker", "broker", "200Gi", ("1", "2"), ("4Gi", "6Gi"), "2g"),
            cluster]


def unit_codes() -> list[str]:
    units = json.loads((ROOT / "services/dispatch/data/units.json").read_text())["units"]
    return sorted(u["code"] for u in units)


def kafka_users() -> list[dict]:
    """One KafkaUser per principal of backbone/bus_access.py's plan (services, the channel
    adapters, each unit's department system), with exactly the plan's ACLs."""
    plan = _bus_access().plan(unit_codes())
    users = []
    for principal in plan.principals():
        acls: dict[tuple[str, str, bool], list[str]] = {}
        for g in plan.of(principal):
            acls.setdefault((g.resource, g.name, g.prefixed), []).append(
                g.operation.capitalize())
        users.append({
            "apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaUser",
            "metadata": {"name": principal, "namespace": NAMESPACE,
                         "labels": {**LABELS, "strimzi.io/cluster": KAFKA_CLUSTER}},
            "spec": {"authentication": {"type": "scram-sha-512"},
                     "authorization": {"type": "simple", "acls": [
                         {"resource": {"type": resource, "name": name,
                                       "patternType": "prefix" if prefixed else "literal"},
                          "operations": sorted(set(ops)), "host": "*"}
                         for (resource, name, prefixed), ops in acls.items()]}}})
    return users


def postgres() -> list[dict]:
    """CloudNativePG (postgresql.cnpg.io/v1): a primary and two standbys with quorum
    synchronous replication, so a commit the platform acknowledged survives losing the
    primary, and one standby may be down (maintenance) without blocking writes."""
    return [{
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": {"name": PG_CLUSTER, "namespace": NAMESPACE, "labels": LABELS},
        "spec": {
            "instances": 3,
            "imageName": "ghcr.io/cloudnative-pg/postgresql:18",
            "primaryUpdateStrategy": "unsupervised",
            "postgresql": {
                "synchronous": {"method": "any", "number": 1, "dataDurability": "required"},
                "parameters": {"max_connections": "400", "shared_buffers": "2GB",
                               "effective_cache_size": "6GB", "wal_compression": "on",
                               "max_wal_size": "4GB"},
            },
            "bootstrap": {"initdb": {
                "database": "minsheng", "owner": "minsheng", "encoding": "UTF8",
                "dataChecksums": True,
                # the audit ledger writes as a role that may only INSERT and SELECT
                # (services/audit/adapters/ledger_tables.py); the app owner may not create
                # roles, so the role exists before the first start
                "postInitApplicationSQL": [
                    "CREATE ROLE minsheng_ledger_writer NOLOGIN",
                    "GRANT minsheng_ledger_writer TO minsheng",
                ]}},
            "storage": {"size": "200Gi"},
            "walStorage": {"size": "50Gi"},
            "resources": {"requests": {"cpu": "2", "memory": "8Gi"},
                          "limits": {"cpu": "4", "memory": "8Gi"}},
            "affinity": {"enablePodAntiAffinity": True,
                         "topologyKey": "kubernetes.io/hostname",
                         "podAntiAffinityType": "required"},
            "enablePDB": True,
            "monitoring": {"enablePodMonitor": False},
        },
    }]


def namespace() -> list[dict]:
    return [{"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": NAMESPACE, "labels": LABELS}}]


def dump(docs: list[dict]) -> str:
    import yaml  # PyYAML (the venv has it); imported here so `--help` needs nothing

    header = "# Generated by deploy/k8s/generate.py from its process table: edit that, not this.\n"
    return header + "".join("---\n" + yaml.safe_dump(d, sort_keys=False, allow_unicode=True,
                                                     width=100) for d in docs)


def files() -> dict[Path, str]:
    out = {HERE / "namespace.yaml": dump(namespace()),
           HERE / "config.yaml": dump(config()),
           HERE / "kafka.yaml": dump(kafka()),
           HERE / "kafka-users.yaml": dump(kafka_users()),
           HERE / "postgres.yaml": dump(postgres())}
    for p in PROCESSES:
        out[HERE / "services" / f"{p.name}.yaml"] = dump(
            [deployment(p), service(p), disruption_budget(p)])
    resources = [str(path.relative_to(HERE)) for path in out]
    out[HERE / "kustomization.yaml"] = dump([{
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "namespace": NAMESPACE, "resources": resources}])
    return out


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path, text in files().items():
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(HERE.parents[1])))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if stale:
        print("stale manifests (run python deploy/k8s/generate.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
