"""Seed 000's parameter server, with `import edgeray as ray` (its typos fixed)."""

import time

import numpy as np

import edgeray as ray

ray.init()  # connects to the node started with `edgeray start`, or starts one


@ray.remote
class ParameterServer:
    def __init__(self):
        self.params = np.zeros(10)

    def get_params(self):
        return self.params

    def update_params(self, grad):
        self.params += grad


@ray.remote
def worker(ps):
    for _ in range(10):
        params = ray.get(ps.get_params.remote())
        grad = np.ones(10)  # compute, maybe using PyTorch
        time.sleep(0.02)
        ps.update_params.remote(grad)
    return float(params.sum())


ps = ParameterServer.remote()
print("initial params:", ray.get(ps.get_params.remote()))
ray.get([worker.remote(ps) for _ in range(3)])
time.sleep(0.1)
print("final params:", ray.get(ps.get_params.remote()))  # 3 workers x 10 updates of ones -> 30s
ray.shutdown()
