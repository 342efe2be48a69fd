"""Fixtures: a real fieldsync-server on a free loopback port with the demo branch, and fresh
tablet stores. The server binary comes from FIELDSYNC_SERVER (scripts/test.sh builds it) or the
workspace's debug build."""

import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import threading
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "mobile-bindings" / "python"))

import fieldsync  # noqa: E402

DEMO_CUSTOMERS = 12


class Server:
    def __init__(self, url, process, data):
        self.url = url
        self.process = process
        self.data = data

    def post_json(self, path, token, device_id, body):
        """A JSON call as a signed-in device (supervisors' decisions)."""
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={
                "authorization": "Bearer " + token,
                "x-device-id": device_id,
                "content-type": "application/json",
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()

    def login(self, username, password, device_id):
        """Signs in over the API directly (as a supervisor's PC would); returns the token."""
        body = {"username": username, "password": password, "device_id": device_id, "actor": "ab" * 16}
        request = urllib.request.Request(
            self.url + "/api/v1/login",
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["token"]

    def admin(self, *args):
        """Runs `fieldsync-server admin` on the server's data folder."""
        subprocess.run(
            [server_binary(), "admin", "--data", self.data, *args], check=True, capture_output=True, timeout=60
        )


def server_binary():
    binary = os.environ.get("FIELDSYNC_SERVER") or str(ROOT / "target" / "debug" / "fieldsync-server")
    if not os.path.exists(binary):
        pytest.exit(f"no server binary at {binary}: run `cargo build -p fieldsync-server` or set FIELDSYNC_SERVER")
    return binary


@pytest.fixture(scope="session")
def server():
    data = tempfile.mkdtemp(prefix="fieldsync-server-")
    process = subprocess.Popen(
        [
            server_binary(),
            "serve",
            "--data",
            data,
            "--listen",
            "127.0.0.1:0",
            "--demo",
            "--demo-customers",
            str(DEMO_CUSTOMERS),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = None
    for line in process.stdout:
        found = re.search(r"listening on (http://\S+)", line)
        if found:
            url = found.group(1)
            break
    if url is None:
        process.kill()
        pytest.exit("the server did not start")
    # Keep reading its output so it never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
    yield Server(url, process, data)
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def store_path(tmp_path):
    return str(tmp_path / "tablet.db")


KEY = bytes(range(32))
