"""The one image: a hadolint-clean multi-stage Dockerfile, built for real and answering /healthz.

The build (scripts/image.sh: a debootstrap base, buildah, pip from PyPI) takes minutes, so it runs only
with IMAGE_TEST=1: `make image-test`, a separate step of .ci/run after `make test`. It needs root,
buildah and debootstrap (Debian packages).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.deploy_tools import ROOT, tool

DOCKERFILE = ROOT / "Dockerfile"
IMAGE = "localhost/swen:test"


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("hadolint"), str(path)], capture_output=True, text=True, check=False)


def test_dockerfile_is_hadolint_clean() -> None:
    out = hadolint(DOCKERFILE)
    assert out.returncode == 0, out.stdout + out.stderr


def test_hadolint_fails_a_sloppy_dockerfile(tmp_path: Path) -> None:
    sloppy = tmp_path / "Dockerfile"
    sloppy.write_text("FROM debian\nRUN apt-get update && apt-get install -y git\nRUN pip install swen\n")
    out = hadolint(sloppy)
    assert out.returncode != 0
    assert "DL3006" in out.stdout  # untagged base image


def test_dockerfile_takes_its_base_as_an_arg_and_runs_as_a_user() -> None:
    text = DOCKERFILE.read_text()
    base = re.search(r"^ARG BASE=(\S+)$", text, re.MULTILINE)
    assert base and "bookworm" in base.group(1)
    stages = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert stages.count("${BASE}") == 2, "build and runtime stages both start from BASE"
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert re.search(r'^ENTRYPOINT \["swen"\]', text, re.MULTILINE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def image() -> str:
    if not os.environ.get("IMAGE_TEST"):
        pytest.skip("the image build takes minutes: run it with IMAGE_TEST=1 (make image-test)")
    for name in ("buildah", "debootstrap"):
        if shutil.which(name) is None:
            pytest.fail(f"IMAGE_TEST=1 needs {name}: apt-get install -y buildah debootstrap")
    env = {**os.environ, "SWEN_IMAGE": IMAGE}
    out = subprocess.run([str(ROOT / "scripts" / "image.sh"), "build"], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=False, timeout=3600)  # fmt: skip
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    return IMAGE


@pytest.fixture()
def container(image: str) -> Iterator[str]:
    ctr = subprocess.run(
        ["buildah", "from", image], capture_output=True, text=True, check=True
    ).stdout.strip()
    yield ctr
    removed = subprocess.run(["buildah", "rm", ctr], capture_output=True, text=True, check=False)
    assert removed.returncode == 0, removed.stderr


def in_image(ctr: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["buildah", "run", "--isolation", "chroot", ctr, "--", *argv],
                          capture_output=True, text=True, check=False, timeout=120)  # fmt: skip


def test_image_runs_as_a_non_root_user_with_every_role(container: str) -> None:
    assert in_image(container, "id", "-u").stdout.strip() == "10001"
    for role in ("api", "engine", "simulate", "dashboard"):
        out = in_image(container, "swen", role, "--help")
        assert out.returncode == 0, out.stderr
    assert in_image(container, "terraform", "version").returncode == 0
    assert in_image(container, "git", "--version").returncode == 0


def test_image_serves_healthz(container: str) -> None:
    port = free_port()
    server = subprocess.Popen(
        ["buildah", "run", "--isolation", "chroot", container, "--",
         "swen", "api", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        response = None
        for _ in range(240):
            if server.poll() is not None:
                break
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        assert response is not None, server.communicate(timeout=10)[0][-3000:]
        assert response.status_code == 200
        assert response.json()["status"] == "ok"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
