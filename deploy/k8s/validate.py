"""Validate the manifests in deploy/k8s/ offline (`make lint` runs this).

    python deploy/k8s/validate.py [files...]

Three layers:
1. Core kinds (Deployment, Service, PodDisruptionBudget, ConfigMap, Secret, Namespace) against
   the Kubernetes OpenAPI schemas that the `kubernetes-validate` package ships, strictly
   (unknown fields are errors).
2. The operators' kinds (Strimzi `Kafka` and `KafkaNodePool`, CloudNativePG `Cluster`): no
   package on PyPI or npm ships their JSON schemas, so this file carries a structural check
   written by hand from their CRDs (Strimzi packaging/install/cluster-operator/040-Crd-kafka.yaml
   and 045-Crd-kafkanodepool.yaml at 8541da1e, version 1.3.0-SNAPSHOT, API kafka.strimzi.io/v1;
   CloudNativePG config/crd/bases/postgresql.cnpg.io_clusters.yaml at a95a534d, API
   postgresql.cnpg.io/v1). It knows the field names of the parts we use, their required fields
   and enums, and rejects unknown keys there; it is not the operators' full schema.
3. What the platform itself needs: every Deployment probes /readyz and /healthz, has requests
   and limits, at least two replicas and a PodDisruptionBudget; Kafka has three brokers and a
   controller quorum of three, the ConfigMap's replication factor and min.insync.replicas
   match the brokers' and keep one broker's loss writable; PostgreSQL has a standby.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
K8S_VERSION = "1.33.0"  # the oldest Kubernetes we promise to run on

ANY = object()
# A shape is: ANY; a type (int, str, bool); a frozenset (enum of strings); a dict of key ->
# shape (an object whose other keys are errors; a key starting with "!" is required); or a
# one-element list [shape] (an array of that shape).
RESOURCES = {"requests": ANY, "limits": ANY, "claims": ANY}
JVM = {"-XX": ANY, "-Xms": str, "-Xmx": str, "gcLoggingEnabled": bool,
       "javaSystemProperties": ANY}
STRIMZI_VOLUME = {"id": int, "!type": frozenset({"ephemeral", "persistent-claim"}),
                  "size": str, "sizeLimit": str, "class": str, "deleteClaim": bool,
                  "kraftMetadata": frozenset({"shared"}), "selector": ANY,
                  "volumeAttributesClass": str}
METADATA = {"!name": str, "namespace": str, "labels": ANY, "annotations": ANY}

SHAPES: dict[tuple[str, str], dict] = {
    ("kafka.strimzi.io/v1", "KafkaNodePool"): {
        "!apiVersion": str, "!kind": str, "!metadata": METADATA,
        "!spec": {
            "!replicas": int,
            "!roles": [frozenset({"controller", "broker"})],
            "!storage": {**STRIMZI_VOLUME, "!type": frozenset({"ephemeral", "persistent-claim",
                                                              "jbod"}),
                         "volumes": [STRIMZI_VOLUME]},
            "resources": RESOURCES, "jvmOptions": JVM, "template": ANY,
        },
    },
    ("kafka.strimzi.io/v1", "Kafka"): {
        "!apiVersion": str, "!kind": str, "!metadata": METADATA,
        "!spec": {
            "!kafka": {
                "!listeners": [{
                    "!name": str, "!port": int, "!tls": bool, "authentication": ANY,
                    "configuration": ANY, "networkPolicyPeers": ANY,
                    "!type": frozenset({"internal", "route", "tlsroute", "loadbalancer",
                                        "nodeport", "ingress", "cluster-ip"})}],
                "version": str, "metadataVersion": str, "config": ANY, "authorization": ANY,
                "brokerRackInitImage": str, "image": str, "jmxOptions": ANY,
                "jvmOptions": JVM, "livenessProbe": ANY, "readinessProbe": ANY,
                "logging": ANY, "metricsConfig": ANY, "quotas": ANY,
                "rack": {"!topologyKey": str}, "template": ANY, "tieredStorage": ANY,
            },
            "entityOperator": {"topicOperator": ANY, "userOperator": ANY, "template": ANY},
            "clientsCa": ANY, "clusterCa": ANY, "cruiseControl": ANY, "kafkaExporter": ANY,
            "maintenanceTimeWindows": ANY,
        },
    },
    # Strimzi packaging/install/cluster-operator/044-Crd-kafkauser.yaml (kafka.strimzi.io/v1)
    ("kafka.strimzi.io/v1", "KafkaUser"): {
        "!apiVersion": str, "!kind": str, "!metadata": METADATA,
        "!spec": {
            "authentication": {"!type": frozenset({"tls", "tls-external", "scram-sha-512"}),
                               "password": ANY},
            "authorization": {"!type": frozenset({"simple"}), "!acls": [{
                "!resource": {"!type": frozenset({"topic", "group", "cluster",
                                                  "transactionalId"}),
                              "name": str, "patternType": frozenset({"literal", "prefix"})},
                "!operations": [frozenset({"Read", "Write", "Create", "Delete", "Alter",
                                           "Describe", "ClusterAction", "AlterConfigs",
                                           "DescribeConfigs", "IdempotentWrite", "All"})],
                "type": frozenset({"allow", "deny"}), "host": str}]},
            "quotas": ANY, "template": ANY,
        },
    },
    ("postgresql.cnpg.io/v1", "Cluster"): {
        "!apiVersion": str, "!kind": str, "!metadata": METADATA,
        "!spec": {
            "!instances": int,
            "imageName": str, "primaryUpdateStrategy": frozenset({"unsupervised",
                                                                 "supervised"}),
            "postgresql": {
                "parameters": ANY, "pg_hba": ANY, "pg_ident": ANY,
                "shared_preload_libraries": ANY, "enableAlterSystem": bool,
                "extensions": ANY, "ldap": ANY, "promotionTimeout": int,
                "syncReplicaElectionConstraint": ANY,
                "synchronous": {"!method": frozenset({"any", "first"}), "!number": int,
                                "dataDurability": frozenset({"required", "preferred"}),
                                "failoverQuorum": bool, "maxStandbyNamesFromCluster": int,
                                "standbyNamesPre": ANY, "standbyNamesPost": ANY,
                                "nodeFailureDomainKeys": ANY, "podFailureDomainKeys": ANY},
            },
            "bootstrap": {
                "initdb": {
                    "database": str, "owner": str, "encoding": str, "dataChecksums": bool,
                    "secret": {"!name": str}, "locale": str, "localeCType": str,
                    "localeCollate": str, "localeProvider": str, "icuLocale": str,
                    "builtinLocale": str, "icuRules": str, "options": ANY, "import": ANY,
                    "walSegmentSize": int, "postInitSQL": [str],
                    "postInitApplicationSQL": [str], "postInitTemplateSQL": [str],
                    "postInitSQLRefs": ANY, "postInitApplicationSQLRefs": ANY,
                    "postInitTemplateSQLRefs": ANY},
                "pg_basebackup": ANY, "recovery": ANY,
            },
            "storage": {"size": str, "storageClass": str, "pvcTemplate": ANY,
                        "resizeInUseVolumes": bool},
            "walStorage": {"size": str, "storageClass": str, "pvcTemplate": ANY,
                           "resizeInUseVolumes": bool},
            "resources": RESOURCES,
            "affinity": {"enablePodAntiAffinity": bool, "topologyKey": str,
                         "podAntiAffinityType": frozenset({"preferred", "required"}),
                         "nodeSelector": ANY, "nodeAffinity": ANY, "tolerations": ANY,
                         "additionalPodAffinity": ANY, "additionalPodAntiAffinity": ANY},
            "enablePDB": bool,
            "monitoring": {"enablePodMonitor": bool, "customQueriesConfigMap": ANY,
                           "customQueriesSecret": ANY, "disableDefaultQueries": bool,
                           "metricsQueriesTTL": ANY, "podMonitorMetricRelabelings": ANY,
                           "podMonitorRelabelings": ANY, "tls": ANY},
            "backup": ANY, "minSyncReplicas": int, "maxSyncReplicas": int,
            "superuserSecret": ANY, "enableSuperuserAccess": bool, "description": str,
            "failoverDelay": int, "switchoverDelay": int, "startDelay": int, "stopDelay": int,
            "smartShutdownTimeout": int, "logLevel": str, "priorityClassName": str,
            "topologySpreadConstraints": ANY, "probes": ANY, "env": ANY, "envFrom": ANY,
            "certificates": ANY, "replica": ANY, "externalClusters": ANY, "managed": ANY,
            "plugins": ANY, "tablespaces": ANY, "replicationSlots": ANY,
        },
    },
}


def check_shape(value: Any, shape: Any, where: str) -> list[str]:
    if shape is ANY:
        return []
    if isinstance(shape, frozenset):
        return [] if value in shape else [f"{where}: {value!r} is not one of {sorted(shape)}"]
    if isinstance(shape, type):
        ok = isinstance(value, shape) and not (shape is int and isinstance(value, bool))
        return [] if ok else [f"{where}: expected {shape.__name__}, got {value!r}"]
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [e for i, v in enumerate(value) for e in check_shape(v, shape[0], f"{where}[{i}]")]
    if not isinstance(value, dict):
        return [f"{where}: expected an object"]
    known = {k.lstrip("!"): s for k, s in shape.items()}
    errors = [f"{where}.{k}: required" for k in shape if k.startswith("!") and k[1:] not in value]
    for key, sub in value.items():
        if key not in known:
            errors.append(f"{where}.{key}: unknown field")
        else:
            errors += check_shape(sub, known[key], f"{where}.{key}")
    return errors


def load(paths: list[Path]) -> list[tuple[Path, dict]]:
    import yaml

    docs = []
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path, doc))
    return docs


def check_core(docs: list[tuple[Path, dict]]) -> list[str]:
    import kubernetes_validate

    errors = []
    for path, doc in docs:
        if (doc.get("apiVersion"), doc.get("kind")) in SHAPES or doc.get("kind") == "Kustomization":
            continue
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{path.name}: {doc['kind']}/{doc['metadata']['name']}: "
                          f"{'.'.join(str(p) for p in exc.path)}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{path.name}: no schema for {doc.get('apiVersion')} {doc.get('kind')}")
    return errors


def check_operators(docs: list[tuple[Path, dict]]) -> list[str]:
    errors = []
    for path, doc in docs:
        shape = SHAPES.get((doc.get("apiVersion"), doc.get("kind")))
        if shape is not None:
            name = doc.get("metadata", {}).get("name", "?")
            errors += [f"{path.name}: {doc['kind']}/{name}{e[1:]}"
                       for e in check_shape(doc, shape, "$")]
    return errors


def by_kind(docs: list[tuple[Path, dict]], kind: str) -> list[dict]:
    return [d for _, d in docs if d.get("kind") == kind]


def check_platform(docs: list[tuple[Path, dict]]) -> list[str]:
    errors = []
    budgets = [pdb["spec"]["selector"]["matchLabels"] for pdb in by_kind(docs, "PodDisruptionBudget")]
    for dep in by_kind(docs, "Deployment"):
        name = dep["metadata"]["name"]
        spec = dep["spec"]
        if spec.get("replicas", 1) < 2:
            errors.append(f"{name}: fewer than two replicas")
        if spec["selector"]["matchLabels"] not in budgets:
            errors.append(f"{name}: no PodDisruptionBudget selects it")
        for c in spec["template"]["spec"]["containers"]:
            if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
                errors.append(f"{name}: readiness probe is not /readyz")
            if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
                errors.append(f"{name}: liveness probe is not /healthz")
            res = c.get("resources", {})
            if not res.get("requests") or not res.get("limits"):
                errors.append(f"{name}: resources need requests and limits")
    pools = by_kind(docs, "KafkaNodePool")
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    controllers = sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"])
    if pools and (brokers < 3 or controllers < 3 or controllers % 2 == 0):
        errors.append(f"Kafka: {brokers} brokers, {controllers} controllers (want >= 3, odd quorum)")
    config = {k: v for cm in by_kind(docs, "ConfigMap") for k, v in cm.get("data", {}).items()}
    for kafka in by_kind(docs, "Kafka"):
        broker_cfg = kafka["spec"]["kafka"].get("config", {})
        rf = int(config.get("MINSHENG_KAFKA_REPLICATION_FACTOR", 1))
        isr = int(config.get("MINSHENG_KAFKA_MIN_INSYNC_REPLICAS", 1))
        if rf != broker_cfg.get("default.replication.factor") or \
                isr != broker_cfg.get("min.insync.replicas"):
            errors.append("ConfigMap replication settings differ from the Kafka cluster's")
        if not (1 < isr < rf <= brokers):
            errors.append(f"replication factor {rf}, min.insync {isr}, {brokers} brokers: "
                          "losing one broker must leave topics writable and durable")
    errors += check_bus_security(docs, config)
    for pg in by_kind(docs, "Cluster"):
        if pg["spec"]["instances"] < 2:
            errors.append("PostgreSQL cluster has no standby")
    return errors


def check_bus_security(docs: list[tuple[Path, dict]], config: dict[str, str]) -> list[str]:
    """No unauthenticated Kafka listener, ACLs enforced, the services on SASL_SSL, and every
    Deployment's SCRAM user (if it uses the bus) a KafkaUser (docs/security.md)."""
    errors = []
    for kafka in by_kind(docs, "Kafka"):
        spec = kafka["spec"]["kafka"]
        for listener in spec["listeners"]:
            if not listener.get("authentication") or not listener.get("tls"):
                errors.append(f"Kafka listener {listener['name']!r}: unauthenticated or "
                              "without TLS (the bus must not be open)")
        if spec.get("authorization", {}).get("type") != "simple":
            errors.append("Kafka: no authorization (ACLs are not enforced)")
    if by_kind(docs, "Kafka") and config.get("MINSHENG_KAFKA_SECURITY_PROTOCOL") != "SASL_SSL":
        errors.append("ConfigMap: MINSHENG_KAFKA_SECURITY_PROTOCOL is not SASL_SSL")
    users = {u["metadata"]["name"] for u in by_kind(docs, "KafkaUser")}
    for dep in by_kind(docs, "Deployment"):
        for c in dep["spec"]["template"]["spec"]["containers"]:
            names = {e["name"]: e for e in c.get("env", [])}
            if "MINSHENG_KAFKA_SASL_USERNAME" not in names:
                continue  # a service that never touches the bus (identity)
            user = names["MINSHENG_KAFKA_SASL_USERNAME"].get("value")
            if user not in users:
                errors.append(f"{dep['metadata']['name']}: its Kafka user {user!r} is no "
                              "KafkaUser")
            elif names.get("MINSHENG_KAFKA_SASL_PASSWORD", {}).get("valueFrom", {}).get(
                    "secretKeyRef", {}).get("name") != user:
                errors.append(f"{dep['metadata']['name']}: the SASL password is not its "
                              "KafkaUser's Secret")
    return errors


def local_processes_missing(docs: list[tuple[Path, dict]]) -> list[str]:
    """Processes deploy/local runs that no Deployment here runs on the same port (a warning:
    a new service lands in deploy/local first; generate.py's table should follow)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "k8s_local_services", HERE.parent / "local" / "services.py")
    assert spec and spec.loader
    local = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(local)
    ports = {int(env["value"]) for dep in by_kind(docs, "Deployment")
             for c in dep["spec"]["template"]["spec"]["containers"]
             for env in c.get("env", []) if env["name"] == "MINSHENG_HTTP_PORT"}
    return [f"{name} (port {port})" for service in local.SERVICES
            for name, (_, port) in local.processes(service, 1).items() if port not in ports]


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(
        p for p in HERE.rglob("*.yaml") if p.name != "kustomization.yaml")
    docs = load(paths)
    errors = check_core(docs) + check_operators(docs) + check_platform(docs)
    for e in errors:
        print(e)
    if not argv:
        for missing in local_processes_missing(docs):
            print(f"warning: deploy/local runs {missing}; no Deployment here does "
                  "(add it to deploy/k8s/generate.py's PROCESSES)")
    kinds = sorted({d["kind"] for _, d in docs})
    print(f"{len(docs)} manifests ({', '.join(kinds)}): "
          f"{'valid' if not errors else f'{len(errors)} errors'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
