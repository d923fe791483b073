import edgeray as ray
# ruff: noqa
# Seed 003, "[高级] 分离Placement group" (detached placement groups), run the way
# the document means it: driver_1 creates a detached, named group and exits;
# a new driver still finds it. Also "[高级] 命名Placement group": a named group
# that is NOT detached is gone once its driver exits.
# Added: this file is its own orchestrator -- it starts a node in the
# foreground (`python -m edgeray start --head --num-cpus 2 --block`, waits for
# $EDGERAY_HOME/address.json), runs `driver_1` and `driver_2` as separate
# driver processes that connect with ray.init(address="auto"), then stops the
# node with SIGTERM. `ray.shutdown()` at the end of every driver and of the
# orchestrator (a no-op there).
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from edgeray.util.placement_group import (
    placement_group,
    placement_group_table,
    remove_placement_group,
)


def driver_1():
    ray.init(address="auto")
    # driver_1.py
    # Create a detached Placement group that survives even after
    # the job terminates.
    pg = placement_group([{"CPU": 1}], lifetime="detached", name="global_name")
    ray.get(pg.ready())

    # added: a named group without lifetime="detached" dies with this driver
    temp = placement_group([{"CPU": 1}], name="temp_name")
    ray.get(temp.ready())
    print("driver_1 created both groups")
    ray.shutdown()


def driver_2():
    ray.init(address="auto")
    pg = ray.util.get_placement_group("global_name")
    print("detached group after driver_1 exited:", placement_group_table(pg)["state"])

    deadline = time.time() + 10
    while True:
        try:
            state = placement_group_table(ray.util.get_placement_group("temp_name"))["state"]
        except ValueError:
            state = "not found"
        if state in ("REMOVED", "not found") or time.time() > deadline:
            break
        time.sleep(0.1)
    print("non-detached group after driver_1 exited:", "gone" if state in ("REMOVED", "not found") else state)

    remove_placement_group(pg)
    ray.shutdown()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        {"driver_1": driver_1, "driver_2": driver_2}[sys.argv[1]]()
        sys.exit(0)

    home = os.environ.setdefault("EDGERAY_HOME", tempfile.mkdtemp(prefix="edgeray_seed_"))
    node = subprocess.Popen(
        [sys.executable, "-m", "edgeray", "start", "--head", "--num-cpus", "2", "--block"],
        stdout=subprocess.DEVNULL,
    )
    try:
        address_file = os.path.join(home, "address.json")
        deadline = time.time() + 60
        while not os.path.exists(address_file):
            if node.poll() is not None or time.time() > deadline:
                raise SystemExit(f"node did not start (exit code {node.poll()})")
            time.sleep(0.05)
        for driver in ("driver_1", "driver_2"):
            subprocess.run([sys.executable, __file__, driver], check=True, timeout=60)
    finally:
        node.send_signal(signal.SIGTERM)
        try:
            node.wait(timeout=20)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()
            raise SystemExit("node did not stop on SIGTERM")
    ray.shutdown()
