"""Shared fixtures for the Python-driven end-to-end suites (browser, OpenAPI).

`region` starts the five-office demo region from Config/demo/ with real
`kotosyncd` processes on free loopback ports, each with its own temporary data
directory, waits until all five replicas converge, and stops them at the end.
The daemon binary comes from `KOTOSYNCD` or from the debug build
(`swift build --show-bin-path`).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NODES = ["jakobstad", "nykarleby", "kronoby", "pedersore", "larsmo"]
MUNICIPALITY = {"jakobstad": 598, "nykarleby": 893, "kronoby": 288, "pedersore": 599, "larsmo": 440}


def daemon_binary():
    explicit = os.environ.get("KOTOSYNCD")
    if explicit:
        return explicit
    bin_dir = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
    path = os.path.join(bin_dir, "kotosyncd")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"kotosyncd is not built at {path}; run swift build first")
    return path


def free_ports(count):
    sockets, ports = [], []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))


class Region:
    """Five running demo nodes: their URLs, the demo tokens, and a small HTTP helper."""

    def __init__(self, directory, ports, credentials):
        self.directory = directory
        self.ports = dict(zip(NODES, ports))
        self.credentials = credentials
        self.processes = {}

    def url(self, node="jakobstad"):
        return f"http://127.0.0.1:{self.ports[node]}"

    def token(self, role, node="jakobstad"):
        """role: office (of `node`'s municipality), coordinator, admin, peer (of `node`), or scrape."""
        if role == "office":
            return self.credentials["offices"][str(MUNICIPALITY[node])]
        if role == "peer":
            return self.credentials["peers"][node]
        return self.credentials[role]

    def request(self, method, path, node="jakobstad", role="coordinator", body=None, headers=None):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        request = urllib.request.Request(self.url(node) + path, data=data, method=method)
        if role is not None:
            request.add_header("Authorization", "Bearer " + self.token(role, node))
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return Response(answer.status, dict(answer.headers), answer.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, dict(error.headers), error.read())

    def status(self, node):
        return self.request("GET", "/v1/status", node=node, role="admin").json()

    def wait_converged(self, timeout=300):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                vectors = [json.dumps(self.status(n)["versionVector"], sort_keys=True) for n in NODES]
                if len(set(vectors)) == 1 and len(json.loads(vectors[0])) == len(NODES):
                    return
            except (OSError, ValueError, KeyError):
                pass
            self.check_alive()
            time.sleep(0.5)
        raise AssertionError("the demo region did not converge in time; logs in " + self.directory)

    def check_alive(self):
        for node, process in self.processes.items():
            if process.poll() is not None:
                raise AssertionError(f"{node} exited with {process.returncode}; log {self.log_path(node)}")

    def log_path(self, node):
        return os.path.join(self.directory, "logs", f"{node}.log")

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def start_region():
    binary = daemon_binary()
    directory = tempfile.mkdtemp(prefix="kotosync-e2e-")
    config_dir = os.path.join(directory, "config")
    shutil.copytree(os.path.join(ROOT, "Config", "demo"), config_dir)
    os.chmod(directory, 0o700)
    for sub in ("keys", "secrets"):
        for name in os.listdir(os.path.join(config_dir, sub)):
            os.chmod(os.path.join(config_dir, sub, name), 0o600)
    os.makedirs(os.path.join(directory, "logs"))
    ports = free_ports(len(NODES))
    port_of = dict(zip(NODES, ports))
    with open(os.path.join(config_dir, "credentials.json")) as f:
        credentials = json.load(f)
    region = Region(directory, ports, credentials)
    for node in NODES:
        path = os.path.join(config_dir, f"{node}.json")
        with open(path) as f:
            config = json.load(f)
        config["listen"]["port"] = port_of[node]
        config["dataDirectory"] = os.path.join(directory, "data", node)
        config["sync"]["intervalSeconds"] = 2
        for peer in config["peers"]:
            peer["url"] = f"http://127.0.0.1:{port_of[peer['node']]}"
        with open(path, "w") as f:
            json.dump(config, f, indent=2)
    for node in NODES:
        log = open(region.log_path(node), "wb")
        region.processes[node] = subprocess.Popen(
            [binary, "--config", os.path.join(config_dir, f"{node}.json")],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        region.wait_converged()
    except BaseException:
        region.stop()
        raise
    return region


@pytest.fixture(scope="session")
def region():
    region = start_region()
    yield region
    region.stop()
    if os.environ.get("KEEP_E2E") != "1":
        shutil.rmtree(region.directory, ignore_errors=True)
