"""Run kefu's ASGI app on a real uvicorn server (in a thread) or as a real process."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import uvicorn

from kefu.platform.context import Platform
from kefu.platform.web.asgi import create_app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ThreadedServer:
    """uvicorn serving kefu on 127.0.0.1 in a background thread."""

    def __init__(self, platform: Platform, *, host_runtime: bool = False) -> None:
        self.platform = platform
        self.port = free_port()
        app = create_app(platform, host_runtime=host_runtime, run_jobs=False)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, lifespan="on",
                                ws="websockets-sansio", log_config=None, access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


def kefu_command(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kefu.platform.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def start_kefu(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "kefu.platform.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_http(url: str, timeout: float = 30) -> tuple[int, Any]:
    """Poll ``url`` until it answers (any status); returns (status, body)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError as exc:
            last = exc
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer: {last}")


def stop(process: subprocess.Popen[str], timeout: float = 20) -> str:
    process.terminate()
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output
