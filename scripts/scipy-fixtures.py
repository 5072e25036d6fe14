#!/usr/bin/env python3
"""Reference values for src/analysis, computed independently with SciPy.

Writes test/fixtures/scipy-*.json. Run from the repository root:

    python3 scripts/scipy-fixtures.py

The mixture e-value here is computed the long way (ratios of binomial log-pmfs from
scipy.stats.binom, combined with scipy.special.logsumexp), not with the closed form the
TypeScript uses, so agreement checks the algebra as well as the arithmetic.
"""
import json
import math
import os
import sys

import numpy as np
import scipy
from scipy import stats
from scipy.special import logsumexp

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures")
rng = np.random.default_rng(20261123)


def write(name, payload):
    payload = {"generator": "scripts/scipy-fixtures.py", "scipy": scipy.__version__, **payload}
    path = os.path.join(OUT, f"scipy-{name}.json")
    with open(path, "w") as f:
        json.dump(payload, f, indent=1, allow_nan=False)
        f.write("\n")
    print(f"wrote {os.path.relpath(path)}", file=sys.stderr)


def f(x):
    """JSON has no infinities; -inf is written as null."""
    x = float(x)
    return None if math.isinf(x) else x


# --- binomial ---------------------------------------------------------------------------------
logpmf = []
for k, n, p in [
    (0, 0, 0.3), (0, 10, 0.01), (3, 10, 0.01), (10, 10, 0.5), (1, 60, 0.001), (7, 6000, 0.001),
    (50, 100, 0.5), (0, 100000, 1e-5), (250, 100000, 0.0025), (12, 5, 0.5), (2, 4, 0.0), (4, 4, 1.0),
    (1, 1, 0.999999), (1234, 5000, 0.25), (3, 1000000, 1e-6),
]:
    logpmf.append({"k": k, "n": n, "p": p, "value": f(stats.binom.logpmf(k, n, p))})

upper = []
for k, n, p in [
    (0, 10, 0.1), (1, 10, 0.1), (5, 10, 0.1), (10, 10, 0.1), (3, 7, 0.01), (20, 40, 0.05),
    (12, 1000, 0.01), (60, 1200, 0.02), (2, 2, 0.5), (30, 31, 0.5), (40, 60, 0.3),
]:
    upper.append({"k": k, "n": n, "p": p, "value": float(stats.binom.sf(k - 1, n, p))})

binomtest = []
for x, n, p in [(3, 7, 0.01), (2, 12, 0.05), (0, 5, 0.2), (9, 40, 0.05), (25, 400, 0.05), (1, 1, 0.5), (14, 15, 0.5), (6, 106, 0.0566)]:
    for alt in ["greater", "less"]:
        binomtest.append({"x": x, "n": n, "p": p, "alternative": alt, "pvalue": float(stats.binomtest(x, n, p, alternative=alt).pvalue)})

write("binomial", {"logpmf": logpmf, "upperTail": upper, "binomtest": binomtest})

# --- normal -----------------------------------------------------------------------------------
write(
    "normal",
    {
        "ppf": [{"p": p, "value": float(stats.norm.ppf(p))} for p in [1e-12, 1e-6, 0.001, 0.005, 0.025, 0.1, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999999]],
        "sf": [{"z": z, "value": float(stats.norm.sf(z))} for z in [-5, -1.5, 0, 0.5, 1.6448536269514722, 2.5, 5, 8.5, 12, 30]],
    },
)


# --- two-proportion z-test (pooled, one-sided) --------------------------------------------------
def ztest(ce, ct, be, bt, direction):
    p1, p2 = ce / ct, be / bt
    pooled = (ce + be) / (ct + bt)
    var = pooled * (1 - pooled) * (1 / ct + 1 / bt)
    if var <= 0:
        return 1.0
    z = (p1 - p2) / math.sqrt(var)
    return float(stats.norm.sf(z if direction == "higher" else -z))


zcases = []
for ce, ct, be, bt in [(5, 600, 60, 59400), (1, 60, 6, 5940), (0, 300, 30, 29700), (30, 3000, 30, 3000), (12, 1500, 40, 28500), (3, 100, 800, 99900)]:
    for direction in ["higher", "lower"]:
        zcases.append({"canary": {"events": ce, "total": ct}, "baseline": {"events": be, "total": bt}, "worseWhen": direction, "pvalue": ztest(ce, ct, be, bt, direction)})
write("ztest", {"cases": zcases})

# --- Mann-Whitney U (one-sided, "greater") ------------------------------------------------------
mwu = []
for n, m, shift, ties in [(5, 5, 0.0, False), (10, 10, 1.0, False), (10, 10, 0.0, False), (8, 12, 0.5, False), (20, 20, 0.8, False),
                          (40, 40, 0.3, False), (60, 60, 0.2, False), (10, 10, 0.5, True), (30, 25, 0.4, True), (3, 9, 2.0, False)]:
    x = rng.normal(100 + 20 * shift, 20, n)
    y = rng.normal(100, 20, m)
    if ties:
        x, y = np.round(x / 10) * 10, np.round(y / 10) * 10
    x, y = [float(v) for v in x], [float(v) for v in y]
    has_ties = len(set(x + y)) < len(x + y)
    method = "exact" if (not has_ties and n * m <= 2500) else "asymptotic"
    res = stats.mannwhitneyu(x, y, alternative="greater", method=method)
    mwu.append({"x": x, "y": y, "method": method, "u": float(res.statistic), "pvalue": float(res.pvalue)})
write("mannwhitney", {"cases": mwu})

# --- mixture e-value ----------------------------------------------------------------------------
GRID = np.geomspace(1.05, 1000.0, 40)


def mixture(minutes, direction):
    ratios = GRID if direction == "higher" else 1.0 / GRID
    sums = np.zeros(len(ratios))
    log_e, max_log_e = 0.0, 0.0
    for (ce, ct, be, bt) in minutes:
        n = ce + be
        if ct == 0 or bt == 0 or n == 0:
            continue
        rho = ct / (ct + bt)
        q = rho * ratios / (rho * ratios + 1 - rho)
        sums += stats.binom.logpmf(ce, n, q) - stats.binom.logpmf(ce, n, rho)
        log_e = float(logsumexp(sums) - math.log(len(ratios)))
        max_log_e = max(max_log_e, log_e)
    return log_e, max_log_e


def draw_minutes(count, rps, share, p0, p1, share_after=None, incident=None):
    out = []
    for i in range(count):
        s = share if share_after is None or i < count // 2 else share_after
        total = int(rng.poisson(rps * 60))
        ct = int(rng.binomial(total, s))
        bt = total - ct
        a, b = (p1, p0) if incident is None or not (incident[0] <= i < incident[1]) else (0.05, 0.05)
        out.append((int(rng.binomial(ct, a)), ct, int(rng.binomial(bt, b)), bt))
    return out


scenarios = {
    "aa-1pct": draw_minutes(30, 100, 0.01, 0.001, 0.001),
    "regression-1pct": draw_minutes(30, 100, 0.01, 0.001, 0.006),
    "regression-rho-change": draw_minutes(30, 50, 0.01, 0.002, 0.01, share_after=0.25),
    "improvement": draw_minutes(20, 200, 0.05, 0.01, 0.002),
    "incident-both": draw_minutes(20, 100, 0.05, 0.001, 0.001, incident=(5, 10)),
    "zero-and-gaps": [(0, 0, 0, 6000), (0, 60, 0, 5940), (1, 60, 0, 0), (2, 55, 0, 5900), (0, 0, 0, 0), (1, 61, 1, 5800)],
    "large-counts": draw_minutes(10, 2000, 0.5, 0.02, 0.021),
}
evalues = []
for name, minutes in scenarios.items():
    for direction in ["higher", "lower"]:
        log_e, max_log_e = mixture(minutes, direction)
        evalues.append({
            "name": name,
            "worseWhen": direction,
            "minutes": [{"canary": {"events": ce, "total": ct}, "baseline": {"events": be, "total": bt}} for ce, ct, be, bt in minutes],
            "logEValue": log_e,
            "maxLogEValue": max_log_e,
        })
write("evalue", {"grid": {"min": 1.05, "max": 1000.0, "points": 40}, "cases": evalues})


# --- band prior mixture -------------------------------------------------------------------------
# The same test with predictable weights: a half-normal in log r (spread 1.2 above, 0.5 below)
# peaked at the band ratio, recomputed each minute from the pooled rate of both sides over every
# minute with traffic (that minute included), and the e-process as the product of per-minute ratios of weighted mixtures.
SPREAD_ABOVE, SPREAD_BELOW = 1.2, 0.5


def band_ratio(direction, rate, band):
    if direction == "higher":
        return 1 + band / rate if rate > 0 else math.inf
    return rate / (rate - band) if band < rate else math.inf


def band_log_weights(direction, rate, band):
    log_grid = np.log(GRID)
    rb = band_ratio(direction, rate, band)
    centre = log_grid[-1] if not math.isfinite(rb) else min(log_grid[-1], max(log_grid[0], math.log(rb)))
    d = log_grid - centre
    spread = np.where(d >= 0, SPREAD_ABOVE, SPREAD_BELOW)
    w = -(d ** 2) / (2 * spread ** 2)
    return w - logsumexp(w)


def band_mixture(minutes, direction, band):
    ratios = GRID if direction == "higher" else 1.0 / GRID
    sums = np.zeros(len(ratios))
    log_e, max_log_e = 0.0, 0.0
    pooled_events, pooled_total = 0, 0
    for (ce, ct, be, bt) in minutes:
        n = ce + be
        # The pooled rate counts every minute with traffic, those without events too.
        if ct + bt > 0:
            pooled_events += n
            pooled_total += ct + bt
        if ct == 0 or bt == 0 or n == 0:
            continue
        log_w = band_log_weights(direction, pooled_events / pooled_total, band)
        rho = ct / (ct + bt)
        q = rho * ratios / (rho * ratios + 1 - rho)
        new = sums + stats.binom.logpmf(ce, n, q) - stats.binom.logpmf(ce, n, rho)
        log_e += float(logsumexp(log_w + new) - logsumexp(log_w + sums))
        sums = new
        max_log_e = max(max_log_e, log_e)
    return log_e, max_log_e


band_cases = []
for name, minutes in scenarios.items():
    for direction, band in [("higher", 0.0025), ("lower", 0.0025), ("lower", 0.0005), ("higher", 0.01)]:
        log_e, max_log_e = band_mixture(minutes, direction, band)
        band_cases.append({
            "name": name,
            "worseWhen": direction,
            "band": band,
            "minutes": [{"canary": {"events": ce, "total": ct}, "baseline": {"events": be, "total": bt}} for ce, ct, be, bt in minutes],
            "logEValue": log_e,
            "maxLogEValue": max_log_e,
        })
write("evalue-band", {"grid": {"min": 1.05, "max": 1000.0, "points": 40}, "spread": {"above": SPREAD_ABOVE, "below": SPREAD_BELOW}, "cases": band_cases})


# --- power helper -------------------------------------------------------------------------------
def required(p0, p1, rho, alpha, power, band, prior="wide"):
    ratios = GRID if p1 >= p0 else 1.0 / GRID
    if prior == "band" and band > 0:
        log_w = band_log_weights("higher" if p1 >= p0 else "lower", p0 * (1 - rho) + p1 * rho, band / 100)
    else:
        log_w = np.full(len(GRID), -math.log(len(GRID)))
    z = float(stats.norm.ppf(power))
    comp = (1 - rho) / rho
    best, median = math.inf, math.inf
    for k, r in enumerate(ratios):
        b = math.log(1 / alpha) - float(log_w[k])
        lr, L = math.log(r), math.log(1 + rho * (r - 1))
        d = p1 * lr - (p1 + p0 * comp) * L
        if d <= 0:
            continue
        v = p1 * (1 - p1) * (lr - L) ** 2 + comp * p0 * (1 - p0) * L ** 2
        best = min(best, ((z * math.sqrt(v) + math.sqrt(z * z * v + 4 * d * b)) / (2 * d)) ** 2)
        median = min(median, (math.sqrt(4 * d * b) / (2 * d)) ** 2)
    gap = abs(p1 - p0) - band / 100
    var = p1 * (1 - p1) + p0 * (1 - p0) / comp
    band_n = max(1.0, max(z, 0) ** 2 * var / gap ** 2) if gap > 0 else math.inf
    return {"testRequests": f(best), "bandRequests": f(band_n), "medianRequests": f(max(median, 1 if gap > 0 else math.inf))}


power = []
for p0, p1, rho, alpha, pw, band in [
    (0.001, 0.006, 0.01, 0.005, 0.8, 0.25), (0.001, 0.006, 0.05, 0.005, 0.8, 0.25), (0.001, 0.006, 0.5, 0.005, 0.9, 0.25),
    (0.01, 0.015, 0.01, 0.01, 0.8, 0.25), (0.05, 0.04, 0.1, 0.005, 0.8, 0.5), (0.0, 0.01, 0.01, 0.005, 0.5, 0.0),
]:
    power.append({"baselineRate": p0, "canaryRate": p1, "canaryShare": rho, "alpha": alpha, "power": pw, "rollbackBand": band, **required(p0, p1, rho, alpha, pw, band)})
for p0, p1, rho, alpha, pw, band in [
    (0.001, 0.006, 0.01, 0.005, 0.8, 0.25), (0.001, 0.006, 0.05, 0.005, 0.5, 0.25), (0.01, 0.015, 0.25, 0.01, 0.8, 0.25),
    (0.05, 0.04, 0.1, 0.005, 0.8, 0.5), (0.001, 0.0035, 0.01, 0.01, 0.8, 0.25),
]:
    power.append({"prior": "band", "baselineRate": p0, "canaryRate": p1, "canaryShare": rho, "alpha": alpha, "power": pw, "rollbackBand": band, **required(p0, p1, rho, alpha, pw, band, "band")})
write("power", {"cases": power})


# --- final look at maxHold (gate.ts finalLookTest) ----------------------------------------------
# The canary's events over the window against Binomial(N, rho*), rho* = sum n_i rho_i / N, with
# counts divided by the dispersion phi (Rao-Scott): P(X >= x) continued to real counts is
# I_rho(x / phi, (N - x) / phi + 1), scipy.special.betainc(a, b, rho). With phi = 1 it is
# checked against scipy.stats.binomtest as well. The dispersion gets the tail margin
# 1 + (phi - 1) max(2, 1 + 0.4 log(1 / rho)) first.
from scipy.special import betainc

final_rng = np.random.default_rng(20261203)


def final_look(minutes, phi, worse):
    x = n = mean = 0.0
    for ce, ct, be, bt in minutes:
        if ct == 0 or bt == 0 or ce + be == 0:
            continue
        x += ce
        n += ce + be
        mean += (ce + be) * ct / (ct + bt)
    if n == 0:
        return 1.0, 0.0
    rho = mean / n
    # the tail margin on the dispersion (gate.ts finalLookDispersion)
    phi = 1.0 if phi <= 1 else 1 + (phi - 1) * max(2.0, 1 + 0.4 * math.log(1 / rho))
    if worse == "higher":
        k, m, p = x / phi, n / phi, rho
    else:
        k, m, p = (n - x) / phi, n / phi, 1 - rho
    if k <= 0:
        return 1.0, rho
    return float(betainc(k, m - k + 1, p)), rho


final_cases = []
for share, rate_c, rate_b, count, phi, worse in [
    (0.01, 0.03, 0.02, 37, 1.0, "higher"), (0.01, 0.02, 0.02, 37, 1.0, "higher"), (0.05, 0.006, 0.001, 20, 1.0, "higher"),
    (0.01, 0.03, 0.02, 37, 2.7, "higher"), (0.25, 0.001, 0.001, 10, 4.3, "higher"), (0.5, 0.04, 0.05, 15, 1.0, "lower"),
    (0.1, 0.03, 0.05, 12, 1.8, "lower"), (0.01, 0.0001, 0.0001, 30, 1.0, "higher"),
]:
    minutes = []
    for _ in range(count):
        req = int(final_rng.poisson(6000))
        ct = int(final_rng.binomial(req, share))
        bt = req - ct
        minutes.append((int(final_rng.binomial(ct, rate_c)), ct, int(final_rng.binomial(bt, rate_b)), bt))
    # a minute with no canary traffic and one with no events: both carry no evidence
    minutes.append((0, 0, 3, 5000))
    minutes.append((0, 60, 0, 5940))
    pvalue, rho = final_look(minutes, phi, worse)
    case = {
        "phi": phi, "worseWhen": worse, "rho": rho, "pvalue": pvalue,
        "minutes": [{"canary": {"events": ce, "total": ct}, "baseline": {"events": be, "total": bt}} for ce, ct, be, bt in minutes],
    }
    if phi == 1.0:
        x = sum(m[0] for m in minutes if m[1] and m[3])
        n = sum(m[0] + m[2] for m in minutes if m[1] and m[3])
        case["binomtest"] = float(stats.binomtest(int(x), int(n), rho, alternative="greater" if worse == "higher" else "less").pvalue)
    final_cases.append(case)

real_tail = []
for k, n, p in [(3.0, 10.0, 0.1), (2.5, 9.3, 0.1), (0.4, 20.0, 0.01), (40.0 / 2.7, 2400.0 / 2.7, 0.0101), (7.7, 7.7, 0.5), (12.2, 400.5, 0.01)]:
    real_tail.append({"k": k, "n": n, "p": p, "value": float(betainc(k, n - k + 1, p))})
write("final-look", {"cases": final_cases, "realTail": real_tail})
