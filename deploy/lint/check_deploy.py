#!/usr/bin/env python3
"""Checks of deploy/ that the schema linters cannot make.

hadolint, yamllint, `docker-compose config` and kubernetes-validate check
each file against its format; this script checks that the files agree with
each other and with hotline:

- compose.yaml: PostgreSQL has a healthcheck; the migration waits for it; at
  least two servers wait for the migration and share one database; every
  secret is a file; Prometheus scrapes exactly the servers' admin ports.
- k8s/: kustomization.yaml lists every manifest (and not the example
  Secret); the pods run restricted, without service links (Kubernetes would
  inject HOTLINE_SERVICE_HOST..., which hotline rejects as unknown settings);
  the servers have native gRPC probes, liveness apart from readiness;
  Services, PDB and HPA select the servers and not the migration Job.
- grafana/hotline-dashboard.json: every panel uses the data source variable,
  every query parses as PromQL, and every metric of the list below is shown.
- every HOTLINE_ variable set in deploy/ is a setting documented in
  docs/configuration.md (hotline refuses to start on an unknown one).
- with --binary PATH: the hotline binary loads each deployment's settings
  (the image's environment, the compose and Kubernetes environments and the
  ConfigMap's hotline.toml) without error.

Usage: check_deploy.py [--binary target/debug/hotline]
Needs PyYAML and promql-parser (deploy/lint/requirements.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import promql_parser
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"

GRPC_PORT = 50051
ADMIN_PORT = 9090
# gRPC health name that is SERVING while the process runs, database or not
# (the admin port change); "" and the API services follow readiness.
LIVENESS_SERVICE = "liveness"

# The metrics the admin port exports (the admin port change); the dashboard
# must show each of them.
METRICS = [
    "hotline_grpc_requests_total",
    "hotline_grpc_request_duration_seconds_bucket",
    "hotline_db_pool_connections",
    "hotline_db_pool_max_connections",
    "hotline_db_pool_acquire_seconds_bucket",
    "hotline_database_up",
    "hotline_intake_batch_size_bucket",
    "hotline_sweeper_rounds_total",
    "hotline_sweeper_crossings_total",
    "hotline_sweeper_lag_seconds",
    "hotline_feed_subscribers",
    "hotline_feed_relay_reconnects_total",
    "hotline_routing_decisions_total",
    "hotline_tickets_open",
    "hotline_tickets_overdue_open",
    "hotline_webhook_deliveries_total",
    "hotline_hotspots_detected_total",
    "hotline_hotspot_detector_lag_tickets",
    "hotline_hotspot_detector_clusters",
    "hotline_knowledge_queries_total",
    "hotline_knowledge_query_duration_seconds_bucket",
    "hotline_knowledge_index_documents",
    "hotline_knowledge_follow_lag",
    "hotline_knowledge_index_rebuilds_total",
    "hotline_ticket_cache_lookups_total",
]

# HOTLINE_ variables that are read but are not settings (src/config/load.rs).
NOT_SETTINGS = {"HOTLINE_CONFIG"}

# Settings that deploy/ uses before docs/configuration.md lists them, because
# the change that adds them is developed at the same time. Once the table
# lists one, it is checked like any other (and this entry can go).
PENDING: dict[str, str] = {}

# A stand-in for secrets when the binary loads the settings.
DUMMY_SECRET = "ci-only-not-a-secret-0123456789abcdef"

errors: list[str] = []
checks = 0


def check(ok: bool, message: str) -> bool:
    global checks
    checks += 1
    if not ok:
        errors.append(message)
    return ok


def load_yaml(path: Path) -> dict:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


# --- compose -----------------------------------------------------------------


def depends(service: dict, other: str) -> str | None:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return "service_started" if other in deps else None
    entry = deps.get(other)
    return None if entry is None else entry.get("condition", "service_started")


def command_of(service: dict) -> list[str]:
    cmd = service.get("command") or []
    return cmd.split() if isinstance(cmd, str) else list(cmd)


def check_compose() -> None:
    compose = load_yaml(DEPLOY / "compose.yaml")
    services = compose.get("services", {})
    pg = services.get("postgres")
    if check(pg is not None, "compose: no postgres service"):
        check("healthcheck" in pg, "compose: postgres has no healthcheck")
    migrate = services.get("migrate")
    if check(migrate is not None, "compose: no migrate service"):
        check(command_of(migrate) == ["migrate"], "compose: migrate does not run `hotline migrate`")
        check(
            depends(migrate, "postgres") == "service_healthy",
            "compose: migrate does not wait for postgres to be healthy",
        )
    servers = {n: s for n, s in services.items() if command_of(s)[:1] == ["serve"]}
    check(len(servers) >= 2, f"compose: {len(servers)} `hotline serve` services, want at least 2")
    urls = set()
    for name, s in servers.items():
        check(
            depends(s, "migrate") == "service_completed_successfully",
            f"compose: {name} does not wait for the migration to complete successfully",
        )
        env = s.get("environment") or {}
        urls.add(env.get("HOTLINE_DATABASE__URL"))
        check(
            str(env.get("HOTLINE_DATABASE__MIGRATE")).lower() == "false",
            f"compose: {name} migrates at start although the migrate service does",
        )
    check(
        len(urls) == 1 and None not in urls,
        f"compose: the servers do not share one HOTLINE_DATABASE__URL: {sorted(map(str, urls))}",
    )
    for name, secret in (compose.get("secrets") or {}).items():
        check("file" in secret, f"compose: secret {name} is not read from a file")
    prom = load_yaml(DEPLOY / "prometheus.yml")
    targets = {
        t
        for job in prom.get("scrape_configs", [])
        for sc in job.get("static_configs", [])
        for t in sc.get("targets", [])
    }
    want = {f"{name}:{ADMIN_PORT}" for name in servers}
    check(targets == want, f"prometheus.yml scrapes {sorted(targets)}, want the servers' admin ports {sorted(want)}")
    mounts = " ".join(map(str, (services.get("prometheus") or {}).get("volumes", [])))
    check("./prometheus.yml:" in mounts, "compose: prometheus does not mount ./prometheus.yml")


# --- Kubernetes ----------------------------------------------------------------


def manifests() -> dict[str, dict]:
    return {p.name: load_yaml(p) for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml"}


def pod_specs(docs: dict[str, dict]):
    for name, doc in docs.items():
        if doc.get("kind") in ("Deployment", "Job"):
            yield name, doc, doc["spec"]["template"]


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def check_k8s() -> None:
    kustomization = load_yaml(K8S / "kustomization.yaml")
    listed = set(kustomization.get("resources", []))
    docs = manifests()
    for name in listed:
        check((K8S / name).is_file(), f"k8s: kustomization.yaml lists {name}, which does not exist")
    for name, doc in docs.items():
        if name.endswith(".example.yaml"):
            check(name not in listed, f"k8s: {name} is an example and must not be a resource")
        else:
            check(name in listed, f"k8s: {name} is not listed in kustomization.yaml")
    for name, doc, template in pod_specs(docs):
        spec = template["spec"]
        where = f"k8s: {name}"
        check(spec.get("enableServiceLinks") is False, f"{where}: enableServiceLinks must be false (HOTLINE_* service variables)")
        check(spec.get("automountServiceAccountToken") is False, f"{where}: mounts a service account token")
        psc = spec.get("securityContext", {})
        check(psc.get("runAsNonRoot") is True, f"{where}: runAsNonRoot is not true")
        check(isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] > 0, f"{where}: no numeric non-root runAsUser")
        check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{where}: seccompProfile is not RuntimeDefault")
        for c in spec["containers"]:
            csc = c.get("securityContext", {})
            check(csc.get("allowPrivilegeEscalation") is False, f"{where}/{c['name']}: allowPrivilegeEscalation is not false")
            check(csc.get("readOnlyRootFilesystem") is True, f"{where}/{c['name']}: readOnlyRootFilesystem is not true")
            check(csc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}/{c['name']}: capabilities are not drop ALL")
            check("limits" in c.get("resources", {}) and "requests" in c.get("resources", {}), f"{where}/{c['name']}: no resource requests and limits")
    deployments = [d for d in docs.values() if d.get("kind") == "Deployment"]
    if not check(len(deployments) == 1, "k8s: want exactly one Deployment"):
        return
    deployment = deployments[0]
    server_labels = deployment["spec"]["template"]["metadata"]["labels"]
    check(
        selects(deployment["spec"]["selector"]["matchLabels"], server_labels),
        "k8s: the Deployment's selector does not match its pods",
    )
    check("replicas" not in deployment["spec"], "k8s: the Deployment sets replicas, which fights the HPA on every apply")
    server = deployment["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in server.get("ports", [])}
    check(ports.get("grpc") == GRPC_PORT, f"k8s: no container port grpc = {GRPC_PORT}")
    check(ports.get("admin") == ADMIN_PORT, f"k8s: no container port admin = {ADMIN_PORT}")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        grpc = server.get(probe, {}).get("grpc", {})
        check(grpc.get("port") == GRPC_PORT, f"k8s: {probe} is not a gRPC probe on {GRPC_PORT}")
        # Liveness must not follow readiness (the database): an outage would
        # restart every replica. hotline's health name "liveness" does not.
        wants_liveness = probe != "readinessProbe"
        check(
            (grpc.get("service") == LIVENESS_SERVICE) == wants_liveness,
            f"k8s: {probe} should ask for the health service "
            + (f"{LIVENESS_SERVICE!r}" if wants_liveness else "'' (readiness), not liveness"),
        )
    job_labels = [
        t["metadata"]["labels"] for _, d, t in pod_specs(docs) if d.get("kind") == "Job"
    ]
    for name, doc in docs.items():
        kind = doc.get("kind")
        if kind == "Service":
            sel = doc["spec"]["selector"]
        elif kind == "PodDisruptionBudget":
            sel = doc["spec"]["selector"]["matchLabels"]
        elif kind == "HorizontalPodAutoscaler":
            ref = doc["spec"]["scaleTargetRef"]
            check(
                (ref["kind"], ref["name"]) == ("Deployment", deployment["metadata"]["name"]),
                f"k8s: {name} does not scale the Deployment",
            )
            check(doc["spec"].get("minReplicas", 1) >= 2, f"k8s: {name} allows fewer than 2 replicas")
            continue
        else:
            continue
        check(selects(sel, server_labels), f"k8s: {name} does not select the server pods")
        for labels in job_labels:
            check(not selects(sel, labels), f"k8s: {name} also selects the migration Job's pod")


# --- Grafana -------------------------------------------------------------------


def check_dashboard() -> None:
    path = DEPLOY / "grafana" / "hotline-dashboard.json"
    dash = json.loads(path.read_text(encoding="utf-8"))
    variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource", {})
    check(
        ds.get("type") == "datasource" and ds.get("query") == "prometheus",
        "dashboard: no Prometheus data source variable `datasource`",
    )
    ids = [p["id"] for p in dash["panels"]]
    check(len(ids) == len(set(ids)), "dashboard: panel ids are not unique")
    exprs = []
    for panel in dash["panels"]:
        if panel["type"] == "row":
            continue
        title = panel.get("title", panel["id"])
        check(panel.get("datasource", {}).get("uid") == "${datasource}", f"dashboard: panel {title!r} does not use $datasource")
        check(bool(panel.get("targets")), f"dashboard: panel {title!r} has no query")
        for target in panel.get("targets", []):
            expr = target["expr"]
            exprs.append(expr)
            concrete = (
                expr.replace("$__rate_interval", "5m").replace("$job", ".*").replace("$instance", ".*")
            )
            try:
                promql_parser.parse(concrete)
                check(True, "")
            except Exception as e:  # the parser raises its own error types
                check(False, f"dashboard: panel {title!r}: {expr!r} does not parse: {e}")
    text = "\n".join(exprs)
    for metric in METRICS:
        check(re.search(rf"\b{metric}\b", text) is not None, f"dashboard: no panel shows {metric}")


# --- HOTLINE_ variables ------------------------------------------------------


def documented_settings() -> set[str]:
    table = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `(HOTLINE_[A-Z0-9_]+)`", table, re.M))


def deploy_env_names() -> dict[str, set[str]]:
    """Every HOTLINE_ variable that deploy/ sets, by file (comments aside)."""
    names = {"deploy/Dockerfile": {n for n in dockerfile_env() if n.startswith("HOTLINE_")}}
    compose = load_yaml(DEPLOY / "compose.yaml")
    names["deploy/compose.yaml"] = {
        n for s in compose["services"].values() for n in (s.get("environment") or {}) if n.startswith("HOTLINE_")
    }
    for name, _, template in pod_specs(manifests()):
        names[f"deploy/k8s/{name}"] = {
            v["name"]
            for c in template["spec"]["containers"]
            for v in c.get("env", [])
            if v["name"].startswith("HOTLINE_")
        }
    return names


def check_env_names() -> None:
    documented = documented_settings()
    check(len(documented) > 10, "docs/configuration.md: settings table not found")
    for path, names in deploy_env_names().items():
        for name in sorted(names):
            known = name in documented or name in NOT_SETTINGS or name in PENDING
            check(known, f"{path}: {name} is not a setting in docs/configuration.md")
    for name, why in PENDING.items():
        if name in documented:
            print(f"note: {name} is documented now; drop it from PENDING in {Path(__file__).relative_to(ROOT)}")
        else:
            print(f"note: {name} is not a setting yet; it comes with {why}")


# --- the binary loads each deployment's settings --------------------------------


def dockerfile_env() -> dict[str, str]:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(re.findall(r"(\w+)=(\S+)", line))
    return env


def k8s_env() -> dict[str, str]:
    deployment = next(d for d in manifests().values() if d.get("kind") == "Deployment")
    env = {}
    for var in deployment["spec"]["template"]["spec"]["containers"][0].get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        elif var["name"] == "HOTLINE_DATABASE__URL":
            env[var["name"]] = "postgres://hotline@db.invalid:5432/hotline"
        else:
            env[var["name"]] = DUMMY_SECRET
    return env


def configmap_toml(tmp: Path) -> Path:
    cm = next(d for d in manifests().values() if d.get("kind") == "ConfigMap")
    path = tmp / "hotline.toml"
    path.write_text(cm["data"]["hotline.toml"], encoding="utf-8")
    return path


def compose_env(tmp: Path) -> dict[str, str]:
    compose = load_yaml(DEPLOY / "compose.yaml")
    server = next(s for s in compose["services"].values() if command_of(s)[:1] == ["serve"])
    env = {k: str(v) for k, v in (server.get("environment") or {}).items()}
    if "HOTLINE_AUTH__HS256_SECRET_FILE" in env:
        secret = tmp / "jwt_secret"
        secret.write_text(DUMMY_SECRET + "\n", encoding="utf-8")
        env["HOTLINE_AUTH__HS256_SECRET_FILE"] = str(secret)
    return env


def check_binary(binary: Path) -> None:
    documented = documented_settings()
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        image = dockerfile_env()
        cases = {
            "image defaults (deploy/hotline.example.toml)": (
                image | {"HOTLINE_CONFIG": str(DEPLOY / "hotline.example.toml")}
            ),
            "compose servers": image
            | {"HOTLINE_CONFIG": str(DEPLOY / "hotline.example.toml")}
            | compose_env(tmp),
            "Kubernetes servers (ConfigMap hotline.toml)": image
            | k8s_env()
            | {"HOTLINE_CONFIG": str(configmap_toml(tmp))},
        }
        for case, env in cases.items():
            env = {k: v for k, v in env.items() if not (k in PENDING and k not in documented)}
            run_dir = tmp / re.sub(r"\W+", "-", case)
            run_dir.mkdir()
            result = subprocess.run(
                [str(binary), "token", "--role", "agent", "--sub", "deploy-check"],
                cwd=run_dir,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")} | env,
                capture_output=True,
                text=True,
            )
            check(
                result.returncode == 0 and result.stdout.count(".") == 2,
                f"binary: {case}: hotline does not load these settings: {result.stderr.strip()[:500]}",
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", type=Path, help="a hotline binary to load each deployment's settings with")
    args = parser.parse_args()
    if args.binary:
        if not args.binary.is_file():
            print(f"FAIL: no hotline binary at {args.binary}", file=sys.stderr)
            return 1
        check_binary(args.binary.resolve())
    else:
        check_compose()
        check_k8s()
        check_dashboard()
        check_env_names()
    for e in errors:
        print(f"FAIL: {e}", file=sys.stderr)
    print(f"deploy checks: {checks - len(errors)} of {checks} hold")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
