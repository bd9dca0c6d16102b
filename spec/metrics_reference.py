"""Prints the PyTorch/NumPy reference numbers quoted in spec/metrics_spec.lua.

Run with Debian's python3 (torch 1.13, numpy): /usr/bin/python3 spec/metrics_reference.py
The specs never need it. It replicates OML 4.x's formulas (oml/utils/misc_torch.py
PCA._fit and calc_principal_axes_number; oml/functional/metrics.py calc_fnmr_at_fmr's
np.quantile) rather than importing OML, which is not installed here.
"""
import numpy as np
import torch

# calc_fnmr_at_fmr's thresholds: np.quantile (linear), and torch.quantile agrees
neg = np.array([1.0, 2.0, 4.0, 8.0])
print("np.quantile", np.quantile(neg, [0.3, 0.75, 1 / 3]))
print("torch.quantile", torch.quantile(torch.tensor(neg), torch.tensor([0.3, 0.75, 1 / 3], dtype=torch.float64)))

# calc_pcf on the spec's 40 x 6 matrix: a Park-Miller stream from seed 7,
# value/(2^31 - 1) - 0.5, scaled per column
n, d, seed = 40, 6, 7
values = []
for _ in range(n * d):
    seed = (seed * 16807) % 2147483647
    values.append(seed / 2147483647 - 0.5)
x = torch.tensor(values, dtype=torch.float64).view(n, d) * torch.tensor([3.0, 2.0, 1.5, 1.0, 0.5, 0.25])
x = x.float()
centred = x - x.mean(dim=0, keepdim=True)
_, singular, _ = torch.linalg.svd(centred, full_matrices=False)
explained = singular**2 / (n - 1)
cumulative = torch.cumsum(explained / explained.sum(), dim=0)
shares = [0.0, 0.3, 0.5, 0.7, 0.9, 0.99, 1.0]
n_components = torch.searchsorted(cumulative, torch.tensor(shares), side="right") + 1
print("pcf", (n_components / d).tolist())
