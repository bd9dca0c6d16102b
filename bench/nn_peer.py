"""PyTorch's side of bench/nn.lua: one configuration per process (so that
its peak RSS is its own): python3 bench/nn_peer.py MODEL MODE BATCH RUNS.
Prints 'seconds maxrss_bytes' for the best of RUNS steps after a warm-up."""
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402

model_name, mode, batch, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(2)
torch.manual_seed(0)
model = torch_models.resnet18(num_classes=512) if model_name == "resnet18" else torch_models.vits16()
x = torch.randn(batch, 3, 224, 224)

if mode == "train":
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
else:
    model.eval()

    def step():
        with torch.no_grad():
            model(x)

step()
best = float("inf")
for _ in range(runs):
    t0 = time.perf_counter()
    step()
    best = min(best, time.perf_counter() - t0)
print(best, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
