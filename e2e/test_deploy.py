"""What ships for deployment: the container image (deploy/container/), built here and
run from its own filesystem by deploy/container/test-image.sh (images cannot be pulled
and containers cannot be run on this machine kind; the script says how it works around
both); the Kubernetes manifests per region (deploy/kubernetes/), rendered, validated
and scanned by deploy/kubernetes/test-manifests.sh; and `serve --check`."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from support import REPO_ROOT, child_env, gateway_bin


def _container_tools() -> None:
    missing = [t for t in ("podman", "buildah", "chroot", "dpkg-deb", "apt-get") if shutil.which(t) is None]
    why = None
    if os.geteuid() != 0:
        why = "the image test needs root (chroot, image storage)"
    elif missing:
        why = f"{', '.join(missing)} not installed (scripts/test installs podman and buildah)"
    if why:
        if os.environ.get("SWITCHYARD_REQUIRE_CONTAINER") == "1":
            pytest.fail(why)
        pytest.skip(why)


def test_the_container_image_builds_and_serves_from_its_own_filesystem():
    _container_tools()
    script = REPO_ROOT / "deploy" / "container" / "test-image.sh"
    done = subprocess.run([str(script), "--binary", str(gateway_bin())], capture_output=True,
                          text=True, timeout=600)
    said = [line for line in done.stderr.splitlines() if line.startswith("test-image:")]
    assert done.returncode == 0, "\n".join(said) + "\n" + done.stderr[-3000:]
    for check in ("metadata: user 10001, /data volume, HEALTHCHECK, entrypoint: ok",
                  "--version: switchyard ", "a chat completion answered",
                  "wrote only under /data: ok", "all checks passed"):
        assert any(check in line for line in said), (check, said)


def test_each_regions_kubernetes_manifests_render_validate_and_pass_the_security_scan():
    """deploy/kubernetes/test-manifests.sh: every regions/<name>/ overlay renders with
    kustomize, validates against Kubernetes' schemas, has no checkov finding beyond the two
    accepted ones, and its switchyard.toml loads."""
    if shutil.which("kubectl") is None and os.geteuid() != 0:
        pytest.skip("kubectl is missing and installing it needs root")
    script = REPO_ROOT / "deploy" / "kubernetes" / "test-manifests.sh"
    done = subprocess.run([str(script), "--binary", str(gateway_bin())], capture_output=True,
                          text=True, timeout=900)
    said = [line for line in done.stderr.splitlines() if line.startswith("test-manifests:")]
    assert done.returncode == 0, "\n".join(said) + "\n" + done.stderr[-3000:]
    regions = sorted(p.name for p in (REPO_ROOT / "deploy" / "kubernetes" / "regions").iterdir())
    assert regions == ["ap-southeast", "eu-west", "us-east"]
    for region in regions:
        assert any(line.startswith(f"test-manifests: {region}: rendered") and "config OK" in line
                   for line in said), (region, said)
        assert any(f"{region}: checkov" in line and "accepted (CKV_K8S_35, CKV_K8S_43)" in line
                   for line in said), (region, said)


def test_serve_check_names_the_line_of_a_bad_config_and_passes_a_good_one(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[server]\nlisten = "0.0.0.0:8080"\ndrain_accept_secs = 60\n')
    done = subprocess.run([str(gateway_bin()), "serve", "--check", "--config", str(bad)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "line 3" in done.stderr and "drain_accept_secs (60)" in done.stderr, done.stderr
    good = tmp_path / "good.toml"
    good.write_text('[server]\nregion = "eu"\n[usage]\nstore = "postgres"\nurl = "postgres://nowhere.invalid/x"\n')
    done = subprocess.run([str(gateway_bin()), "serve", "--check", "--config", str(good)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "config OK" in done.stdout, done.stderr


def test_database_urls_can_come_from_the_environment_so_the_config_holds_no_password(tmp_path):
    cfg = tmp_path / "secretless.toml"
    cfg.write_text('[keys]\nenabled = true\n[limits]\nbackend = "redis"\nredis_url_env = "SY_E2E_REDIS_URL"\n'
                   '[usage]\nstore = "postgres"\nurl_env = "SY_E2E_PG_URL"\n')
    argv = [str(gateway_bin()), "serve", "--check", "--config", str(cfg)]
    pg = {"SY_E2E_PG_URL": "postgres://postgres:s3cret@127.0.0.1:5432/test"}
    redis = {"SY_E2E_REDIS_URL": "redis://:s3cret@127.0.0.1:6379"}
    for env, line, var in (({}, 8, "SY_E2E_PG_URL"), (pg, 5, "SY_E2E_REDIS_URL")):
        unset = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=child_env() | env)
        assert unset.returncode == 1 and f"line {line}:" in unset.stderr, unset.stderr
        assert f"{var}, which is not set" in unset.stderr
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=child_env() | pg | redis)
    assert done.returncode == 0 and "config OK" in done.stdout, done.stderr
    assert "s3cret" not in done.stdout + done.stderr
