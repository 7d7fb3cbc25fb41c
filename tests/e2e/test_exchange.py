"""End to end over a real gunicorn server: an independent signer, the CLI, and the demo."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nacl.signing
import pytest
import requests
import rfc8785
from flask import Flask

from exchange.db import make_engine, make_session_factory
from exchange.demo import DRINK_GTIN
from exchange.organisations.models import Role
from exchange.portal import services as portal
from tests.e2e.conftest import free_port, running_server, server_environment
from tests.factories import add_member, pact_example
from tests.labels.test_qr import decoded

pytestmark = pytest.mark.e2e


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_an_independent_signer_following_the_design_byte_for_byte(
    app: Flask, live_server: str
) -> None:
    """Signs with PyNaCl and rfc8785 directly, as DESIGN.md §2 describes, not with our code."""
    member = add_member(app, Role.SUPPLIER, register_key=False)
    headers = {"Authorization": f"Bearer {member.token}"}
    key = nacl.signing.SigningKey.generate()
    x = b64url(bytes(key.verify_key))
    thumbprint = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"))
    kid = b64url(hashlib.sha256(thumbprint.encode()).digest())
    registered = requests.post(
        f"{live_server}/api/v1/keys",
        json={"jwk": {"kty": "OKP", "crv": "Ed25519", "x": x}},
        headers=headers,
        timeout=30,
    )
    assert registered.status_code == 201 and registered.json()["kid"] == kid

    footprint = pact_example("example-2.json")
    footprint["companyIds"] = member.company_ids
    del footprint["precedingPfIds"]  # they name records of the example's company
    message = b"footprint-exchange:footprint:v1\n" + rfc8785.dumps(footprint)
    envelope = {
        "footprint": footprint,
        "signature": {"alg": "Ed25519", "kid": kid, "value": b64url(key.sign(message).signature)},
    }
    pushed = requests.post(
        f"{live_server}/api/v1/footprints", json=envelope, headers=headers, timeout=30
    )
    assert pushed.status_code == 201, pushed.text

    served = requests.get(
        f"{live_server}/api/v1/footprints/{footprint['id']}", headers=headers, timeout=30
    )
    document = served.json()
    served_message = b"footprint-exchange:footprint:v1\n" + rfc8785.dumps(document["footprint"])
    assert served_message == message
    key.verify_key.verify(
        served_message, base64.urlsafe_b64decode(document["signature"]["value"] + "==")
    )

    flipped = json.loads(json.dumps(envelope))
    flipped["footprint"]["pcf"]["fossilGhgEmissions"] = (
        flipped["footprint"]["pcf"]["fossilGhgEmissions"] + "1"
    )
    refused = requests.post(
        f"{live_server}/api/v1/footprints", json=flipped, headers=headers, timeout=30
    )
    assert refused.status_code == 400 and refused.json()["code"] == "SignatureInvalid"


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exchange.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_supplier_uses_the_cli(app: Flask, live_server: str, tmp_path: Path) -> None:
    member = add_member(app, Role.SUPPLIER, register_key=False)
    env = {
        **os.environ,
        "EXCHANGE_URL": live_server,
        "EXCHANGE_CLIENT_ID": member.client_id,
        "EXCHANGE_CLIENT_SECRET": member.client_secret,
        "EXCHANGE_INSTANCE_PATH": str(tmp_path / "cli-instance"),
    }
    generated = run_cli("keys", "generate", "--out", "key.jwk.json", env=env, cwd=tmp_path)
    assert generated.returncode == 0, generated.stderr
    assert (tmp_path / "key.jwk.json").stat().st_mode & 0o777 == 0o600
    assert (
        run_cli("keys", "register", "--key", "key.jwk.json", env=env, cwd=tmp_path).returncode == 0
    )

    files = []
    for number in range(25):
        path = tmp_path / f"footprint-{number}.json"
        path.write_text(json.dumps(member.footprint()))
        files.append(path.name)
    signed = run_cli(
        "sign", *files, "--key", "key.jwk.json", "--out-dir", "signed", env=env, cwd=tmp_path
    )
    assert signed.returncode == 0, signed.stderr
    # One of them is tampered with after signing.
    tampered = tmp_path / "signed" / "footprint-3.signed.json"
    document = json.loads(tampered.read_text())
    document["footprint"]["productDescription"] += "!"
    tampered.write_text(json.dumps(document))

    pushed = run_cli(
        "push", *sorted(str(p) for p in (tmp_path / "signed").iterdir()), env=env, cwd=tmp_path
    )
    assert pushed.returncode == 1
    assert "24 accepted, 1 rejected" in pushed.stdout
    assert "footprint-3.signed.json" in pushed.stderr

    listed = requests.get(
        f"{live_server}/api/v1/footprints?limit=100", headers=member.headers, timeout=30
    )
    assert len(listed.json()["data"]) == 24


def uv(*args: str, timeout: int = 300) -> None:
    """Run uv (a dev dependency) with this interpreter: it builds, makes virtualenvs and
    installs in a second or two where pip took half a minute of CPU."""
    subprocess.run(
        [sys.executable, "-m", "uv", *args, "--quiet"],
        check=True,
        capture_output=True,
        timeout=timeout,
    )


def installed_from_the_wheel(tmp_path: Path) -> Path:
    """The ``exchange`` script of a fresh virtualenv holding only the built wheel and its
    dependencies: what a wheel-only deployment gets (templates, static files, migrations,
    starter data included or not)."""
    root = Path(__file__).resolve().parents[2]
    dist = tmp_path / "dist"
    uv("build", "--wheel", "--python", sys.executable, "--out-dir", str(dist), str(root))
    (wheel,) = dist.glob("footprint_exchange-*.whl")
    venv = tmp_path / "wheel-venv"
    uv("venv", "--python", sys.executable, str(venv))
    uv("pip", "install", "--python", str(venv / "bin" / "python"), str(wheel), timeout=600)
    return venv / "bin" / "exchange"


def test_the_demo_tells_its_story(tmp_path: Path) -> None:
    env = server_environment(tmp_path / "demo-instance", None)
    # The first run is the wheel's, outside the checkout; the second the development install's.
    exchange = installed_from_the_wheel(tmp_path)
    located = subprocess.run(
        [str(exchange.with_name("python")), "-c", "import exchange; print(exchange.__file__)"],
        cwd=tmp_path,
        env={key: value for key, value in env.items() if key != "PYTHONPATH"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert located.stdout.startswith(str(tmp_path / "wheel-venv")), located.stdout
    result = subprocess.run(
        [str(exchange), "demo", "--once", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "a tampered envelope is refused: HTTP 400 SignatureInvalid" in result.stdout
    assert "the first record is now Deprecated" in result.stdout
    assert "Deprecated" in result.stdout and "curl" in result.stdout
    assert "the request is now fulfilled" in result.stdout
    assert "the exchange verifies it: valid" in result.stdout
    assert "a partner programme verifies the coconut water offline" in result.stdout
    # The chain-owner's part: a bill of materials over signed inputs, computed, derived with
    # confidential provenance, certified; a partner's record recognised; a disclosure duty.
    assert "the juice brand models its coconut water" in result.stdout
    assert "the exchange computes it from the signed inputs" in result.stdout
    assert "the exchange attests it verified every input" in result.stdout
    assert "the bottle maker, reading the published footprint, may open 2 line(s)" in (
        result.stdout
    )
    assert "a record handed over by the Thai programme is recognised" in result.stdout
    assert "the juice brand's obligation for urn:gtin:06901234500035: met" in result.stdout
    assert (tmp_path / "demo-instance" / "demo" / "label.png").read_bytes()[:4] == b"\x89PNG"
    _the_printed_commands_work_as_printed(result.stdout, env, tmp_path)
    # Running it again reuses the companies instead of failing on their codes; this run
    # serves on, and the label it printed opens the demo's own verification page.
    again = _serving_demo(env, tmp_path / "again", free_port())
    assert "the exchange verifies it: valid" in again
    # Each company's portal user signs in with the password the run printed and kept.
    credentials = json.loads((tmp_path / "demo-instance" / "demo" / "credentials.json").read_text())
    cooperative = credentials["cooperative"]["portal"]
    assert f"{cooperative['email']} / {cooperative['password']}" in again
    engine = make_engine(f"sqlite:///{tmp_path / 'demo-instance' / 'exchange.db'}")
    try:
        with make_session_factory(engine)() as session:
            for company in credentials.values():
                user = portal.sign_in(session, **company["portal"])
                assert user.organisation_id == company["organisation_id"]
    finally:
        engine.dispose()


def _serving_demo(env: dict[str, str], logs: Path, port: int) -> str:
    """``exchange demo`` until it serves; its label's QR read and opened meanwhile; then
    Ctrl-C. What it printed."""
    logs.mkdir()
    with (logs / "stdout").open("wb") as stdout, (logs / "stderr").open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "exchange.cli", "demo", "--port", str(port)],
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=stdout,
            stderr=stderr,
        )
    try:
        output = _printed_until(process, logs, "Serving until you press Ctrl-C")
        base_url = f"http://127.0.0.1:{port}"
        instance = Path(env["EXCHANGE_INSTANCE_PATH"])
        [url] = decoded((instance / "demo" / "label.png").read_bytes())
        # The demo's own server, the label's path and signed query; printed as it is encoded.
        assert url.startswith(f"{base_url}/01/{DRINK_GTIN}/10/L2026A?L="), url
        assert f"scanning the demo's label opens {url}" in output
        assert f"What to open\n  {url}\n" in output
        page = requests.get(url, timeout=30)
        assert page.status_code == 200, page.status_code
        assert "/static/labels/verify.js" in page.text
        # What the page asks the exchange online (verify.js): the label as it is printed at
        # the trust list's origin (canonical, upper case), which is the one issued.
        trust = requests.get(f"{base_url}/.well-known/trust-list.json", timeout=30).json()
        label = "HTTPS://" + trust["trustList"]["origin"].upper() + url.removeprefix(base_url)
        verdict = requests.post(
            f"{base_url}/api/v1/labels/verify", json={"text": label}, timeout=30
        ).json()
        assert verdict["verdict"] == "valid", verdict
    finally:
        # A kill stops the demo as Ctrl-C does (the test's processes may ignore SIGINT, as
        # anything started in the background does); the demo stops its server as it ends.
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(
                "the demo did not stop within 120 s of a kill: " + (logs / "stderr").read_text()
            ) from None
    assert process.returncode == 0, (logs / "stderr").read_text()
    return (logs / "stdout").read_text()


def _printed_until(process: subprocess.Popen[bytes], logs: Path, marker: str) -> str:
    """What the process printed once ``marker`` is among it (it fails if the process ends
    first, or after 300 s)."""
    deadline = time.monotonic() + 300
    while True:
        output = (logs / "stdout").read_text()
        if marker in output:
            return output
        assert process.poll() is None, output + (logs / "stderr").read_text()
        assert time.monotonic() < deadline, output
        time.sleep(0.2)  # polling its output, not waiting for a guessed time


def _the_printed_commands_work_as_printed(output: str, env: dict[str, str], tmp_path: Path) -> None:
    """A newcomer pastes the demo's "Commands to try" into a shell, as they are printed."""
    tour = output[output.index("Commands to try") :].splitlines()[1:]
    commands = [line.strip() for line in tour if line.startswith("  ") and "curl" not in line]
    commands = [line for line in commands if line and not line.startswith(("TOKEN", "-d", "|"))]
    assert any(" keys generate " in line for line in commands), commands
    # The chain-owner's commands, as printed (each names the brand's credentials).
    section = output[output.index("The chain-owner's product") : output.index("Commands to try")]
    brand = [line.strip() for line in section.splitlines() if line.startswith("  EXCHANGE_URL=")]
    assert len(brand) == 2 and " products explain " in brand[0], section
    commands += brand
    script = "set -euo pipefail\n" + "\n".join(commands) + "\n"
    # The server of the demo is gone (--once): serve the same instance again to push to.
    instance = tmp_path / "demo-instance"
    with running_server(
        f"sqlite:///{instance / 'exchange.db'}", instance, tmp_path / "again.log"
    ) as base_url:
        script = script.replace(_printed_url(output), base_url)
        ran = subprocess.run(
            ["bash", "-c", script],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,  # six CLI processes; a loaded machine takes a while to start each
            check=False,
        )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 accepted, 0 rejected" in ran.stdout, ran.stdout + ran.stderr
    assert "coconut-water-330: " in ran.stdout and "attestation: valid" in ran.stdout, ran.stdout
    # The private key stayed in the demo's own folder, not where the newcomer stood.
    assert not list(tmp_path.glob("*.jwk.json"))
    assert (tmp_path / "demo-instance" / "demo" / "my-key.jwk.json").exists()


def _printed_url(output: str) -> str:
    return output.split("export EXCHANGE_URL=", 1)[1].split()[0]
