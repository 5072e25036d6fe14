#!/usr/bin/env python3
"""The dispersion margin of src/analysis/sequential.ts (DISPERSION_MARGIN_SLOPE), recomputed.

A cluster of B events lands wholly on the canary (probability rho) or the baseline. Tempering a
minute's likelihood ratio by 1/phi gives the cluster the factor rho f_c^(B/phi) + (1 - rho) f_b^(B/phi)
with f_c = r / (1 + rho (r - 1)) and f_b = 1 / (1 + rho (r - 1)). For geometric cluster sizes this
prints, per mean size, traffic share and ratio r, the smallest phi whose mean factor is at most 1,
beside the size-biased mean size 2b - 1 and the margin the code applies, 1 + (2b - 2)(1 + 0.4 log f).
Run: python3 scripts/dispersion-margin.py
"""
import math

def mean_factor(b, rho, r, phi):
    lfc = math.log(r / (1 + rho * (r - 1)))
    lfb = -math.log(1 + rho * (r - 1))
    q = 1 / b
    s = 0.0
    for size in range(1, 5000):
        lp = math.log(q) + (size - 1) * math.log(1 - q)
        if lp < -700:
            break
        a = lp + math.log(rho) + lfc * size / phi
        if a > 700:
            return float("inf")
        s += math.exp(a) + math.exp(lp + math.log(1 - rho) + lfb * size / phi)
    return s

def needed(b, rho, r):
    lo, hi = 0.5, 5000.0
    if mean_factor(b, rho, r, lo) <= 1:
        return lo
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if mean_factor(b, rho, r, mid) <= 1:
            hi = mid
        else:
            lo = mid
    return hi

RATIOS = [1.1, 1.5, 2, 3.5, 6, 10, 30, 100, 1000]
print("mean burst, rho, size-biased mean: needed phi / applied phi for r in", RATIOS)
for b in [2, 5, 20]:
    for rho in [0.01, 0.05, 0.25, 0.5]:
        cells = []
        for r in RATIOS:
            logf = max(math.log(r / (1 + rho * (r - 1))), math.log(1 + rho * (r - 1)), 0)
            applied = 1 + (2 * b - 2) * (1 + 0.4 * logf)
            cells.append(f"{needed(b, rho, r):.1f}/{applied:.1f}")
        print(b, rho, 2 * b - 1, " ".join(cells))
