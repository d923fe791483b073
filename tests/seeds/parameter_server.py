import edgeray as ray
# ruff: noqa
# Seed 000 (notes on the Ray paper): the parameter-server example.
# Fixed typos: `@ray.demote` -> `@ray.remote`, `self.param` -> `self.params`;
# added the missing `import numpy as np` / `import time`.
# Shrunk: each worker runs 5 iterations sleeping 0.05 s (not 100 x 0.2 s).
# Added: the initial params are printed; the three worker refs are kept and
# waited for; then the final params are printed once all 15 updates have
# reached the server (a worker's last update is fire-and-forget and, coming
# from another submitter, may land after the driver's next call, hence the
# bounded poll); `ray.shutdown()` at the end.
import time
import numpy as np

ray.init() # assuming single machine

@ray.remote
class ParameterServer:
    def __init__(self):
        self.params = np.zeros(10)
    def get_params(self):
        return self.params
    def update_params(self, grad):
        self.params += grad

# starting parameter server
ps = ParameterServer.remote() # start a new process in cluster
future = ps.get_params.remote() # send request of param to paramater server, return future
params = ray.get(future) # blocking, returning output array
print("initial params:", params)  # added

@ray.remote
def worker(ps):
    # it does:
    # 1. get weight from server
    # 2. compute
    # 3. push gradian back to server
    for _ in range(5):
        params = ray.get(ps.get_params.remote())
        grad = np.ones(10) # compute, maybe using PyTorch, data
        time.sleep(0.05) # it takes time
        ps.update_params.remote(grad) # push to server

w1 = worker.remote(ps) # start a new worker
w2 = worker.remote(ps) # start another new worker
w3 = worker.remote(ps) # start another new worker
# above will start and execute in background,
# weights are updated in parameter server

# --- added ---
ray.get([w1, w2, w3])
deadline = time.time() + 10
while True:
    final = ray.get(ps.get_params.remote())
    if final[0] >= 15 or time.time() > deadline:
        break
    time.sleep(0.05)
print("final params:", final)
ray.shutdown()
