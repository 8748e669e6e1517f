"""The Helm chart, through the real Helm v4 engine (helm-python-sdk): lint, render, schema, pod hardening."""

from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path

import pytest
import yaml

helm = pytest.importorskip("helm_python", reason="helm-python-sdk is a test dependency: pip install -e '.[test]'")

from creditfactory.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "creditfactory"
PRODUCTION = yaml.safe_load((CHART / "ci" / "production-values.yaml").read_text())
DEPLOYMENTS = {"web", "worker", "scheduler"}


def render(values: dict | None = None) -> list[dict]:
    chart = helm.Chart.load(str(CHART))
    try:
        rendered = chart.render(values or {}, name="cf", namespace="bank", is_install=True)
    finally:
        chart.close()
    documents = []
    for path, text in rendered.items():
        if path.endswith(".yaml"):
            documents += [doc for doc in yaml.safe_load_all(text) if doc]
    return documents


def by_kind(documents: list[dict], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


def pod_spec(document: dict) -> dict:
    return document["spec"]["template"]["spec"]


def env_of(container: dict) -> dict[str, dict]:
    return {item["name"]: item for item in container.get("env", [])}


@pytest.mark.parametrize("values", [None, PRODUCTION], ids=["defaults", "production"])
def test_lint_reports_no_errors(values):
    report = helm.lint(str(CHART), values, strict=True)
    errors = [m for m in report["messages"] if m["severity"] >= 2 and m["error"] != "icon is recommended"]
    assert report["errors"] == [] and errors == []


def test_default_values_render_every_component():
    documents = render()
    kinds = sorted((doc["kind"], doc["metadata"]["name"]) for doc in documents)
    assert kinds == sorted([
        ("ConfigMap", "cf-creditfactory"), ("ServiceAccount", "cf-creditfactory"),
        ("Deployment", "cf-creditfactory-web"), ("Deployment", "cf-creditfactory-worker"),
        ("Deployment", "cf-creditfactory-scheduler"), ("Service", "cf-creditfactory-web"),
        ("Ingress", "cf-creditfactory"), ("HorizontalPodAutoscaler", "cf-creditfactory-web"),
        ("HorizontalPodAutoscaler", "cf-creditfactory-worker"), ("PodDisruptionBudget", "cf-creditfactory-web"),
        ("PodDisruptionBudget", "cf-creditfactory-worker"), ("PodDisruptionBudget", "cf-creditfactory-scheduler"),
        ("NetworkPolicy", "cf-creditfactory"), ("Job", "cf-creditfactory-migrate-1"),
    ])


def test_production_values_add_pgbouncer_and_route_only_pooled_processes_through_it():
    documents = render(PRODUCTION)
    deployments = by_kind(documents, "Deployment")
    assert "cf-creditfactory-pgbouncer" in deployments and "cf-creditfactory-pgbouncer" in by_kind(documents, "Service")

    def database_key(container):
        return env_of(container)["CREDITFACTORY_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"]

    web = pod_spec(deployments["cf-creditfactory-web"])["containers"][0]
    worker = pod_spec(deployments["cf-creditfactory-worker"])["containers"][0]
    scheduler = pod_spec(deployments["cf-creditfactory-scheduler"])["containers"][0]
    migrate = pod_spec(by_kind(documents, "Job")["cf-creditfactory-migrate-1"])["containers"][0]
    assert database_key(web) == database_key(worker) == "PGBOUNCER_DATABASE_URL"
    # Advisory locks (scheduler leadership, migration orchestrator) need a real session, never a pooled one.
    assert database_key(scheduler) == database_key(migrate) == "DATABASE_URL"
    assert web["image"] == "registry.bank.example.cn/platform/creditfactory:0.1.0"
    assert env_of(web)["WEB_CONCURRENCY"]["value"] == "5"
    assert worker["command"][-3:] == ["--queues", "tenant", "system"]
    assert "--canary=3" in migrate["command"] and "--workers=8" in migrate["command"]
    assert by_kind(documents, "PodDisruptionBudget")["cf-creditfactory-web"]["spec"]["minAvailable"] == 2


@pytest.mark.parametrize("values", [None, PRODUCTION], ids=["defaults", "production"])
def test_every_container_is_probed_limited_and_unprivileged(values):
    for document in render(values):
        if document["kind"] not in ("Deployment", "Job"):
            continue
        spec = pod_spec(document)
        name = document["metadata"]["name"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec.get("automountServiceAccountToken") is False, name
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["runAsNonRoot"] is True and security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["requests"] and container["resources"]["limits"], name
            if document["kind"] == "Deployment":  # a Job runs to completion: Kubernetes does not probe it
                assert {"startupProbe", "livenessProbe", "readinessProbe"} <= container.keys(), name


def test_web_probes_use_the_health_endpoints_and_drains_gracefully():
    web = by_kind(render(), "Deployment")["cf-creditfactory-web"]
    container = pod_spec(web)["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["command"] == ["gunicorn", "-c", "python:creditfactory.gunicorn_conf", "creditfactory.wsgi:app"]
    assert pod_spec(web)["terminationGracePeriodSeconds"] > int(env_of(container)["GUNICORN_GRACEFUL_TIMEOUT"]["value"])
    assert web["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_workers_and_scheduler_are_probed_by_their_heartbeat():
    deployments = by_kind(render(), "Deployment")
    for component in ("worker", "scheduler"):
        container = pod_spec(deployments[f"cf-creditfactory-{component}"])["containers"][0]
        assert env_of(container)["CREDITFACTORY_HEARTBEAT_FILE"]["value"] == "/tmp/heartbeat"
        assert "/tmp/heartbeat" in " ".join(container["livenessProbe"]["exec"]["command"])


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook():
    job = by_kind(render(), "Job")["cf-creditfactory-migrate-1"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert pod_spec(job)["containers"][0]["command"][:3] == ["creditfactory", "db", "upgrade"]
    assert pod_spec(job)["restartPolicy"] == "Never"


def test_ingress_serves_the_head_office_and_every_tenant_subdomain_over_tls():
    ingress = by_kind(render({"baseDomain": "credit.example.cn"}), "Ingress")["cf-creditfactory"]
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == ["credit.example.cn", "*.credit.example.cn"]
    assert ingress["spec"]["tls"][0]["hosts"] == ["credit.example.cn", "*.credit.example.cn"]


def test_secrets_are_only_referenced_never_rendered():
    documents = render()
    config = by_kind(documents, "ConfigMap")["cf-creditfactory"]["data"]
    assert not any(word in key for key in config for word in ("SECRET", "MASTER", "PASSWORD", "DATABASE_URL"))
    web = pod_spec(by_kind(documents, "Deployment")["cf-creditfactory-web"])["containers"][0]
    for name in ("CREDITFACTORY_SECRET_KEY", "CREDITFACTORY_MASTER_KEY", "CREDITFACTORY_DATABASE_URL"):
        assert env_of(web)[name]["valueFrom"]["secretKeyRef"]["name"] == "creditfactory"


def test_every_setting_the_chart_passes_exists():
    """A typo in a CREDITFACTORY_* name would be silently ignored by the app: catch it here."""
    # Two process variables that are not settings: the liveness file and the worker's metrics exporter switch.
    fields = {f.name for f in dataclasses.fields(Settings)} | {"heartbeat_file", "worker_metrics"}
    documents = render(PRODUCTION)
    names = set(by_kind(documents, "ConfigMap")["cf-creditfactory"]["data"])
    for document in documents:
        if document["kind"] in ("Deployment", "Job"):
            for container in pod_spec(document)["containers"]:
                names |= {name for name in env_of(container) if name.startswith("CREDITFACTORY_")}
    unknown = sorted(n for n in names if n.startswith("CREDITFACTORY_") and n[14:].lower() not in fields)
    assert unknown == []


@pytest.mark.parametrize("values, message", [
    ({"web": {"replicas": 0}}, "/web/replicas"),
    ({"baseDomain": "Not A Domain"}, "/baseDomain"),
    ({"existingSecret": ""}, "/existingSecret"),
    ({"securityContext": {"readOnlyRootFilesystem": False}}, "/securityContext/readOnlyRootFilesystem"),
    ({"pgbouncer": {"poolMode": "session"}}, "/pgbouncer/poolMode"),
    ({"worker": {"queues": ["reports"]}}, "/worker/queues/0"),
    ({"web": {"resources": {"limits": {"cpu": "lots", "memory": "1Gi"}}}}, "/web/resources/limits/cpu"),
    ({"webb": {"replicas": 2}}, "webb"),
])
def test_bad_values_are_refused_by_the_schema_with_the_key_named(values, message):
    with pytest.raises(helm.HelmValuesError) as refused:
        render(values)
    assert message in str(refused.value)


def test_gunicorn_takes_its_workers_from_the_pods_cpu_limit(monkeypatch):
    import creditfactory.gunicorn_conf as conf

    monkeypatch.setenv("CPU_LIMIT", "3")
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    assert importlib.reload(conf).workers == 7
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    assert importlib.reload(conf).workers == 4
    assert conf.graceful_timeout > 0 and conf.forwarded_allow_ips == ""


def test_gunicorn_workers_keep_what_they_built_at_start_out_of_full_collections():
    import gc

    import creditfactory.gunicorn_conf as conf

    try:
        conf.post_worker_init(None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_the_image_is_multi_stage_non_root_and_without_build_tools():
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", dockerfile, flags=re.M)[1:]
    assert len(stages) == 2
    final = stages[-1]
    # The runtime stage may install data (the CJK font contracts are rendered with), never a compiler.
    assert "build-essential" not in final and "gcc" not in final
    assert re.search(r"^USER 10001", final, flags=re.M)
    assert "COPY migrations" in final and "COPY tenants" in final


def test_the_grafana_dashboard_charts_only_metrics_the_platform_exports():
    import json

    from creditfactory import metrics

    dashboard = json.loads((CHART / "dashboards" / "creditfactory.json").read_text())
    exported = {collector._name for collector in vars(metrics).values() if hasattr(collector, "_name")}
    for panel in dashboard["panels"]:
        names = set(re.findall(r"(creditfactory_[a-z_]+|dramatiq_[a-z_]+)", panel["targets"][0]["expr"]))
        platform_names = {re.sub(r"_(bucket|total|count|sum)$", "", name) for name in names
                          if name.startswith("creditfactory_")}
        known = exported | {"creditfactory_job_queue_messages", "creditfactory_tenant_schemas"}
        assert platform_names <= known, panel["title"]
    documents = render({"grafanaDashboard": {"enabled": True, "labels": {"grafana_dashboard": "1"}}})
    config = by_kind(documents, "ConfigMap")["cf-creditfactory-dashboard"]
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config["data"]["creditfactory.json"])["uid"] == "creditfactory"
