"""Placement groups on a real node: atomic reservation, bundles, pending groups, removal."""

from __future__ import annotations

import pytest
from waiting import wait_for

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def ray2(ray_init):
    return ray_init(num_cpus=2, num_gpus=2, resources={"disk": 4})


def test_ready_get_wait_and_table(ray2) -> None:
    from edgeray.util.placement_group import PlacementGroup, placement_group, placement_group_table

    ray = ray2
    pg = placement_group([{"CPU": 1, "GPU": 1}, {"disk": 2}], strategy="SPREAD", name="tbl")
    got = ray.get(pg.ready(), timeout=10)
    assert isinstance(got, PlacementGroup) and got.id == pg.id
    assert pg.wait(5)
    t = placement_group_table(pg)
    assert t["state"] == "CREATED" and t["strategy"] == "SPREAD" and t["name"] == "tbl"
    assert t["bundles"] == {0: {"CPU": 1.0, "GPU": 1.0}, 1: {"disk": 2.0}}
    assert pg.id.hex() in placement_group_table()
    avail = ray.available_resources()
    assert avail["CPU"] == 1.0 and avail["GPU"] == 1.0 and avail["disk"] == 2.0


def test_tasks_run_in_their_bundle_with_its_gpu(ray2) -> None:
    from edgeray.util.placement_group import placement_group
    from edgeray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    ray = ray2
    pg = placement_group([{"CPU": 1}, {"CPU": 1, "GPU": 1}])
    ray.get(pg.ready(), timeout=10)

    @ray.remote(num_cpus=1, num_gpus=1)
    def gpu_task():
        import os

        return os.environ["CUDA_VISIBLE_DEVICES"]

    strategy = PlacementGroupSchedulingStrategy(placement_group=pg, placement_group_bundle_index=1)
    devices = {ray.get(gpu_task.options(scheduling_strategy=strategy).remote(), timeout=20) for _ in range(3)}
    assert len(devices) == 1 and devices.pop() in ("0", "1")
    # bundle 0 has no GPU: a GPU task pinned there can never run
    bad = PlacementGroupSchedulingStrategy(placement_group=pg, placement_group_bundle_index=0)
    with pytest.raises(ray.exceptions.TaskUnschedulableError, match="more than bundle 0"):
        ray.get(gpu_task.options(scheduling_strategy=bad).remote(), timeout=20)
    with pytest.raises(ValueError, match="out of range"):
        PlacementGroupSchedulingStrategy(placement_group=pg, placement_group_bundle_index=5).to_dict()


def test_reservation_is_all_or_nothing_and_pending_groups_follow(ray2) -> None:
    from edgeray.util.placement_group import (
        placement_group,
        placement_group_table,
        remove_placement_group,
    )

    ray = ray2
    first = placement_group([{"CPU": 2}])
    ray.get(first.ready(), timeout=10)
    waiting = placement_group([{"GPU": 1}, {"CPU": 1}])  # the GPU fits, the CPU does not: nothing taken
    ready, _ = ray.wait([waiting.ready()], timeout=0.5)
    assert not ready and placement_group_table(waiting)["state"] == "PENDING"
    assert ray.available_resources()["GPU"] == 2.0
    remove_placement_group(first)
    assert ray.get(waiting.ready(), timeout=10) is not None
    assert placement_group_table(waiting)["state"] == "CREATED"
    assert placement_group_table(first)["state"] == "REMOVED"
    assert ray.available_resources()["GPU"] == 1.0 and ray.available_resources()["CPU"] == 1.0


def test_remove_kills_its_tasks_and_actors(ray2) -> None:
    from edgeray.util.placement_group import placement_group, remove_placement_group
    from edgeray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    ray = ray2
    pg = placement_group([{"CPU": 1}, {"CPU": 1}])
    ray.get(pg.ready(), timeout=10)
    in_pg = PlacementGroupSchedulingStrategy(placement_group=pg)

    @ray.remote(num_cpus=1)
    def forever():
        import time

        time.sleep(600)

    @ray.remote(num_cpus=1)
    class Resident:
        def ping(self):
            return "pong"

    actor = Resident.options(scheduling_strategy=in_pg).remote()
    assert ray.get(actor.ping.remote(), timeout=20) == "pong"
    running = forever.options(scheduling_strategy=in_pg).remote()
    queued = forever.options(scheduling_strategy=in_pg).remote()  # both bundles busy: it waits

    def one_runs() -> bool:
        from edgeray.client._context import current_client

        rows = {r["task_id"]: r["state"] for r in current_client().call("list", {"kind": "tasks"})}
        return "RUNNING" in {rows.get(r.task_id()) for r in (running, queued)}

    wait_for(one_runs, what="a task of the group to run")
    remove_placement_group(pg)
    with pytest.raises(ray.exceptions.TaskPlacementGroupRemoved):
        ray.get(running, timeout=20)
    with pytest.raises(ray.exceptions.TaskPlacementGroupRemoved):
        ray.get(queued, timeout=20)
    with pytest.raises(ray.exceptions.RayError):
        ray.get(actor.ping.remote(), timeout=20)
    with pytest.raises(ray.exceptions.TaskPlacementGroupRemoved):  # new work for a removed group
        ray.get(forever.options(scheduling_strategy=in_pg).remote(), timeout=20)
    wait_for(lambda: ray.available_resources().get("CPU") == 2.0, what="both CPUs back")


def test_actor_of_a_removed_group_dies_with_actor_died_error(ray2) -> None:
    from edgeray.util.placement_group import placement_group, remove_placement_group
    from edgeray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    ray = ray2
    pg = placement_group([{"CPU": 1}])
    ray.get(pg.ready(), timeout=10)
    in_pg = PlacementGroupSchedulingStrategy(placement_group=pg)

    @ray.remote(num_cpus=1)
    class Resident:
        def ping(self):
            return "pong"

    alive = Resident.options(scheduling_strategy=in_pg, max_restarts=2).remote()
    assert ray.get(alive.ping.remote(), timeout=30) == "pong"
    waiting = Resident.options(scheduling_strategy=in_pg).remote()  # its bundle is taken: it waits
    remove_placement_group(pg)
    for actor in (alive, waiting):
        with pytest.raises(ray.exceptions.ActorDiedError, match=pg.id.hex()) as info:
            ray.get(actor.ping.remote(), timeout=30)
        assert isinstance(info.value, ray.exceptions.RayActorError)
    late = Resident.options(scheduling_strategy=in_pg).remote()  # created after the removal
    with pytest.raises(ray.exceptions.ActorDiedError, match=pg.id.hex()):
        ray.get(late.ping.remote(), timeout=30)


def test_names_and_bad_arguments(ray2) -> None:
    from edgeray.util import get_placement_group
    from edgeray.util.placement_group import placement_group, remove_placement_group

    ray = ray2
    pg = placement_group([{"CPU": 0.5}], name="only-one")
    ray.get(pg.ready(), timeout=10)
    with pytest.raises(ValueError, match="already taken"):
        placement_group([{"CPU": 0.5}], name="only-one")
    assert get_placement_group("only-one") == pg
    remove_placement_group(pg)
    with pytest.raises(ValueError, match="Failed to look up"):
        get_placement_group("only-one")
    with pytest.raises(ValueError):
        placement_group([])
    with pytest.raises(ValueError, match="strategy"):
        placement_group([{"CPU": 1}], strategy="DIAGONAL")
    with pytest.raises(ValueError, match="zero"):
        placement_group([{"CPU": 0}])
    with pytest.raises(ValueError, match="lifetime"):
        placement_group([{"CPU": 1}], lifetime="forever")


def test_work_that_fits_no_bundle_of_its_group_is_refused_as_ray_does(ray2) -> None:
    """Ray's ``_validate_resource_shape``: a ``ValueError`` at ``.remote()``, not a task pending
    forever; an actor needs 1 CPU to be created unless it says ``num_cpus``."""
    from edgeray.util.placement_group import placement_group, remove_placement_group
    from edgeray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    ray = ray2

    @ray.remote
    def one() -> int:
        return 1

    @ray.remote
    class Holder:
        def one(self) -> int:
            return 1

    pg = placement_group([{"CPU": 1}, {"disk": 2}])
    ray.get(pg.ready(), timeout=10)
    try:
        in_pg = PlacementGroupSchedulingStrategy(pg)
        with pytest.raises(ValueError, match=r"resource request \{'CPU': 2.0\} cannot fit into any bundles"):
            one.options(num_cpus=2, scheduling_strategy=in_pg).remote()
        with pytest.raises(ValueError, match="cannot fit into any bundles"):  # with a bundle index too
            one.options(num_cpus=1, resources={"disk": 1}, scheduling_strategy=PlacementGroupSchedulingStrategy(pg, 1)
                        ).remote()
        with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="cannot fit into any bundles"):
            one.options(num_gpus=1, placement_group=pg).remote()  # the deprecated option: checked alike
        assert ray.get(one.options(scheduling_strategy=in_pg).remote(), timeout=30) == 1

        disk_only = placement_group([{"disk": 2}])
        ray.get(disk_only.ready(), timeout=10)
        with pytest.raises(ValueError, match="the actor requires 1.0 CPU for creation"):
            Holder.options(scheduling_strategy=PlacementGroupSchedulingStrategy(disk_only)).remote()
        a = Holder.options(num_cpus=0, resources={"disk": 1},
                           scheduling_strategy=PlacementGroupSchedulingStrategy(disk_only)).remote()
        assert ray.get(a.one.remote(), timeout=30) == 1
        ray.kill(a)
        remove_placement_group(disk_only)
    finally:
        remove_placement_group(pg)
