"""A real Redis Cluster on loopback for development and tests, and the admin reads a failover
test needs (who is master of which slots, is every slot served again)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot
from redis.retry import Retry

from storage.embedded import (
    EmbeddedServiceError,
    _redis_answers,
    _redis_version,
    _wait_until,
    redis_server_binary,
)
from storage.ports import free_loopback_port
from storage.processes import spawn_tied, stop

log = logging.getLogger(__name__)

URL_SCHEME = "redis+cluster://"
SYSTEM_REDIS_SERVER = Path("/usr/bin/redis-server")
_BUS_PORT_OFFSET = 10000  # each node also listens on port + 10000, the cluster bus
_START_ATTEMPTS = 5
_POLL_INTERVAL = 0.02


def cluster_server_binary() -> str:
    """Debian's redis-server when it is Redis 7 or later, else the embedded Redis's (6.2)."""
    if SYSTEM_REDIS_SERVER.is_file():
        major = _redis_version(str(SYSTEM_REDIS_SERVER)).split(".")[0]
        if major.isdigit() and int(major) >= 7:
            return str(SYSTEM_REDIS_SERVER)
    return redis_server_binary()


@dataclass
class ClusterNodeProcess:
    """One redis-server of the cluster; its role is whatever the cluster made of it since."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    argv: list[str]
    log_path: Path

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def client(self) -> redis.Redis:
        """A synchronous client of this node alone (admin reads; no cluster redirections)."""
        return redis.Redis(
            host=self.host,
            port=self.port,
            decode_responses=True,
            socket_connect_timeout=1.0,
            socket_timeout=2.0,
            retry=Retry(NoBackoff(), 0),
        )

    def role(self) -> str:
        """`master` or `replica`, as the node itself reports it now."""
        with self.client() as client:
            role = str(client.execute_command("ROLE")[0])
        return "replica" if role == "slave" else role

    def kill(self) -> None:
        """SIGKILL, as a crash: no shutdown, no goodbye to the other nodes."""
        self.process.kill()
        self.process.wait()

    def restart(self) -> None:
        """Start the node again on its port and configuration: a former master rejoins as a
        replica of the node promoted in its place."""
        if self.alive:
            raise EmbeddedServiceError(f"redis-server {self.address} is still running")
        self.process = _spawn(self.argv, self.log_path)
        if not _wait_until(partial(_redis_answers, self.host, self.port), self.process, "redis"):
            raise EmbeddedServiceError(
                f"redis-server {self.address} did not restart; see {self.log_path}"
            )


@dataclass(frozen=True)
class ClusterMaster:
    """A master as one node's CLUSTER NODES describes it."""

    node_id: str
    host: str
    port: int
    slots: tuple[range, ...]
    replica_ports: tuple[int, ...]

    def serves(self, slot: int) -> bool:
        return any(slot in slots for slots in self.slots)


@dataclass(frozen=True)
class _NodeLine:
    node_id: str
    host: str
    port: int
    flags: frozenset[str]
    master_id: str
    slots: tuple[range, ...]

    @property
    def is_live_master(self) -> bool:
        return "master" in self.flags and "fail" not in self.flags

    @property
    def is_live_replica(self) -> bool:
        return "slave" in self.flags and "fail" not in self.flags


@dataclass
class EmbeddedCluster:
    """Masters and replicas on loopback; `url` names the masters it started with as seeds."""

    url: str
    nodes: list[ClusterNodeProcess]
    replicas_per_master: int

    def close(self) -> None:
        for node in self.nodes:
            if node.alive:
                node.process.terminate()  # all at once: they shut down in parallel
        for node in self.nodes:
            stop(node.process)

    def node_for_port(self, port: int) -> ClusterNodeProcess:
        for node in self.nodes:
            if node.port == port:
                return node
        raise LookupError(f"no node of this cluster listens on port {port}")

    def masters(self) -> list[ClusterMaster]:
        """The masters not marked failed, as the first live node that answers sees them, in
        slot order."""
        view = self._first_view()
        masters = [
            ClusterMaster(
                node_id=line.node_id,
                host=line.host,
                port=line.port,
                slots=line.slots,
                replica_ports=tuple(
                    r.port for r in view if r.is_live_replica and r.master_id == line.node_id
                ),
            )
            for line in view
            if line.is_live_master
        ]
        return sorted(masters, key=lambda master: [slots.start for slots in master.slots])

    def master_of_key(self, key: str | bytes) -> ClusterNodeProcess:
        """The node serving `key`'s slot now (a `{tag}` in the key picks the slot)."""
        slot = key_slot(key.encode() if isinstance(key, str) else key)
        for master in self.masters():
            if master.serves(slot):
                return self.node_for_port(master.port)
        raise EmbeddedServiceError(f"no master serves slot {slot} (key {key!r})")

    def wait_until_healthy(self, timeout: float = 15.0, *, replicas: bool = False) -> None:
        """Until every live node says cluster_state:ok and sees all slots on live masters;
        with `replicas`, also until every master has its replicas in sync."""
        deadline = time.monotonic() + timeout
        problem = self._problem(replicas=replicas)
        while problem is not None:
            if time.monotonic() > deadline:
                raise EmbeddedServiceError(
                    f"the Redis Cluster is not healthy after {timeout:.0f} s: {problem}"
                )
            time.sleep(_POLL_INTERVAL)
            problem = self._problem(replicas=replicas)

    def _live_nodes(self) -> list[ClusterNodeProcess]:
        return [node for node in self.nodes if node.alive]

    def _first_view(self) -> list[_NodeLine]:
        errors = []
        for node in self._live_nodes():
            try:
                return _cluster_nodes(node)
            except redis.RedisError as error:
                errors.append(f"{node.address}: {error}")
        raise EmbeddedServiceError(f"no node of the Redis Cluster answers ({'; '.join(errors)})")

    def _problem(self, *, replicas: bool) -> str | None:
        """What keeps the cluster from being healthy right now, or None."""
        live = self._live_nodes()
        live_ports = {node.port for node in live}
        for node in live:
            try:
                with node.client() as client:
                    info = str(client.execute_command("CLUSTER", "INFO"))
                view = _cluster_nodes(node)
            except redis.RedisError as error:
                return f"{node.address} does not answer: {error}"
            if "cluster_state:ok" not in info.split():
                return f"{node.address} reports cluster_state other than ok"
            masters = [line for line in view if line.is_live_master and line.port in live_ports]
            covered = sum(len(slots) for line in masters for slots in line.slots)
            if covered != REDIS_CLUSTER_HASH_SLOTS:
                return f"{node.address} sees {covered} of {REDIS_CLUSTER_HASH_SLOTS} slots served"
            if replicas:
                for master in masters:
                    in_sync = _replicas_in_sync(self.node_for_port(master.port))
                    if in_sync < self.replicas_per_master:
                        return f"{master.host}:{master.port} has {in_sync} replicas in sync"
        return None


def start_redis_cluster(
    runtime_dir: Path,
    *,
    host: str = "127.0.0.1",
    masters: int = 3,
    replicas_per_master: int = 1,
    node_timeout_ms: int = 1000,
    timeout: float = 30.0,
) -> EmbeddedCluster:
    """Start `masters * (1 + replicas_per_master)` nodes, make them one cluster, and return once
    every slot is served and every replica is in sync; the nodes die with this process.

    With the default 1 s node timeout a replica replaces a killed master in about 2 s.
    """
    if masters < 3:
        raise ValueError("a Redis Cluster needs at least 3 masters")
    binary = cluster_server_binary()
    cli = _redis_cli_beside(binary)
    cluster_dir = Path(tempfile.mkdtemp(prefix="redis-cluster-", dir=runtime_dir))
    cluster = EmbeddedCluster(url="", nodes=[], replicas_per_master=replicas_per_master)
    taken_ports: set[int] = set()
    try:
        for index in range(masters * (1 + replicas_per_master)):
            node_dir = cluster_dir / f"node-{index}"
            node_dir.mkdir()
            node = _start_node(binary, node_dir, host, node_timeout_ms, taken_ports)
            cluster.nodes.append(node)
        _create(cli, cluster.nodes, replicas_per_master, timeout=timeout)
        cluster.wait_until_healthy(timeout, replicas=True)
        seeds = ",".join(f"{master.host}:{master.port}" for master in cluster.masters())
        cluster.url = URL_SCHEME + seeds
    except BaseException:
        cluster.close()
        raise
    log.info(
        "embedded Redis Cluster (redis-server %s) of %d nodes: %s",
        _redis_version(binary),
        len(cluster.nodes),
        cluster.url,
    )
    return cluster


def _redis_cli_beside(server_binary: str) -> str:
    beside = Path(server_binary).with_name("redis-cli")
    if beside.is_file():
        return str(beside)
    found = shutil.which("redis-cli")
    if found is None:
        raise EmbeddedServiceError(f"no redis-cli beside {server_binary} nor on PATH")
    return found


def _node_port(host: str, taken: set[int]) -> int:
    for _ in range(100):
        port = free_loopback_port(host)
        bus_port = port + _BUS_PORT_OFFSET
        if bus_port <= 65535 and not {port, bus_port} & taken:
            taken.update({port, bus_port})
            return port
    raise EmbeddedServiceError(f"no free port pair (P, P+{_BUS_PORT_OFFSET}) on {host}")


def _spawn(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log_file:
        return spawn_tied(argv, stdout=log_file, stderr=subprocess.STDOUT)


def _start_node(
    binary: str, node_dir: Path, host: str, node_timeout_ms: int, taken_ports: set[int]
) -> ClusterNodeProcess:
    log_path = node_dir / "redis.log"
    for _ in range(_START_ATTEMPTS):
        port = _node_port(host, taken_ports)
        argv = [
            binary,
            "--port",
            str(port),
            "--bind",
            host,
            "--dir",
            str(node_dir),
            "--daemonize",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--loglevel",
            "warning",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(node_dir / "nodes.conf"),
            "--cluster-node-timeout",
            str(node_timeout_ms),
            # A replica may take over however long it has been cut off from its master (the
            # default refuses after 10 node timeouts): a failover is never skipped.
            "--cluster-replica-validity-factor",
            "0",
            # While one master's slots wait for their replica, the other masters keep
            # serving theirs (the default answers CLUSTERDOWN for every slot meanwhile).
            "--cluster-require-full-coverage",
            "no",
        ]
        process = _spawn(argv, log_path)
        # False when it exited: its port (or port + 10000) was taken meanwhile.
        if _wait_until(partial(_redis_answers, host, port), process, "redis-server"):
            return ClusterNodeProcess(host, port, process, argv, log_path)
        stop(process)
    raise EmbeddedServiceError(f"a Redis Cluster node failed to start; see {log_path}")


def _create(
    cli: str, nodes: list[ClusterNodeProcess], replicas_per_master: int, *, timeout: float
) -> None:
    # The first len(nodes) / (1 + replicas) addresses become the masters.
    argv = [cli, "--cluster", "create", *(node.address for node in nodes)]
    argv += ["--cluster-replicas", str(replicas_per_master), "--cluster-yes"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as error:
        raise EmbeddedServiceError(
            f"redis-cli --cluster create took over {timeout:.0f} s"
        ) from error
    if done.returncode != 0:
        said = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["nothing"]
        raise EmbeddedServiceError(f"redis-cli --cluster create failed: {said[0]}")


def _cluster_nodes(node: ClusterNodeProcess) -> list[_NodeLine]:
    with node.client() as client:
        text = str(client.execute_command("CLUSTER", "NODES"))
    return [_parse_node_line(line) for line in text.splitlines() if line.strip()]


def _parse_node_line(line: str) -> _NodeLine:
    # <id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot>...
    fields = line.split()
    address = fields[1].split("@")[0]
    host, _, port = address.rpartition(":")
    slots = []
    for item in fields[8:]:
        if item.startswith("["):
            continue  # a slot being imported or migrated: still served by its owner
        first, _, last = item.partition("-")
        slots.append(range(int(first), int(last or first) + 1))
    return _NodeLine(
        node_id=fields[0],
        host=host,
        port=int(port),
        flags=frozenset(fields[2].split(",")),
        master_id=fields[3],
        slots=tuple(slots),
    )


def _replicas_in_sync(master: ClusterNodeProcess) -> int:
    with master.client() as client:
        replication = client.info("replication")
    return sum(
        1
        for name, value in replication.items()
        if name.startswith("slave") and isinstance(value, dict) and value.get("state") == "online"
    )
