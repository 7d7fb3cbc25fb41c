"""The bundle verifier runs where a third party runs it: a fresh virtualenv holding only the
packages the docs name, and a copy of the ``exchange`` folder — no Flask, no database."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from exchange.organisations.models import Role
from tests.factories import add_member

ROOT = Path(__file__).resolve().parents[2]


def stated_packages() -> list[str]:
    """The packages the docs tell a third party to install for the verifier."""
    page = (ROOT / "docs" / "topics" / "mutual-recognition.md").read_text(encoding="utf-8")
    found = re.search(r"verifier/bin/pip install ([^\n`#]+)", page)
    assert found, "the docs name no packages for the verifier"
    return found.group(1).split()


def test_the_verifier_runs_in_a_venv_with_only_the_stated_packages(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    owner = add_member(app, Role.SUPPLIER)
    envelope = owner.envelope()
    assert client.post("/api/v1/footprints", json=envelope, headers=owner.headers).status_code
    record_id = envelope["footprint"]["id"]
    bundle = client.get(
        f"/api/v1/footprints/{record_id}/verification", headers=owner.headers
    ).get_json()
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    (tmp_path / "jwks.json").write_text(client.get("/.well-known/jwks.json").get_data(as_text=True))
    copy = tmp_path / "copy"
    shutil.copytree(
        ROOT / "exchange", copy / "exchange", ignore=shutil.ignore_patterns("__pycache__")
    )

    venv = tmp_path / "verifier"
    python = venv / "bin" / "python"
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }
    # uv (a dev dependency) makes the virtualenv and installs into it as the docs' pip does,
    # in a second instead of half a minute of CPU.
    for step in (
        ["venv", "--python", sys.executable, str(venv)],
        ["pip", "install", "--python", str(python), *stated_packages()],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "uv", *step, "--quiet"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    environment["PYTHONPATH"] = str(copy)
    # Nothing of the server's is there to lean on.
    bare = subprocess.run(
        [str(python), "-c", "import flask"], env=environment, capture_output=True, timeout=60
    )
    assert bare.returncode != 0

    def verify(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(python),
                "-m",
                "exchange.mutual_recognition.verify",
                str(path),
                "--jwks",
                str(tmp_path / "jwks.json"),
                "--origin",
                app.config["EXCHANGE_ORIGIN"],
            ],
            env=environment,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    good = verify(tmp_path / "bundle.json")
    assert good.returncode == 0, good.stdout + good.stderr
    verdict = json.loads(good.stdout)
    assert verdict["ok"] is True and verdict["record"] == record_id
    bundle["bundle"]["envelope"]["footprint"]["pcf"]["pcfExcludingBiogenicUptake"] = "0.001"
    (tmp_path / "altered.json").write_text(json.dumps(bundle))
    altered = verify(tmp_path / "altered.json")
    assert altered.returncode == 1 and json.loads(altered.stdout)["ok"] is False
    (tmp_path / "junk.json").write_text("[1, 2]")
    junk = verify(tmp_path / "junk.json")
    assert junk.returncode == 1 and len(junk.stderr.strip().splitlines()) == 1, junk.stderr
    assert "Traceback" not in junk.stderr
