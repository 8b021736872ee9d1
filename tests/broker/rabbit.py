"""A private RabbitMQ node for broker tests, and a small blocking MQTT client.

The node is started from the Debian package's scripts (``/usr/lib/rabbitmq/bin``; the
``/usr/sbin`` wrappers insist on running as user ``rabbitmq``) with everything of its own:
node name, AMQP, MQTT, distribution and epmd ports, and under one temporary directory its
config, enabled-plugins file, Mnesia and log directories and ``$HOME`` (so the Erlang
cookie it creates and the one ``rabbitmqctl`` reads are the same file). The system node,
its epmd and ``/etc/rabbitmq`` are never used.

Plugins: ``rabbitmq_mqtt`` and ``rabbitmq_auth_backend_http`` with ``auth_backends.1 =
http``. The HTTP backend reads its paths and method at every request, so ``point_at``
rewires a running node to another broker token (``rabbitmqctl eval``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

START_TIMEOUT = 60.0
CHECKS = ("user", "vhost", "resource", "topic")
REQUIRED = os.environ.get("CI") == "true" or os.environ.get("FLEETKEY_TEST_POSTGRES") == "1"

# paho 2 reports an MQTT 3.1.1 CONNACK return code as the MQTT 5 reason code it maps to.
ACCEPTED = 0
BAD_USER_NAME_OR_PASSWORD = 134  # 3.1.1 return code 4; what RabbitMQ 3.10 sends on a denial
NOT_AUTHORIZED = 135  # 3.1.1 return code 5
REFUSED = frozenset({BAD_USER_NAME_OR_PASSWORD, NOT_AUTHORIZED})


class RabbitUnavailable(Exception):
    """The node could not be started here; the message says why."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scripts_dir() -> Path:
    """Where rabbitmq-server and rabbitmqctl are: ``$FLEETKEY_TEST_RABBITMQ_BIN``, or the
    Debian package's directory."""
    where = Path(os.environ.get("FLEETKEY_TEST_RABBITMQ_BIN") or "/usr/lib/rabbitmq/bin")
    if not (where / "rabbitmq-server").is_file():
        raise RabbitUnavailable(
            f"RabbitMQ is not installed: no rabbitmq-server in {where} "
            "(set FLEETKEY_TEST_RABBITMQ_BIN to the directory holding its scripts)"
        )
    return where


def auth_paths(base_url: str, token: str) -> dict[str, str]:
    return {check: f"{base_url}/api/v1/auth/rabbitmq/{token}/{check}" for check in CHECKS}


def _erlang_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class RabbitNode:
    base: Path
    scripts: Path
    name: str = field(default_factory=lambda: f"fleetkey-test-{secrets.token_hex(4)}@localhost")
    amqp_port: int = field(default_factory=free_port)
    mqtt_port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    epmd_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        keep = ("PATH", "LANG", "LC_ALL", "TMPDIR")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(
            HOME=str(self.base / "home"),
            ERL_EPMD_ADDRESS="127.0.0.1",
            ERL_EPMD_PORT=str(self.epmd_port),
            RABBITMQ_CONF_ENV_FILE=str(self.base / "rabbitmq-env.conf"),
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.amqp_port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base / "log"),
            RABBITMQ_CONFIG_FILE=str(self.base / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.base / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base / "enabled_plugins"),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
        )
        return env

    @property
    def console_log(self) -> Path:
        return self.base / "console.log"

    def write_files(self, base_url: str, token: str, method: str) -> None:
        for sub in ("home", "mnesia", "log"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        cookie = self.base / "home" / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16).upper())
        cookie.chmod(0o400)
        # An empty env file of our own, so /etc/rabbitmq/rabbitmq-env.conf is not read.
        (self.base / "rabbitmq-env.conf").write_text("")
        (self.base / "enabled_plugins").write_text("[rabbitmq_mqtt,rabbitmq_auth_backend_http].\n")
        paths = auth_paths(base_url, token)
        lines = [
            f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}",
            f"mqtt.listeners.tcp.default = 127.0.0.1:{self.mqtt_port}",
            "mqtt.allow_anonymous = false",
            "mqtt.vhost = /",
            "auth_backends.1 = http",
            f"auth_http.http_method = {method}",
            *(f"auth_http.{check}_path = {url}" for check, url in paths.items()),
            "log.file.level = info",
            "log.console = true",
            "log.console.level = warning",
        ]
        (self.base / "rabbitmq.conf").write_text("\n".join(lines) + "\n")

    # -------------------------------------------------------------- lifecycle

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the node and wait until its MQTT listener answers a CONNECT."""
        with self.console_log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(self.scripts / "rabbitmq-server")],
                env=self.env,
                cwd=self.base,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, for the fallback kill
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RabbitUnavailable(
                    f"RabbitMQ node {self.name} exited with {self.process.returncode} "
                    f"while starting:\n{self.log_tail()}"
                )
            if self._answers_mqtt():
                return
            time.sleep(0.25)
        raise RabbitUnavailable(
            f"RabbitMQ node {self.name} did not accept MQTT connections on port "
            f"{self.mqtt_port} within {timeout:.0f} s:\n{self.log_tail()}"
        )

    def _answers_mqtt(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.mqtt_port), timeout=0.5):
                pass
        except OSError:
            return False
        try:
            code = MqttClient(self.mqtt_port, "readiness-probe", "x", "readiness-probe").connect(5)
        except (OSError, TimeoutError):
            return False
        return code is not None

    def ctl(self, *args: str, timeout: float = 30) -> str:
        done = subprocess.run(
            [str(self.scripts / "rabbitmqctl"), "-n", self.name, *args],
            env=self.env,
            cwd=self.base,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout.strip()

    def point_at(self, base_url: str, token: str, method: str) -> None:
        """Rewire the running node's HTTP backend to another token and method."""
        assert method in ("get", "post")
        sets = [
            f"application:set_env(rabbitmq_auth_backend_http, {check}_path, {_erlang_string(url)})"
            for check, url in auth_paths(base_url, token).items()
        ]
        sets.append(f"application:set_env(rabbitmq_auth_backend_http, http_method, {method})")
        assert self.ctl("eval", ", ".join(sets) + ", ok.") == "ok"

    def stop(self) -> None:
        """``rabbitmqctl stop``; the process group is killed if that does not end it.
        The node's private epmd is stopped as well."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                self.ctl("stop", timeout=30)
                process.wait(timeout=30)
            except (RuntimeError, subprocess.TimeoutExpired, OSError):
                pass
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait(timeout=10)
        epmd = shutil.which("epmd", path=self.env.get("PATH"))
        if epmd:
            subprocess.run(
                [epmd, "-kill"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=10,
                check=False,
            )

    def log_tail(self, lines: int = 30) -> str:
        texts = []
        for path in (self.console_log, self.base / "log" / f"{self.name}.log"):
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                texts.append(f"--- {path}\n" + "\n".join(tail))
        return "\n".join(texts) or "(no log written)"


def start_node(base: Path, base_url: str) -> RabbitNode:
    """A started node whose HTTP backend points at ``base_url`` with no valid token yet
    (every login is denied until ``point_at``)."""
    node = RabbitNode(base, scripts_dir())
    node.write_files(base_url, "unset", "post")
    try:
        node.start()
    except BaseException:
        node.stop()
        raise
    return node


# ------------------------------------------------------------------ MQTT


class MqttClient:
    """paho-mqtt driven by hand (no background thread, so no automatic reconnects)."""

    def __init__(self, port: int, username: str, password: str, client_id: str) -> None:
        self.port = port
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        self.client.username_pw_set(username, password)
        self.connack: ReasonCode | None = None
        self.subscribed = False
        self.messages: list[mqtt.MQTTMessage] = []
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, client: Any, userdata: Any, flags: Any, code: Any, props: Any) -> None:
        self.connack = code

    def _on_subscribe(self, client: Any, userdata: Any, mid: Any, codes: Any, props: Any) -> None:
        if all(not c.is_failure for c in codes):
            self.subscribed = True

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.messages.append(message)

    def _pump(self, done: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} within {timeout} s")
            code = self.client.loop(timeout=0.1)
            if code != mqtt.MQTT_ERR_SUCCESS and not done():
                raise ConnectionError(f"connection lost waiting for {what}: {code}")

    def connect(self, timeout: float = 15) -> int:
        """The CONNACK's reason code (0: accepted); the connection stays open if accepted."""
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        try:
            self._pump(lambda: self.connack is not None, timeout, "CONNACK")
        except BaseException:
            self.close()
            raise
        assert self.connack is not None
        if self.connack.is_failure:
            self.close()
        return int(self.connack.value)

    def round_trip(self, topic: str, payload: bytes, timeout: float = 15) -> bytes:
        """Subscribe to ``topic``, publish ``payload`` to it, and return what comes back."""
        self.client.subscribe(topic, qos=1)
        self._pump(lambda: self.subscribed, timeout, "SUBACK")
        self.client.publish(topic, payload, qos=1)
        self._pump(lambda: bool(self.messages), timeout, "message")
        return bytes(self.messages[0].payload)

    def close(self) -> None:
        if self.client.socket() is None:
            return
        self.client.disconnect()
        for _ in range(20):  # paho closes the socket once DISCONNECT is written
            if self.client.socket() is None:
                return
            self.client.loop(timeout=0.05)

    def __enter__(self) -> MqttClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connack(port: int, username: str, password: str, client_id: str) -> int:
    """Connect, note the CONNACK reason code, and disconnect."""
    with MqttClient(port, username, password, client_id) as client:
        return client.connect()
