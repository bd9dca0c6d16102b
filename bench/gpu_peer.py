"""PyTorch's side of bench/gpu.lua, on the same card in the same run: the cases
bench/gpu.lua names (kind:model:math:batch), each timed as oml's are (a
warm-up, then the median of several synchronised runs) with its peak device
memory. Prints one line 'RESULT {json}' per case on stdout, the rest on stderr.

  python3 bench/gpu_peer.py --cases train:vits16:bfloat16:128,knn:-:float32:100000 \\
      --knn-data FILE --knn-out FILE [--knn-gallery N] [--budget SECONDS] [--device cpu]

train: forward, backward of mean(y^2), SGD with momentum; embed: inference
under no_grad; math float32 is exact (TF32 off for matmuls and cuDNN),
bfloat16 runs under torch.autocast. knn reads oml's raw float32 vectors
(queries then gallery) from --knn-data, searches them exactly by blocked
matmul + topk, and writes its 0-based int64 indices to --knn-out for the
agreement check; FAISS's GpuIndexFlatL2 runs as well when faiss is
importable with GPU support. --device cpu with small cases checks this
script where no GPU is."""
import argparse
import gc
import json
import math
import os
import sys
import time
import traceback

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402

D, K = 384, 10
MAX_RUNS, MIN_RUNS, CASE_SECONDS = 5, 2, 8  # as bench/gpu.lua
KNN_BLOCK = 2048  # queries per matmul: a [2048, 1M] float32 block is 8 GB


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def report(case, side="torch", **fields):
    fields = {k: v for k, v in fields.items() if v is not None}
    print("RESULT " + json.dumps(dict(case=case, side=side, **fields)), flush=True)


class Bench:
    def __init__(self, device, knn_gallery):
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.knn_gallery = knn_gallery

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def median_time(self, step):
        """As bench/gpu.lua's: the second warm-up's time sets how many runs fit."""
        def timed():
            t0 = time.perf_counter()
            step()
            self.sync()
            return time.perf_counter() - t0
        self.sync()
        warm = timed()
        if warm < 2:
            warm = timed()
        runs = max(MIN_RUNS, min(MAX_RUNS, math.floor(CASE_SECONDS / warm)))
        times = sorted(timed() for _ in range(runs))
        mid = (runs - 1) // 2
        return (times[mid] if runs % 2 else (times[mid] + times[mid + 1]) / 2), runs

    def autocast(self, math_mode):
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=math_mode == "bfloat16")

    def build_model(self, name):
        torch.manual_seed(0)
        if name == "vits16":
            model = torch_models.vits16()
        else:
            model = torch_models.resnet50()
            model.fc = nn.Identity()  # the 2048-d pooled features, as OML extracts them
        return model.to(self.device)

    def model_step(self, kind, name, math_mode, batch):
        model = self.build_model(name)
        x = torch.randn(batch, 3, 224, 224, device=self.device)
        if kind == "embed":
            model.eval()

            def step():
                with torch.no_grad(), self.autocast(math_mode):
                    model(x)
            return step
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step():
            opt.zero_grad()
            with self.autocast(math_mode):
                loss = model(x).float().square().mean()
            loss.backward()
            opt.step()
        return step

    def knn_data(self, path, nq, ng):
        want = (nq + ng) * D
        if os.path.exists(path) and os.path.getsize(path) == want * 4:
            import numpy as np
            x = torch.from_numpy(np.fromfile(path, dtype=np.float32))
            return x.view(nq + ng, D).to(self.device), True
        log(f"knn: {path} does not hold oml's vectors; searching random ones (no agreement check)")
        torch.manual_seed(0)
        return torch.randn(nq + ng, D, device=self.device), False

    @staticmethod
    def knn_search(queries, gallery):
        """Exact euclidean top k: |q|^2 + |g|^2 - 2 q.g by blocks of queries."""
        g2 = gallery.square().sum(1).unsqueeze(0)
        dists, idx = [], []
        for s in range(0, queries.shape[0], KNN_BLOCK):
            q = queries[s:s + KNN_BLOCK]
            d = torch.addmm(g2, q, gallery.t(), alpha=-2).add_(q.square().sum(1, keepdim=True))
            v, i = torch.topk(d, K, dim=1, largest=False, sorted=True)
            dists.append(v.clamp_min_(0).sqrt_())
            idx.append(i)
        return torch.cat(dists), torch.cat(idx)

    def run(self, case, knn_data, knn_out):
        kind, name, math_mode, batch = case.split(":")
        batch = int(batch)
        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()
        faiss_case = None
        if kind == "knn":
            data, from_oml = self.knn_data(knn_data, batch, self.knn_gallery)
            queries, gallery = data[:batch], data[batch:]
            result = {}

            def step():
                result["idx"] = self.knn_search(queries, gallery)[1]
            faiss_case = (queries, gallery)
        else:
            step = self.model_step(kind, name, math_mode, batch)
        self.sync()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        seconds, runs = self.median_time(step)
        peak = torch.cuda.max_memory_allocated() if self.cuda else None
        report(case, seconds=seconds, runs=runs, peak=peak)
        if faiss_case is not None:
            if from_oml:
                result["idx"].cpu().numpy().astype("int64").tofile(knn_out)
            self.run_faiss(case, *faiss_case)

    def run_faiss(self, case, queries, gallery):
        try:
            import faiss
        except ImportError:
            log("knn: no faiss module; no FAISS row")
            return
        if not self.cuda or not hasattr(faiss, "StandardGpuResources"):
            log("knn: faiss has no GPU support here; no FAISS row")
            return
        try:
            res = faiss.StandardGpuResources()
            index = faiss.GpuIndexFlatL2(res, D)
            index.add(gallery.cpu().numpy())
            q = queries.cpu().numpy()
            seconds, runs = self.median_time(lambda: index.search(q, K))
            report(case, side="faiss", seconds=seconds, runs=runs, version=faiss.__version__)
        except Exception:
            report(case, side="faiss", error=traceback.format_exc())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", required=True, help="comma-separated kind:model:math:batch")
    ap.add_argument("--knn-data", default="", help="oml's raw float32 vectors, queries then gallery")
    ap.add_argument("--knn-out", default="", help="where to write the int64 indices of the k-NN")
    ap.add_argument("--budget", type=float, default=float("inf"), help="seconds; later cases are skipped")
    ap.add_argument("--knn-gallery", type=int, default=1000000, help="gallery rows of the knn case")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu, to check this script")
    args = ap.parse_args()

    if args.device == "cuda" and not torch.cuda.is_available():
        log("gpu_peer.py: torch sees no CUDA device")
        sys.exit(1)
    # float32 means float32: no TF32 in matmuls or convolutions (cuDNN's default is on)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    bench = Bench(args.device, args.knn_gallery)
    name = torch.cuda.get_device_name(0) if bench.cuda else "cpu"
    log(f"torch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}) on {name}; "
        "cudnn.benchmark on, TF32 off")
    started = time.perf_counter()
    failed = 0
    for case in args.cases.split(","):
        if time.perf_counter() - started > args.budget:
            report(case, error="skipped: the peer's time budget is spent")
            continue
        try:
            bench.run(case, args.knn_data, args.knn_out)
        except Exception:
            failed += 1
            report(case, error=traceback.format_exc())
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
