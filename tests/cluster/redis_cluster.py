"""A real local Redis Cluster for tests, built from the ``redis-server`` and ``redis-cli`` binaries.

``LocalCluster(masters=3, replicas=0).start()`` runs one ``redis-server --cluster-enabled yes`` per
node on free ports, each in a temporary directory, joins them with
``redis-cli --cluster create ... --cluster-yes`` and waits until every node reports the cluster
``ok`` and agrees on the slot map. ``close()`` kills every process and removes the directories.
"""

from __future__ import annotations

import shutil
import subprocess

import redis

from tests.processes import free_port
from tests.redis_servers import RedisProcess, no_redis
from tests.timeouts import wait_until


class ClusterNode(RedisProcess):
    """One ``redis-server --cluster-enabled yes``, with its own state file and a bus port of
    its own (port + 10000 may not exist, or be taken)."""

    def __init__(self) -> None:
        super().__init__(
            "--cluster-enabled", "yes", "--cluster-node-timeout", "2000", "--appendonly", "no"
        )
        self.bus_port = free_port()

    def command(self) -> list[str]:
        state = str(self.dir / "nodes.conf")
        return [
            *super().command(),
            "--cluster-config-file",
            state,
            "--cluster-port",
            str(self.bus_port),
        ]

    def move(self) -> None:
        super().move()
        self.bus_port = free_port()
        (self.dir / "nodes.conf").unlink(missing_ok=True)  # it names the node's old ports


class LocalCluster:
    """``masters`` primaries, each with ``replicas`` replicas, on 127.0.0.1."""

    def __init__(self, masters: int = 3, replicas: int = 0) -> None:
        if shutil.which("redis-cli") is None:
            no_redis("redis-cli binary not found")
        self.masters = masters
        self.replicas = replicas
        self.nodes: list[RedisProcess] = [ClusterNode() for _ in range(masters * (1 + replicas))]

    @property
    def url(self) -> str:
        """A seed URL: any one node is enough for the cluster client to find the rest."""
        return ",".join(f"redis://127.0.0.1:{n.port}" for n in self.nodes[: self.masters])

    def start(self, timeout: float = 30.0) -> LocalCluster:
        for node in self.nodes:
            node.start()
        command = ["redis-cli", "--cluster", "create"]
        command += [f"127.0.0.1:{n.port}" for n in self.nodes]
        if self.replicas:
            command += ["--cluster-replicas", str(self.replicas)]
        command.append("--cluster-yes")
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)
        self.wait_ok(timeout)
        return self

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=1)

    def alive(self) -> list[RedisProcess]:
        return [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every live node says ``cluster_state:ok`` and all agree on who owns each slot."""
        wait_until(self._agreed, timeout, "redis cluster did not settle")

    def _agreed(self) -> bool:
        views = []
        for node in self.alive():
            with self.client(node.port) as c:
                info = c.execute_command("CLUSTER", "INFO")
                text = info.decode() if isinstance(info, bytes) else str(info)
                if "cluster_state:ok" not in text:
                    return False
                views.append(self._owners(c))
        return bool(views) and all(v == views[0] for v in views)

    @staticmethod
    def _owners(c: redis.Redis) -> list[tuple[int, int, int]]:
        return sorted(
            (int(s[0]), int(s[1]), int(s[2][1])) for s in c.execute_command("CLUSTER", "SLOTS")
        )

    def masters_now(self) -> list[RedisProcess]:
        """The nodes that serve slots right now."""
        with self.client(self.alive()[0].port) as c:
            ports = {port for _, _, port in self._owners(c)}
        return [n for n in self.nodes if n.port in ports]

    def owner(self, key: str) -> RedisProcess:
        """The live master serving ``key``'s slot."""
        any_node = self.alive()[0]
        with self.client(any_node.port) as c:
            slot = int(c.execute_command("CLUSTER", "KEYSLOT", key))
            for start, end, port in self._owners(c):
                if start <= slot <= end:
                    return next(n for n in self.nodes if n.port == port)
        raise LookupError(key)

    def replica_of(self, master: RedisProcess) -> RedisProcess:
        with self.client(master.port) as c:
            my_id = c.execute_command("CLUSTER", "MYID")
        my_id = my_id.decode() if isinstance(my_id, bytes) else my_id
        for node in self.alive():
            if node is master:
                continue
            with self.client(node.port) as c:
                role = c.execute_command("ROLE")
                if role[0] in (b"slave", "slave") and self._master_id(c) == my_id:
                    return node
        raise LookupError("no replica")

    def replication_offset(self, node: RedisProcess) -> int:
        with self.client(node.port) as c:
            info = c.info("replication")
        key = "master_repl_offset" if info["role"] == "master" else "slave_repl_offset"
        return int(info[key])

    def wait_replicated(self, master: RedisProcess, timeout: float = 10.0) -> RedisProcess:
        """Until ``master`` has a replica holding every write the master has made so far."""

        def caught_up() -> RedisProcess | None:
            replica = self.replica_of(master)
            if self.replication_offset(replica) >= self.replication_offset(master):
                return replica
            return None

        return wait_until(caught_up, timeout, f"no replica of {master.port} caught up")

    def kill_and_promote(self, master: RedisProcess, replica: RedisProcess) -> None:
        """SIGKILL ``master``, then ``CLUSTER FAILOVER FORCE`` on its replica, until it serves."""
        master.kill()
        with self.client(replica.port) as c:
            c.execute_command("CLUSTER", "FAILOVER", "FORCE")

        def promoted() -> bool:
            with self.client(replica.port) as c:
                return c.execute_command("ROLE")[0] in (b"master", "master")

        wait_until(promoted, 20, f"replica {replica.port} was not promoted")
        self.wait_ok()

    def node_id(self, node: RedisProcess) -> str:
        with self.client(node.port) as c:
            raw = c.execute_command("CLUSTER", "MYID")
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    def move_slot_of(self, key: str, target: RedisProcess) -> None:
        """Migrate ``key``'s slot, keys and all, to the master ``target`` (a live reshard)."""
        source = self.owner(key)
        src, dst = self.client(source.port), self.client(target.port)
        try:
            slot = int(src.execute_command("CLUSTER", "KEYSLOT", key))
            source_id, target_id = self.node_id(source), self.node_id(target)
            dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
            src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
            while keys := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
                src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
            for master in self.masters_now():
                with self.client(master.port) as c:
                    c.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        finally:
            src.close()
            dst.close()
        self.wait_ok()

    @staticmethod
    def _master_id(c: redis.Redis) -> str:
        for line in c.execute_command("CLUSTER", "NODES").decode().splitlines():
            parts = line.split()
            if "myself" in parts[2]:
                return parts[3]
        return ""

    def close(self) -> None:
        for node in self.nodes:
            node.close()
