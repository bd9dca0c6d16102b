"""PyTorch's side of bench/checkpoint_load.lua (Debian's python3-torch, torch 1.13):

  python3 bench/checkpoint_load_peer.py write PTH
      torch.save of a ViT-B/16 state dict (bench/torch_models.py's DINO
      VisionTransformer at dim 768, depth 12, 12 heads: DINO's vitb16);
  python3 bench/checkpoint_load_peer.py time PTH SAFETENSORS RUNS
      prints 'name seconds' for the best of RUNS loads by each peer:
      torch.load of the .pth, and the safetensors file read without the
      safetensors package (not installed here): its JSON header, one read of
      the data, torch.frombuffer views (no per-tensor copy)."""
import gc
import json
import os
import struct
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
          "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8, "BOOL": torch.bool}


def write(path):
    torch.manual_seed(0)
    model = torch_models.VisionTransformer(patch_size=16, embed_dim=768, depth=12, num_heads=12)
    torch.save(model.state_dict(), path)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = bytearray(os.fstat(f.fileno()).st_size - 8 - n)
        f.readinto(data)
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        start, end = e["data_offsets"]
        dtype = DTYPES[e["dtype"]]
        count = (end - start) // torch.empty(0, dtype=dtype).element_size()
        t = torch.frombuffer(data, dtype=dtype, count=count, offset=start) if count else torch.empty(0, dtype=dtype)
        out[name] = t.view(e["shape"])
    return out


def best(runs, fn):
    times = []
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        sd = fn()
        times.append(time.perf_counter() - t0)
        del sd
    return min(times)


def main():
    torch.set_num_threads(2)
    if sys.argv[1] == "write":
        write(sys.argv[2])
        return
    pth, st, runs = sys.argv[2], sys.argv[3], int(sys.argv[4])
    print("torch.load_pth", best(runs, lambda: torch.load(pth)))
    print("python_safetensors_by_hand", best(runs, lambda: read_safetensors(st)))


if __name__ == "__main__":
    main()
