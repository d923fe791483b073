import edgeray as ray
# ruff: noqa
# Seed 003, "线程化Actor" (threaded actors): ThreadedActor with max_concurrency=2.
# Added: `ray.init()`; `ray.shutdown()` at the end.

ray.init()


@ray.remote
class ThreadedActor:
    def task_1(self): print("I'm running in a thread!")
    def task_2(self): print("I'm running in another thread!")

a = ThreadedActor.options(max_concurrency=2).remote()
ray.get([a.task_1.remote(), a.task_2.remote()])

ray.shutdown()
