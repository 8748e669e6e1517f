"""`creditfactory up --demo`: migrates, applies the demo banks, serves them, and stops cleanly on Ctrl-C."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url, host=None):
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_up_demo_serves_the_demo_banks_and_stops_on_ctrl_c(cf_settings, tmp_path):
    port = _free_port()
    env = {**os.environ, "CREDITFACTORY_DATABASE_URL": cf_settings.database_url,
           "CREDITFACTORY_DATA_DIR": str(tmp_path), "CREDITFACTORY_BROKER_URL": ""}
    process = subprocess.Popen([sys.executable, "-m", "creditfactory.cli", "up", "--demo", "--port", str(port)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        # The demo data are made before serving (every state of an application, two contracts rendered to PDF and
        # signed, a disbursement settled, a synthetic loan book and its snapshots, per bank): allow minutes on a
        # shared machine, not seconds.
        for _ in range(1200):
            try:
                if _get(f"{base}/readyz")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if process.poll() is not None:
                pytest.fail(f"up exited early:\n{process.stdout.read()}")
            time.sleep(0.25)
        else:
            pytest.fail("the platform did not become ready")
        status, profile = _get(f"{base}/t/puer/api/v1/tenant")
        assert status == 200 and profile["name_zh"] == "云南普洱茶乡村镇银行"
        status, profile = _get(f"{base}/api/v1/tenant", host=f"honghu.localhost:{port}")
        assert status == 200 and profile["slug"] == "honghu"
        assert _get(f"{base}/t/nosuchbank/api/v1/tenant")[0] == 404
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "created puer" in output and f"http://127.0.0.1:{port}/t/shangshui/" in output
    assert "stopped" in output
    # Demo staff, only because --demo was given, with the documented password printed.
    assert "demo staff:" in output and "Demo logins (password 'credit-factory-demo'" in output
