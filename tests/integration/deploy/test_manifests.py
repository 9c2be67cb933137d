"""The Kubernetes manifests in deploy/: both overlays render, validate strictly, and pass checkov.

Rendering uses the real ``kubectl kustomize`` on a copy of deploy/ (the production overlay reads its
Secret from secrets.env, which is never committed: the copy gets secrets.env.example).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from support.deploy_tools import ROOT, tool
from swen.instance import claimed

KUBERNETES_VERSION = "1.35.0"
OVERLAYS = ("dev", "production")
ROLES = ("api", "engine", "simulator", "dashboard")
PRODUCTION_REPLICAS = {"swen-dashboard": 3, "swen-api": 3, "swen-engine": 2, "swen-simulator": 1}

pytestmark = pytest.mark.slow


def render(deploy: Path, overlay: str) -> list[dict[str, Any]]:
    kubectl = tool("kubectl")
    out = subprocess.run(
        [kubectl, "kustomize", str(deploy / "overlays" / overlay)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.fixture(scope="module")
def deploy_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("deploy") / "deploy"
    shutil.copytree(ROOT / "deploy", copy)
    production = copy / "overlays" / "production"
    shutil.copy(production / "secrets.env.example", production / "secrets.env")
    return copy


@pytest.fixture(scope="module")
def rendered(deploy_copy: Path) -> dict[str, list[dict[str, Any]]]:
    return {overlay: render(deploy_copy, overlay) for overlay in OVERLAYS}


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def containers(deployment: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from deployment["spec"]["template"]["spec"]["containers"]


def test_production_runs_the_designs_replica_counts(rendered: dict[str, list[dict[str, Any]]]) -> None:
    deployments = by_kind(rendered["production"], "Deployment")
    assert {name: d["spec"]["replicas"] for name, d in deployments.items()} == PRODUCTION_REPLICAS
    assert all(d["spec"]["replicas"] == 1 for d in by_kind(rendered["dev"], "Deployment").values())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_role_runs_the_one_image_with_its_command(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    deployments = by_kind(rendered[overlay], "Deployment")
    images = {c["image"] for d in deployments.values() for c in containers(d)}
    assert len(images) == 1
    commands = {name: next(containers(d))["args"] for name, d in deployments.items()}
    assert commands == {
        "swen-api": ["api"], "swen-engine": ["engine"],
        "swen-simulator": ["simulate"], "swen-dashboard": ["dashboard"],
    }  # fmt: skip


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_probed_bounded_and_locked_down(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    for name, d in by_kind(rendered[overlay], "Deployment").items():
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is False, name
        for c in containers(d):
            assert c["livenessProbe"] and c["readinessProbe"], name
            assert set(c["resources"]) == {"requests", "limits"}, name
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, name
            assert sc["runAsUser"] != 0 and sc["capabilities"]["drop"] == ["ALL"], name
            mounts = {m["mountPath"] for m in c["volumeMounts"]}
            assert {"/var/lib/swen", "/tmp"} <= mounts, f"{name}: writable SWEN_HOME and /tmp"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_http_probes_hit_the_endpoints_the_roles_serve(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    deployments = by_kind(rendered[overlay], "Deployment")
    api = next(containers(deployments["swen-api"]))
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    dashboard = next(containers(deployments["swen-dashboard"]))
    assert dashboard["readinessProbe"]["httpGet"]["path"] == "/_stcore/health"
    for role in ("engine", "simulator"):
        probe = " ".join(next(containers(deployments[f"swen-{role}"]))["livenessProbe"]["exec"]["command"])
        assert f"/var/lib/swen/run/{role}.lock" in probe


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_references_resolve_within_the_render(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    """Every Secret key and ConfigMap a pod names exists (kustomize renames them with a hash)."""
    docs = rendered[overlay]
    secrets = {name: set(s.get("data", {})) for name, s in by_kind(docs, "Secret").items()}
    configmaps = set(by_kind(docs, "ConfigMap"))
    for name, d in by_kind(docs, "Deployment").items():
        for c in containers(d):
            for source in c.get("envFrom", []):
                assert source["configMapRef"]["name"] in configmaps, name
            for env in c.get("env", []):
                ref = env["valueFrom"]["secretKeyRef"]
                assert ref["key"] in secrets.get(ref["name"], set()), f"{name}: {ref}"
    services = by_kind(docs, "Service")
    for rule in next(iter(by_kind(docs, "Ingress").values()))["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"]["name"] in services


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_role_has_a_disruption_budget_and_traffic_is_denied_by_default(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    budgets = {p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
               for p in by_kind(docs, "PodDisruptionBudget").values()}  # fmt: skip
    assert budgets == set(ROLES)
    policies = by_kind(docs, "NetworkPolicy").values()
    deny = [
        p for p in policies if p["spec"]["podSelector"] == {} and not {"ingress", "egress"} & set(p["spec"])
    ]
    assert deny and set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}


def test_monitoring_configmaps_carry_the_repositorys_files(rendered: dict[str, list[dict[str, Any]]]) -> None:
    maps = {name.rsplit("-", 1)[0]: cm for name, cm in by_kind(rendered["production"], "ConfigMap").items()}
    rules = maps["swen-prometheus-rules"]["data"]["swen.rules.yml"]
    assert rules == (ROOT / "deploy" / "prometheus" / "rules" / "swen.rules.yml").read_text()
    alertmanager = yaml.safe_load(maps["swen-alertmanager"]["data"]["alertmanager.yml"])
    local = yaml.safe_load((ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text())
    assert alertmanager["route"] == local["route"]
    hooks = [h["url"] for r in alertmanager["receivers"] for h in r.get("webhook_configs", [])]
    assert hooks and all(url == "http://swen-api.swen.svc:8000/alerts" for url in hooks)
    dashboards = maps["swen-grafana-dashboards"]
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert {json.loads(text)["uid"] for text in dashboards["data"].values()} == {
        "swen-fleet",
        "swen-platform",
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_manifests_validate_strictly(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    for doc in rendered[overlay]:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_strict_validation_rejects_an_unknown_field(rendered: dict[str, list[dict[str, Any]]]) -> None:
    deployment = json.loads(json.dumps(by_kind(rendered["dev"], "Deployment")["swen-api"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def run_checkov(args: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [tool("checkov"), *args, "--output", "json", "--quiet", "--compact", "--skip-download"],
        capture_output=True, text=True, check=False, timeout=600,
        env={"PATH": os.defpath, "BC_SKIP_MAPPING": "TRUE", "HOME": tempfile.gettempdir()},
    )  # fmt: skip
    assert out.stdout.strip(), out.stderr[-2000:]
    report = json.loads(out.stdout)
    return report if isinstance(report, dict) else {"results": {}, "summary": report[0]["summary"]}


def failures(report: dict[str, Any]) -> list[str]:
    return [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for c in report["results"].get("failed_checks", [])
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_checkov_passes_the_rendered_manifests(
    rendered: dict[str, list[dict[str, Any]]], overlay: str, tmp_path: Path
) -> None:
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(yaml.safe_dump_all(rendered[overlay], sort_keys=False))
    report = run_checkov(["--framework", "kubernetes", "-f", str(manifest)])
    assert failures(report) == []
    assert report["summary"]["passed"] > 100
    for skipped in report["results"].get("skipped_checks", []):
        assert len(skipped["suppress_comment"]) > 20, f"{skipped['check_id']} skipped without a reason"


def test_checkov_fails_a_privileged_pod(rendered: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    """The gate can fail: the same render with a privileged container does."""
    docs = json.loads(json.dumps(rendered["dev"]))
    api = by_kind(docs, "Deployment")["swen-api"]
    api["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    manifest = tmp_path / "privileged.yaml"
    manifest.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    assert any(
        f.startswith("CKV_K8S_16 ")
        for f in failures(run_checkov(["--framework", "kubernetes", "-f", str(manifest)]))
    )


def test_checkov_passes_the_terraform_modules() -> None:
    report = run_checkov(["--framework", "terraform", "-d", str(ROOT / "infra")])
    assert failures(report) == []
    assert report["summary"]["passed"] >= 130
    for skipped in report["results"].get("skipped_checks", []):
        assert len(skipped["suppress_comment"]) > 20, f"{skipped['check_id']} skipped without a reason"


def test_every_checkov_skip_in_the_sources_says_why() -> None:
    pattern = re.compile(r"checkov(?:\.io/skip\d+:\s*|:skip=)(CKV\w+)[=:]?(.*)")
    skips = []
    for path in [*(ROOT / "deploy").rglob("*.yaml"), *(ROOT / "infra").rglob("*.tf")]:
        for line in path.read_text().splitlines():
            if match := pattern.search(line):
                skips.append((path.name, match.group(1), match.group(2).strip()))
    assert skips, "expected the documented skips"
    assert all(len(reason) > 20 for _, _, reason in skips), skips


@pytest.mark.parametrize("role", ["engine", "simulator"])
def test_lock_probe_passes_only_while_the_role_lock_is_held(
    rendered: dict[str, list[dict[str, Any]]], role: str, tmp_path: Path
) -> None:
    """The engine's and simulator's probe, run for real against swen.instance's role lock."""
    container = next(containers(by_kind(rendered["production"], "Deployment")[f"swen-{role}"]))
    argv = [
        arg.replace("/var/lib/swen", str(tmp_path)) for arg in container["livenessProbe"]["exec"]["command"]
    ]
    argv[0] = sys.executable

    def probe() -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)

    assert probe().returncode != 0  # nothing runs yet (no run/ directory)
    with claimed(tmp_path, [role], command=f"swen {role}"):
        held = probe()
        assert held.returncode == 0, held.stderr
    free = probe()
    assert free.returncode == 1 and f"the {role} lock is free" in free.stderr
    with claimed(tmp_path, [role], command=f"swen {role}"):
        pass  # the probe never keeps the lock: the role can still be claimed after it ran


def test_dev_database_url_names_the_dev_postgres(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["dev"]
    secret = next(iter(by_kind(docs, "Secret").values()))["data"]
    url = base64.b64decode(secret["database-url"]).decode()
    password = base64.b64decode(secret["postgres-password"]).decode()
    assert url == f"postgresql+psycopg://swen:{password}@postgres.swen.svc:5432/swen"
    assert "postgres" in by_kind(docs, "Service") and "postgres" in by_kind(docs, "StatefulSet")
    assert "postgres" not in by_kind(rendered["production"], "StatefulSet")  # a managed database there


def test_overlays_choose_their_merge_request_host(rendered: dict[str, list[dict[str, Any]]]) -> None:
    def config(overlay: str) -> dict[str, str]:
        return next(cm["data"] for name, cm in by_kind(rendered[overlay], "ConfigMap").items()
                    if name.startswith("swen-config-"))  # fmt: skip

    assert config("dev")["SWEN_MR_HOST"] == "local"
    production = config("production")
    assert production["SWEN_MR_HOST"] == "gitlab" and production["SWEN_GITLAB_URL"].startswith("https://")
