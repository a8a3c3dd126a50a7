"""A Ray cluster of several nodes on this machine, on loopback only, for tests and benchmarks.

``ray.cluster_utils.Cluster`` starts each node's raylet, object store and workers as
separate processes: the scheduler, the object transfers between nodes and the retry of a
lost node's tasks are Ray's real ones; only the network is the loopback interface.

Ray rewrites ``127.0.0.1`` in an address to the machine's routable IP before connecting
(``services.resolve_ip_for_localhost``) unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``;
this workplace (and a laptop behind a firewall) allows only loopback traffic, so
:func:`loopback_only` sets it before the cluster starts (its processes inherit it).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Per node: the object store holds one pair's shard files or shipped inputs at a time.
OBJECT_STORE_BYTES = 150 * 1024 * 1024


def loopback_only() -> None:
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    from ray._private import ray_constants  # read at call time by services.get_node_ip_address

    ray_constants.ENABLE_RAY_CLUSTER = False


@contextmanager
def local_cluster(cpus_per_node: tuple[int, ...] = (1, 1)) -> Iterator[tuple[Any, list[Any]]]:
    """``(cluster, [head, node, ...])`` with ``cpus_per_node[k]`` CPUs on node ``k``; the
    driver (this process) is not connected: pass ``cluster.address`` to ``--address``.
    Every process is stopped on exit."""
    loopback_only()
    from ray.cluster_utils import Cluster

    temp = tempfile.mkdtemp(prefix="mpray-", dir="/tmp")  # unix sockets: short paths
    common = {"node_ip_address": "127.0.0.1", "object_store_memory": OBJECT_STORE_BYTES}
    cluster = Cluster(initialize_head=True, head_node_args={
        **common, "num_cpus": cpus_per_node[0], "include_dashboard": False, "temp_dir": temp})
    try:
        nodes = [cluster.head_node]
        nodes += [cluster.add_node(**common, num_cpus=n) for n in cpus_per_node[1:]]
        cluster.wait_for_nodes()
        yield cluster, nodes
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
