"""What ``get_runtime_context()`` tells a task or actor about itself, and
``edgeray.util.list_named_actors``, as Ray spells them."""

from __future__ import annotations

import os
from typing import Any

import pytest
from waiting import wait_for

pytestmark = pytest.mark.timeout(120)

RAY_INIT_KWARGS = {"num_cpus": 2, "num_gpus": 2, "resources": {"slot": 2}}


@pytest.fixture(scope="module")
def ray(ray_module):
    return ray_module


def test_assigned_resources_and_accelerators(ray) -> None:
    @ray.remote(num_cpus=0.5, resources={"slot": 1})
    def task() -> tuple[dict[str, float], dict[str, list[str]]]:
        c = ray.get_runtime_context()
        return c.get_assigned_resources(), c.get_accelerator_ids()

    @ray.remote(num_gpus=1)
    def gpu_task() -> tuple[dict[str, float], dict[str, list[str]]]:
        c = ray.get_runtime_context()
        return c.get_assigned_resources(), c.get_accelerator_ids()

    @ray.remote(num_cpus=1)
    class Holder:
        def assigned(self) -> dict[str, float]:
            return ray.get_runtime_context().get_assigned_resources()

    @ray.remote
    class Default:
        def assigned(self) -> dict[str, float]:
            return ray.get_runtime_context().get_assigned_resources()

    for _ in range(3):  # leased or via the node: the same answer
        assert ray.get(task.remote()) == ({"CPU": 0.5, "slot": 1.0}, {"GPU": []})
    res, acc = ray.get(gpu_task.remote())
    assert res == {"CPU": 1.0, "GPU": 1.0}
    assert len(acc["GPU"]) == 1 and acc["GPU"][0] in ("0", "1")
    assert ray.get(Holder.remote().assigned.remote()) == {"CPU": 1.0}
    assert ray.get(Default.remote().assigned.remote()) == {}  # Ray: 0 CPUs once created
    assert ray.get_runtime_context().get_assigned_resources() == {}  # the driver holds none


def test_placement_group_id(ray) -> None:
    from edgeray.util.placement_group import placement_group, remove_placement_group
    from edgeray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    @ray.remote(num_cpus=1)
    def pg_id() -> str | None:
        return ray.get_runtime_context().get_placement_group_id()

    assert ray.get(pg_id.remote()) is None
    pg = placement_group([{"CPU": 1}])
    ray.get(pg.ready(), timeout=30)
    try:
        inside = pg_id.options(scheduling_strategy=PlacementGroupSchedulingStrategy(pg)).remote()
        assert ray.get(inside, timeout=30) == pg.id.hex()
    finally:
        remove_placement_group(pg)


def test_current_actor_and_reconstruction(ray, tmp_path: Any) -> None:
    marker = tmp_path / "restarted"

    @ray.remote(max_restarts=1)
    class Phoenix:
        def __init__(self, path: str) -> None:
            self.path = path

        def me(self) -> Any:
            return ray.get_runtime_context().current_actor

        def reconstructed(self) -> bool:
            return ray.get_runtime_context().was_current_actor_reconstructed

        def die(self) -> None:
            os._exit(1)

        def ping(self) -> str:
            return "pong"

    a = Phoenix.remote(str(marker))
    assert ray.get(a.reconstructed.remote()) is False
    me = ray.get(a.me.remote())
    assert me == a and ray.get(me.ping.remote()) == "pong"  # a handle that works
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(a.die.remote(), timeout=30)
    def came_back() -> bool:
        try:
            assert ray.get(a.reconstructed.remote(), timeout=30) is True
        except ray.exceptions.RayActorError:
            return False
        return True

    wait_for(came_back, what="the actor to come back")
    with pytest.raises(RuntimeError, match="only available in an actor"):
        _ = ray.get_runtime_context().current_actor


def test_node_ip_address(ray) -> None:
    @ray.remote
    def where() -> str:
        return ray.util.get_node_ip_address()

    here = ray.util.get_node_ip_address()
    assert here == ray.nodes()[0]["NodeManagerAddress"] and ray.get(where.remote()) == here


def test_list_named_actors(ray) -> None:
    @ray.remote
    class Named:
        def ok(self) -> int:
            return 1

    a = Named.options(name="edgeray-b").remote()
    b = Named.options(name="edgeray-a").remote()
    c = Named.options(name="edgeray-c", namespace="elsewhere").remote()
    ray.get([a.ok.remote(), b.ok.remote(), c.ok.remote()])
    names = ray.util.list_named_actors()
    assert [n for n in names if n.startswith("edgeray-")] == ["edgeray-a", "edgeray-b"]
    everywhere = ray.util.list_named_actors(all_namespaces=True)
    assert {"name": "edgeray-c", "namespace": "elsewhere"} in everywhere
    ray.kill(a)
    # a killed actor's name is free again
    wait_for(lambda: "edgeray-b" not in ray.util.list_named_actors(), what="the killed actor's name freed")
    ray.kill(b)
    ray.kill(c)
