"""Checks Pulse's drift functions against scipy and numpy (run by tests/e2e/drift_stats.sh).

Connects with psycopg2.connect("") (libpq settings from the environment) to a database where
`create extension pulse` is done. Prints TAP lines "ok - name" / "not ok - name: why", then the
plan "1..N" (at the end: the number of checks depends on the data) and a summary line, and exits
1 on any failure. Every expected value comes from scipy 1.17 / numpy, or from the contract's own
definitions (the order-preserving float key, the bucket level, the bin edges) written out in numpy
below; none comes from Pulse.

Sections (each fails on its own; an unexpected error is one failed check):
  A  drift_ks_exact against scipy.stats.ks_2samp
  B  numeric profiles: the JSON against numpy, drift_summary, drift_ks / drift_wasserstein exact
     (<= 4096 distinct values) and sketched (>= 100k continuous rows)
  C  drift_bins, and drift_psi / drift_js / drift_chi2 on numeric profiles
  D  categorical profiles, drift_categories, chi2 / js / psi / ztest
  E  drift_test: default test choice (Evidently's rules), thresholds, overrides
  F  drift_profile_query and drift_report
  G  parallel aggregation, drift_profile_merge, catalog flags
  H  profile size does not grow with the rows
  I  bad input (exact SQLSTATEs, never XX000), NaN / infinities counted apart, constant data

Tolerances (|got - want| <= max(rel * |want|, abs)), each also stated where it is used:
  REL = 1e-9      statistics and p-values against scipy: the same formulas, evaluated by other
                  code in another summation order;
  P_ABS = 1e-300  a p-value that underflows: 0 against a denormal is agreement;
  TAIL_REL = 1e-6 for a reference p-value below 1e-12: in the far tail scipy (boost / cephes) and
                  Pulse evaluate the chi-square / Kolmogorov tails with different special-function
                  approximations, which there agree to ~1e-8 rather than to the last bits (the
                  convention of tests/experiments/check_stats.py);
  PSI_REL = 1e-12 PSI is a sum of non-negative terms (r - c) ln(r / c): no cancellation;
  JS_REL = 1e-9   the Jensen-Shannon divergence sums rel_entr terms of both signs that cancel to
                  second order for close distributions, so ulp errors are amplified;
  Z_P_ABS = 1e-15 the z-test's 2 (1 - Phi(|z|)) is only representable to ~2.2e-16 absolute;
  MERGE_REL = 1e-12  mean / m2 of serial vs parallel vs merged profiles (same data, other order);
  sketch (>= 100k continuous rows, buckets of level > 0): |KS - KS_exact| <= 0.01 and the KS
                  bounds of the contract; W1 within 1 % of scipy and within the contract's bound.
"""
import io
import json
import math
import os
import re
import sys
import warnings
from collections import Counter

import numpy as np
import psycopg2
from scipy import stats
from scipy.spatial.distance import jensenshannon

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "experiments"))
import tap  # noqa: E402

REL, P_ABS, TAIL, TAIL_REL = 1e-9, 1e-300, 1e-12, 1e-6
PSI_REL, JS_REL, Z_P_ABS, MERGE_REL = 1e-12, 1e-9, 1e-15, 1e-12
TINY = 1e-15         # absolute floor for statistics that are exactly 0 (identical samples)
SKETCH_KS = 0.01     # the brief's bound on |KS_sketch - KS_exact| at >= 100k rows
SKETCH_W_REL = 0.01  # the brief's bound on the sketched W1's relative error at >= 100k rows
SKETCH_EXACT = 1e-12  # the sketched KS from numpy's buckets: both divide the same integers
MAX_BUCKETS, MAX_CATEGORIES = 4096, 1000
PSI_EPS = 1e-4       # Evidently's epsilon for an empty share (contract)
DEFAULT_THRESHOLD = {"ks": 0.05, "chi2": 0.05, "ztest": 0.05, "wasserstein": 0.1, "psi": 0.1, "js": 0.1}
P_TESTS = {"ks", "chi2", "ztest"}
SIGN = np.uint64(1 << 63)
NAN, INF = float("nan"), float("inf")

# ---- TAP: tap.check plus a count, for the plan and summary lines --------------------------------
_checks = _failed = 0


def check(name, ok, why=""):
    global _checks, _failed
    _checks += 1
    _failed += 0 if ok else 1
    tap.check(name, ok, why)


def run(sections):
    """Like tap.run (a section that raises is one failed check, the others still run), then the
    plan and a summary."""
    for section, args in sections:
        try:
            section(*args)
        except Exception as e:  # noqa: BLE001 - reported as a failed check
            check(f"{section.__name__} ran to the end", False, f"{type(e).__name__}: {e}".strip())
    print(f"1..{_checks}")
    print(f"# {_checks} checks, {_checks - _failed} passed, {_failed} failed")
    sys.exit(1 if _failed else 0)


# ---- comparisons ---------------------------------------------------------------------------------
def close(got, want, rel=REL, abs_=0.0):
    """Numbers within max(rel * |want|, abs_); infinities, strings, booleans and NULL (None) only
    equal themselves."""
    if got is None or want is None:
        return got is None and want is None
    if isinstance(got, (str, bool, list, dict)) or isinstance(want, (str, bool, list, dict)):
        return got == want
    got, want = float(got), float(want)
    if math.isnan(got) or math.isnan(want) or math.isinf(got) or math.isinf(want):
        return got == want
    return abs(got - want) <= max(rel * abs(want), abs_)


def show(v):
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.10g}"
    return repr(v.item() if isinstance(v, np.generic) else v)


def exact(label, got, want):
    return label, got, want, 0.0, 0.0


def num(label, got, want, rel=REL, abs_=TINY):
    return label, got, want, rel, abs_


def pval(label, got, want, abs_=P_ABS):
    """A p-value: REL, or TAIL_REL below 1e-12 (see the module docstring), or abs_."""
    return label, got, want, (TAIL_REL if want is not None and want < TAIL else REL), abs_


def compare(name, *items):
    """One check: every (label, got, want, rel, abs) agrees; the line shows got vs expected."""
    shown, bad = [], []
    for label, got, want, rel, abs_ in items:
        shown.append(f"{label} {show(got)} vs {show(want)}")
        if not close(got, want, rel, abs_):
            bad.append(f"{label}: got {got!r}, expected {want!r} (rel {rel:g}, abs {abs_:g})")
    check(f"{name} [got vs expected: {'; '.join(shown)}]", not bad, "; ".join(bad))


def sqlstate(cur, sql, args=()):
    try:
        cur.execute(sql, args)
        cur.fetchall()
        return "no error", ""
    except psycopg2.Error as e:
        return e.pgcode, (e.pgerror or "").strip()


def expect_error(cur, name, sql, code, args=(), message_has=None):
    got, msg = sqlstate(cur, sql, args)
    ok = got == code and (message_has is None or message_has in msg)
    why = f"got {got}, expected {code}" + (" (internal error)" if got == "XX000" else "")
    if message_has is not None:
        why += f"; message {msg!r} should name {message_has!r}"
    check(f"{name} raises {code} [got {got}]", ok, why)


def one(cur, sql, args=()):
    cur.execute(sql, args)
    return cur.fetchone()


def rows(cur, sql, args=()):
    cur.execute(sql, args)
    return cur.fetchall()


def dicts(cur, sql, args=()):
    cur.execute(sql, args)
    names = [d.name for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


# ---- the contract's buckets, in numpy ------------------------------------------------------------
def float_keys(x):
    """Order-preserving u64 key (contract): -0.0 -> +0.0; negative -> !bits, else bits | 1<<63."""
    bits = (np.asarray(x, dtype=np.float64) + 0.0).view(np.uint64)  # -0.0 + 0.0 == +0.0
    return np.where(bits >= SIGN, ~bits, bits | SIGN)


def key_floats(keys):
    """The float whose key is `keys` (inverse of float_keys)."""
    keys = np.asarray(keys, dtype=np.uint64)
    return np.where(keys >= SIGN, keys & ~SIGN, ~keys).view(np.float64)


def n_buckets(sorted_keys, level):
    if len(sorted_keys) == 0:
        return 0
    s = sorted_keys >> np.uint64(level)
    return 1 + int(np.count_nonzero(s[1:] != s[:-1]))


def contract_level(sorted_keys):
    """Smallest L >= 0 with <= 4096 non-empty buckets (the count only falls as L grows)."""
    lo, hi = 0, 63  # at 63 there are at most 2 buckets; a shift by 64 is undefined in numpy
    while lo < hi:
        mid = (lo + hi) // 2
        if n_buckets(sorted_keys, mid) <= MAX_BUCKETS:
            hi = mid
        else:
            lo = mid + 1
    return lo


class Sample:
    """One side of a data set as the contract says Pulse sees it: the special values counted apart,
    the finite values, and their buckets at the contract's level (all numpy)."""

    def __init__(self, values):
        if isinstance(values, np.ndarray):
            raw, self.nulls = values.astype(np.float64), 0
        else:
            raw = np.array([v for v in values if v is not None], dtype=np.float64)
            self.nulls = len(values) - len(raw)
        self.nans = int(np.isnan(raw).sum())
        self.pos_inf, self.neg_inf = int(np.isposinf(raw).sum()), int(np.isneginf(raw).sum())
        self.x = raw[np.isfinite(raw)]
        self.n = len(self.x)
        self.keys = np.sort(float_keys(self.x))
        self.level = contract_level(self.keys)
        idx, cnt = np.unique(self.keys >> np.uint64(self.level), return_counts=True)
        self.buckets = [[int(i), int(c)] for i, c in zip(idx, cnt)]
        self.distinct = len(np.unique(self.keys))
        self.exact = self.level == 0

    def at(self, level):
        """(bucket indices, counts) at a coarser level."""
        return np.unique(self.keys >> np.uint64(level), return_counts=True)


def sketch_ks(sr, sc):
    """The contract's sketched KS: max |F_ref - F_cur| over the common level's bucket boundaries;
    also the largest bucket share on either side (the contract's bound on its error)."""
    level = np.uint64(max(sr.level, sc.level))
    br, bc = sr.keys >> level, sc.keys >> level  # sorted, as the keys are
    grid = np.union1d(br, bc)
    fr = np.searchsorted(br, grid, side="right") / sr.n
    fc = np.searchsorted(bc, grid, side="right") / sc.n
    mass_r = np.diff(np.concatenate([[0], np.searchsorted(br, grid, side="right")])) / sr.n
    mass_c = np.diff(np.concatenate([[0], np.searchsorted(bc, grid, side="right")])) / sc.n
    return float(np.max(np.abs(fr - fc))), float(max(mass_r.max(), mass_c.max()))


def wasserstein_bound(sr, sc):
    """The contract's bound on |W_sketch - W_exact|: sum over common buckets of width * (p_ref +
    p_cur), widths clamped to the union's [min, max] (a superset of each profile's clamp)."""
    level = np.uint64(max(sr.level, sc.level))
    (ir, cr), (ic, cc) = sr.at(level), sc.at(level)
    grid = np.union1d(ir, ic)
    pr, pc = np.zeros(len(grid)), np.zeros(len(grid))
    pr[np.searchsorted(grid, ir)] = cr / sr.n
    pc[np.searchsorted(grid, ic)] = cc / sc.n
    lo_all, hi_all = min(sr.x.min(), sc.x.min()), max(sr.x.max(), sc.x.max())
    lo = np.clip(key_floats(grid << level), lo_all, hi_all)
    hi = np.clip(key_floats((grid + np.uint64(1)) << level), lo_all, hi_all)
    return float(np.sum((hi - lo) * (pr + pc)))


def count_in(x, lowers, uppers):
    """numpy counts of lower <= x < upper."""
    s = np.sort(x)
    return np.searchsorted(s, uppers, side="left") - np.searchsorted(s, lowers, side="left")


def expected_bins(sr, sc, bins):
    """drift_bins by the contract's rule: at the common level, edge i is the upper boundary of the
    first bucket where the reference's cumulative count reaches i/bins of n (cum * bins >= i * n);
    repeated edges and one at the end of the reference's last bucket are dropped."""
    level = np.uint64(max(sr.level, sc.level))
    idx, cnt = sr.at(level)
    cum = np.cumsum(cnt)
    edge_buckets = []
    for i in range(1, bins):
        j = int(np.argmax(cum * bins >= i * sr.n))
        if j == len(idx) - 1:
            break  # the end of the reference's last bucket (j only grows with i)
        if not edge_buckets or edge_buckets[-1] != idx[j]:
            edge_buckets.append(idx[j])
    edges = key_floats((np.array(edge_buckets, dtype=np.uint64) + np.uint64(1)) << level)
    lowers, uppers = np.concatenate([[-INF], edges]), np.concatenate([edges, [INF]])
    return lowers, uppers, count_in(sr.x, lowers, uppers), count_in(sc.x, lowers, uppers)


# ---- reference statistics ------------------------------------------------------------------------
def ks_ref(a, b):
    """scipy.stats.ks_2samp (two-sided, method auto) and any warning it gave (an exact p that
    scipy could not compute falls back to asymp)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = stats.ks_2samp(a, b)
    return float(r.statistic), float(r.pvalue), "; ".join(str(w.message) for w in caught)


def ks_asymp_p(d, n1, n2):
    """scipy's asymptotic p: kstwo.sf(d, round(n1 n2 / (n1 + n2))) (round half to even, as
    np.round in ks_2samp)."""
    return float(stats.kstwo.sf(d, round(n1 * n2 / (n1 + n2))))


def psi_ref(rc, cc, nr, nc):
    r, c = np.asarray(rc, float) / nr, np.asarray(cc, float) / nc
    r, c = np.where(r == 0, PSI_EPS, r), np.where(c == 0, PSI_EPS, c)
    return float(np.sum((r - c) * np.log(r / c)))


def js_ref(rc, cc, nr, nc):
    return float(jensenshannon(np.asarray(rc, float) / nr, np.asarray(cc, float) / nc))


def chi2_ref(rc, cc):
    table = np.array([rc, cc], dtype=float)
    table = table[:, table.sum(axis=0) > 0]  # columns empty on both sides are dropped
    if table.shape[1] < 2:
        return 0.0, 1.0
    r = stats.chi2_contingency(table, correction=False)
    return float(r.statistic), float(r.pvalue)


def ztest_ref(r0, nr, c0, nc):
    """Evidently's pooled two-proportion z on the first category's share; p = 2 (1 - Phi(|z|))
    (evaluated as 2 sf(|z|), which is what that formula means; see Z_P_ABS)."""
    pooled = (r0 + c0) / (nr + nc)
    if pooled in (0.0, 1.0):
        return 0.0, 1.0
    z = (r0 / nr - c0 / nc) / math.sqrt(pooled * (1 - pooled) * (1 / nr + 1 / nc))
    return z, float(2 * stats.norm.sf(abs(z)))


def category_rows(ref, cur, keep=MAX_CATEGORIES):
    """drift_categories by the contract: each side keeps its top `keep` categories (count desc,
    value asc), the rest pooled in "other"; union sorted by value, a missing category counts 0, and
    a final (None, other_ref, other_cur) row when either side has other > 0."""
    def kept(values):
        ranked = sorted(Counter(v for v in values if v is not None).items(), key=lambda kv: (-kv[1], kv[0]))
        return dict(ranked[:keep]), sum(c for _, c in ranked[keep:])
    (kr, other_r), (kc, other_c) = kept(ref), kept(cur)
    out = [(v, kr.get(v, 0), kc.get(v, 0)) for v in sorted(set(kr) | set(kc))]
    return out + ([(None, other_r, other_c)] if other_r or other_c else [])


def value_rows(sr, sc):
    """A numeric data set with <= 5 distinct values as categories: its values ascending."""
    values = np.union1d(sr.x + 0.0, sc.x + 0.0)
    return [(float(v), int(np.sum(sr.x == v)), int(np.sum(sc.x == v))) for v in values]


def table_stat(test, rows_, nr, nc):
    """(statistic, p_value) of a test over category rows."""
    rc, cc = [r for _, r, _ in rows_], [c for _, _, c in rows_]
    if test == "chi2":
        return chi2_ref(rc, cc)
    if test == "ztest":
        return ztest_ref(rc[0], nr, cc[0], nc)
    if test == "js":
        return js_ref(rc, cc, nr, nc), None
    if test == "psi":
        return psi_ref(rc, cc, nr, nc), None
    raise ValueError(f"no categorical reference for {test}")


def expected_test(ref, cur, text, test=None, threshold=None, thresholds=None, bins=10):
    """drift_test by the contract (Evidently's get_default_stattest), from the raw data. Numeric
    ks / wasserstein references assume exact profiles (<= 4096 distinct values per side)."""
    if text:
        kind, table = "categorical", category_rows(ref, cur)
        nr, nc = sum(v is not None for v in ref), sum(v is not None for v in cur)
        n_categories = len(table)
    else:
        sr, sc = Sample(ref), Sample(cur)
        nr, nc = sr.n, sc.n
        union = np.union1d(sr.x + 0.0, sc.x + 0.0)
        kind = "categorical" if sr.exact and sc.exact and len(union) <= 5 else "numeric"
        table = value_rows(sr, sc) if kind == "categorical" else None
        n_categories = len(union)
    if test is None:
        if nr <= 1000:
            test = "ks" if kind == "numeric" else ("chi2" if n_categories > 2 else "ztest")
        else:
            test = "wasserstein" if kind == "numeric" else "js"
    if kind == "categorical":
        statistic, p = table_stat(test, table, nr, nc)
    elif test == "ks":
        statistic, p, _ = ks_ref(sr.x, sc.x)
    elif test == "wasserstein":
        statistic, p = float(stats.wasserstein_distance(sr.x, sc.x) / np.std(sr.x)), None
    else:
        _, _, rc, cc = expected_bins(sr, sc, bins)
        statistic, p = table_stat(test, [(None, r, c) for r, c in zip(rc, cc)], nr, nc)
    if threshold is None:
        threshold = (thresholds or {}).get(test, DEFAULT_THRESHOLD[test])
    drifted = p < threshold if test in P_TESTS else statistic >= threshold
    return dict(kind=kind, test=test, statistic=statistic, p_value=p, threshold=threshold, drifted=drifted)


def test_items(got, want):
    """compare() items for a drift_test / drift_report row against expected_test."""
    p_abs = Z_P_ABS if want["test"] == "ztest" else P_ABS
    stat_rel = JS_REL if want["test"] == "js" else PSI_REL if want["test"] == "psi" else REL
    return [exact("kind", got["kind"], want["kind"]), exact("test", got["test"], want["test"]),
            num("statistic", got["statistic"], want["statistic"], stat_rel),
            pval("p_value", got["p_value"], want["p_value"], p_abs) if want["p_value"] is not None
            else exact("p_value", got["p_value"], None),
            num("threshold", got["threshold"], want["threshold"]), exact("drifted", got["drifted"], want["drifted"])]


# ---- loading -------------------------------------------------------------------------------------
def pg_float(v):
    if v is None:
        return r"\N"
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return repr(v)  # shortest round-trip text: float8in gives back the same double


def pg_text(v):
    if v is None:
        return r"\N"
    return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def values_list(values):
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def load_sides(cur, table, data, text=False):
    """A regular table (ds, side, value) with both sides ('r', 'c') of every data set, by COPY."""
    col = "v text" if text else "x float8"
    fmt = pg_text if text else pg_float
    cur.execute(f"drop table if exists {table}; create table {table} (ds text, side text, {col})")
    buf = io.StringIO()
    for ds, sides in data.items():
        for side, values in zip(("r", "c"), sides):
            buf.write("".join(f"{ds}\t{side}\t{fmt(v)}\n" for v in values_list(values)))
    buf.seek(0)
    cur.copy_expert(f"copy {table} from stdin", buf)
    cur.execute(f"analyze {table}")


def load_profiles(cur, source, table):
    """One row per data set with its two profiles, built by the aggregate over the loaded rows."""
    value = "x" if source == "drift_num" else "v"
    cur.execute(f"""drop table if exists {table};
                    create table {table} as
                      select ds, drift_profile({value}) filter (where side = 'r') ref,
                                 drift_profile({value}) filter (where side = 'c') cur
                        from {source} group by ds""")


# ---- data sets -----------------------------------------------------------------------------------
def ks_datasets():
    """(a, b) pairs for drift_ks_exact; lists may hold None (NULL), nan, +-inf."""
    rng, d = np.random.default_rng, {}
    r = rng(101)
    d["normal 500 vs 600"] = (r.normal(0, 1, 500), r.normal(0, 1, 600))
    r = rng(102)
    d["normal vs shifted +0.3, 500 vs 500"] = (r.normal(0, 1, 500), r.normal(0.3, 1, 500))
    r = rng(103)
    d["student t df=2, 400 vs 450"] = (r.standard_t(2, 400), r.standard_t(2, 450) + 0.2)
    r = rng(104)
    d["cauchy 800 vs 800"] = (r.standard_cauchy(800), r.standard_cauchy(800) * 1.2)
    r = rng(105)
    d["ties: integers 0..5, 300 vs 350"] = (r.integers(0, 6, 300).astype(float), r.integers(0, 6, 350).astype(float))
    d["tiny 1 vs 1"] = ([0.3], [0.8])
    d["tiny 1 vs 2"] = ([0.5], [0.7, 0.1])
    d["tiny 2 vs 3"] = ([1.0, 2.0], [3.0, 4.0, 5.0])
    r = rng(106)
    d["tiny 5 vs 5"] = (r.normal(0, 1, 5), r.normal(0.5, 1, 5))
    # scipy's exact p is 1 + 2e-16 here, so it falls back to asymp (p = 1): p = 1 either way
    d["tiny 5 vs 5 interleaved"] = ([0.0, 1, 2, 3, 4], [0.5, 1.5, 2.5, 3.5, 4.5])
    r = rng(107)
    d["equal sizes 1000 vs 1000"] = (r.normal(0, 1, 1000), r.normal(0.05, 1, 1000))
    r = rng(108)
    d["unequal sizes 1000 vs 700"] = (r.normal(0, 1, 1000), r.normal(0, 1.2, 700))
    r = rng(109)
    d["9000 vs 10000 (exact p)"] = (r.normal(0, 1, 9000), r.normal(0.02, 1, 10000))
    r = rng(110)
    d["10000 vs 10000 (exact p, the limit)"] = (r.normal(0, 1, 10000), r.normal(0.02, 1, 10000))
    r = rng(111)
    d["10001 vs 12000 (asymp p)"] = (r.normal(0, 1, 10001), r.normal(0.02, 1, 12000))
    r = rng(112)  # n1 n2 / (n1 + n2) = 5000.5: scipy's np.round gives 5000 (half to even)
    d["10001 vs 10001 (asymp p, round half to even)"] = (r.normal(0, 1, 10001), r.normal(0.03, 1, 10001))
    r = rng(113)
    same = r.normal(0, 1, 700)
    d["identical samples"] = (same, same.copy())
    r = rng(114)
    a = [None if i % 10 == 0 else v for i, v in enumerate(r.normal(0, 1, 400).tolist())]
    d["NULL elements ignored"] = (a, r.normal(0.2, 1, 300).tolist() + [None, None])
    r = rng(115)
    d["+-inf allowed"] = (r.normal(0, 1, 200).tolist() + [INF, -INF, -INF], r.normal(0.2, 1, 250).tolist() + [INF])
    return d


def numeric_datasets():
    """(reference, current) numeric data sets for sections B, C, E and I."""
    rng, d = np.random.default_rng, {}
    # exact profiles (<= 4096 distinct values per side)
    r = rng(201)
    d["exact_normal"] = (r.normal(0, 1, 2000), r.normal(0.3, 1, 2000))
    r = rng(202)
    d["exact_unequal"] = (r.normal(5, 2, 1500), r.normal(5.1, 2, 2500))
    r = rng(203)  # integer ties at n = 50,000 (asymp p); -0.0 must count as 0.0
    ref, cur = r.binomial(40, 0.5, 50000) - 20.0, r.binomial(40, 0.52, 50000) - 20.0
    ref[(ref == 0) & (r.random(50000) < 0.5)] = -0.0
    d["ties_50k"] = (ref, cur)
    r = rng(204)  # 4000 and 4096 distinct values: still exact
    d["distinct_4096"] = (r.integers(0, 4000, 50000).astype(float), r.integers(0, 4096, 60000).astype(float))
    d["distinct_4097"] = (np.arange(4097.0), np.arange(4096.0) + 0.5)  # reference not exact
    # >= 100k continuous rows: sketched profiles (level > 0)
    r = rng(211)
    d["large_normal"] = (r.normal(0, 1, 100000), r.normal(0.3, 1, 100000))
    r = rng(212)  # small drift: a p-value that does not underflow; n1 n2 / (n1 + n2) = 50000.5
    d["large_small_shift"] = (r.normal(0, 1, 100001), r.normal(0.01, 1, 100001))
    r = rng(213)
    d["large_lognormal"] = (r.lognormal(0, 1, 100000), r.lognormal(0.1, 1, 120000))
    r = rng(214)
    d["large_t3"] = (r.standard_t(3, 100000), 1.3 * r.standard_t(3, 100000))
    # heavy ties for drift_bins: one value holds 40 % of the reference (edges collapse), plus
    # NULL / NaN / +-inf that must stay out of every count
    r = rng(221)
    ref, cur = r.normal(0, 1, 3000), r.normal(0.2, 1, 3000)
    ref[:1200], cur[:600] = 0.0, 0.0
    d["ties40_small"] = (ref.tolist() + [None, None, NAN, INF, -INF], cur.tolist() + [None, INF, NAN])
    r = rng(222)
    ref, cur = r.normal(1.5, 1, 100000), r.normal(1.6, 1, 100000)
    ref[:40000], cur[:25000] = 1.5, 1.5
    d["ties40_large"] = (ref, cur)
    # drift_test's default choices
    r = rng(231)
    d["small_drift"] = (r.normal(0, 1, 800), r.normal(0.3, 1, 900))
    r = rng(232)
    d["small_same"] = (r.normal(0, 1, 800), r.normal(0, 1, 900))
    r = rng(233)  # 6 distinct values: still numeric (ks)
    d["six_values"] = (r.integers(0, 6, 500).astype(float), r.choice([0.0, 1, 2, 3, 4, 5], 600, p=[0.1, 0.1, 0.2, 0.2, 0.2, 0.2]))
    r = rng(234)  # 5 distinct values in the union (4 in the reference): categorical, chi2
    d["five_values"] = (r.integers(1, 5, 500).astype(float), r.integers(1, 6, 600).astype(float))
    r = rng(235)  # 3 values, small: chi2
    d["three_values"] = (r.choice([1.0, 2, 3], 500, p=[0.5, 0.3, 0.2]), r.choice([1.0, 2, 3], 600, p=[0.3, 0.3, 0.4]))
    r = rng(236)  # 0/1, small: ztest on the share of 0
    d["binary"] = ((r.random(600) < 0.3).astype(float), (r.random(700) < 0.45).astype(float))
    r = rng(237)  # reference {0, 1}, current {0, 1, 2}: 3 categories in the union, chi2
    d["union_three"] = (r.integers(0, 2, 500).astype(float), r.integers(0, 3, 600).astype(float))
    r = rng(238)  # 4 values, large: js
    d["four_values_large"] = (r.choice([1.0, 2, 3, 4], 3000, p=[0.1, 0.2, 0.3, 0.4]),
                              r.choice([1.0, 2, 3, 4], 3000, p=[0.25] * 4))
    d["const_both"] = (np.full(100, 5.0), np.full(80, 5.0))
    r = rng(239)
    d["const_ref"] = (np.full(50, 5.0), r.normal(5, 1, 60))
    d["specials"] = ([1.0, 2.0, NAN, INF, -INF, INF, None, 4.0], [0.5, 1.5, 2.5, None, -INF])
    d["single"] = ([7.0, None], [7.5, 8.0])
    return d


LARGE = ("large_normal", "large_small_shift", "large_lognormal", "large_t3")


def categorical_datasets():
    rng, d = np.random.default_rng, {}
    abcd = ["a", "b", "c", "d"]
    r = rng(301)
    d["cat4_small"] = (r.choice(abcd, 800, p=[0.4, 0.3, 0.2, 0.1]).tolist() + [None] * 7,
                       r.choice(abcd, 900, p=[0.25] * 4).tolist() + [None] * 3)
    r = rng(302)  # 'd' only in the reference, 'e' only in the current
    d["cat_oneside"] = (r.choice(abcd, 500).tolist(), r.choice(["a", "b", "c", "e"], 600).tolist())
    r = rng(303)
    d["cat2_small"] = (r.choice(["no", "yes"], 600, p=[0.7, 0.3]).tolist(), r.choice(["no", "yes"], 700, p=[0.55, 0.45]).tolist())
    r = rng(304)
    d["cat2_close"] = (r.choice(["no", "yes"], 600, p=[0.7, 0.3]).tolist(), r.choice(["no", "yes"], 700, p=[0.69, 0.31]).tolist())
    r = rng(305)  # 'yes' only in the current: still 2 categories in the union
    d["cat2_oneside"] = (["no"] * 300, r.choice(["no", "yes"], 400, p=[0.9, 0.1]).tolist())
    r = rng(306)
    d["cat_large"] = (r.choice(abcd, 3000, p=[0.4, 0.3, 0.2, 0.1]).tolist(), r.choice(abcd, 3000, p=[0.1, 0.2, 0.3, 0.4]).tolist())
    r = rng(307)
    d["cat_large_same"] = (r.choice(abcd, 3000, p=[0.4, 0.3, 0.2, 0.1]).tolist(), r.choice(abcd, 3000, p=[0.4, 0.3, 0.2, 0.1]).tolist())
    # 1500 categories: k0000..k0999 with 20..40 rows on both sides are kept, k1000..k1499 with
    # 1..5 rows are pooled in "other" on both sides (no category is kept on one side only)
    r = rng(308)
    names = [f"k{i:04d}" for i in range(1500)]
    def many(rg):
        counts = np.concatenate([rg.integers(20, 41, 1000), rg.integers(1, 6, 500)])
        return [v for v, c in zip(names, counts) for _ in range(c)]
    d["cat_many"] = (many(r), many(r))
    d["cat_single"] = (["x"] * 100, ["x"] * 50)
    return d


# ---- A: drift_ks_exact ---------------------------------------------------------------------------
def ks_exact_checks(cur):
    data = ks_datasets()
    keys = {name: f"k{i}" for i, name in enumerate(data)}
    load_sides(cur, "drift_ks_data", {keys[n]: ab for n, ab in data.items()})
    for name, (a, b) in data.items():
        got = one(cur, """select s.statistic, s.p_value
                            from (select array_agg(x) filter (where side = 'r') a, array_agg(x) filter (where side = 'c') b
                                    from drift_ks_data where ds = %s) d, drift_ks_exact(d.a, d.b) s""", (keys[name],))
        aa, bb = (np.array([v for v in values_list(s) if v is not None], float) for s in (a, b))
        d, p, warned = ks_ref(aa, bb)
        compare(f"A drift_ks_exact {name} (n {len(aa)} vs {len(bb)}) = ks_2samp" + (f" ({warned})" if warned else ""),
                num("statistic", got[0], d), pval("p_value", got[1], p))

    # The two sizes around 10,000 tell the methods apart: the references differ.
    a, b = data["9000 vs 10000 (exact p)"]
    d, p, _ = ks_ref(a, b)
    check(f"A reference: at 9000 vs 10000 the exact p ({p:.10g}) differs from asymp ({ks_asymp_p(d, 9000, 10000):.10g})",
          not close(p, ks_asymp_p(d, 9000, 10000), 1e-6))
    a, b = data["10001 vs 10001 (asymp p, round half to even)"]
    d, p, _ = ks_ref(a, b)
    half_up = float(stats.kstwo.sf(d, 5001))
    check(f"A reference: at 10001 vs 10001 scipy's p ({p:.10g}) uses n 5000, not 5001 ({half_up:.10g})",
          close(p, ks_asymp_p(d, 10001, 10001)) and not close(p, half_up, 1e-6))


# ---- B: numeric profiles -------------------------------------------------------------------------
def numeric_json_items(j, s):
    """compare() items for a numeric profile's JSON against numpy."""
    scale = max(abs(s.x.min()), abs(s.x.max())) if s.n else 0.0
    mean = float(s.x.mean()) if s.n else None
    m2 = float(np.sum((s.x - s.x.mean()) ** 2)) if s.n else None
    items = [exact("kind", j.get("kind"), "numeric"), exact("n", j.get("n"), s.n), exact("nulls", j.get("nulls"), s.nulls),
             exact("nans", j.get("nans"), s.nans), exact("pos_inf", j.get("pos_inf"), s.pos_inf),
             exact("neg_inf", j.get("neg_inf"), s.neg_inf), exact("level", j.get("level"), s.level),
             exact("bucket count", len(j.get("buckets") or []), len(s.buckets))]
    if s.n:
        # mean: 1e-9 relative, with an absolute floor of 1e-12 of the data's scale for means near 0
        items += [exact("min", j.get("min"), float(s.x.min())), exact("max", j.get("max"), float(s.x.max())),
                  num("mean", j.get("mean"), mean, REL, 1e-12 * scale), num("m2", j.get("m2"), m2, REL, 1e-12 * scale ** 2)]
    return items


def summary_items(sm, s):
    """compare() items for drift_summary of a numeric profile against numpy."""
    scale = max(abs(s.x.min()), abs(s.x.max())) if s.n else 0.0
    items = [exact("keys present", sorted({"kind", "count", "nulls", "nans", "pos_inf", "neg_inf", "mean", "stddev", "min",
                                           "max", "level", "buckets", "exact", "distinct"} - set(sm)), []),
             exact("kind", sm.get("kind"), "numeric"), exact("count", sm.get("count"), s.n),
             exact("nulls", sm.get("nulls"), s.nulls), exact("nans", sm.get("nans"), s.nans),
             exact("pos_inf", sm.get("pos_inf"), s.pos_inf), exact("neg_inf", sm.get("neg_inf"), s.neg_inf),
             exact("level", sm.get("level"), s.level), exact("buckets", sm.get("buckets"), len(s.buckets)),
             exact("exact", sm.get("exact"), s.distinct <= MAX_BUCKETS),
             exact("distinct", sm.get("distinct"), s.distinct if s.distinct <= MAX_BUCKETS else None)]
    if s.n:
        items += [exact("min", sm.get("min"), float(s.x.min())), exact("max", sm.get("max"), float(s.x.max())),
                  num("mean", sm.get("mean"), float(s.x.mean()), REL, 1e-12 * scale)]
    # stddev: sample (ddof = 1), NULL below 2 values
    items.append(num("stddev", sm.get("stddev"), float(np.std(s.x, ddof=1)) if s.n >= 2 else None))
    return items


def profile_checks(cur, num_data, samples):
    load_sides(cur, "drift_num", num_data)
    load_profiles(cur, "drift_num", "drift_num_prof")

    # The profile JSON and drift_summary of every side, against the contract's buckets in numpy.
    for ds in num_data:
        got = one(cur, """select ref::text, cur::text, drift_summary(ref), drift_summary(cur),
                                 ref::text::drift_profile::text = ref::text, cur::text::drift_profile::text = cur::text
                            from drift_num_prof where ds = %s""", (ds,))
        for side, text, summary, round_trip, s in (("reference", got[0], got[2], got[4], samples[ds][0]),
                                                    ("current", got[1], got[3], got[5], samples[ds][1])):
            j = json.loads(text)
            compare(f"B {ds} {side}: profile JSON equals numpy (n {s.n}, level {s.level}, {len(s.buckets)} buckets)",
                    *numeric_json_items(j, s))
            check(f"B {ds} {side}: buckets equal the contract's keys >> level in numpy, ascending",
                  j.get("buckets") == s.buckets, f"first buckets got {(j.get('buckets') or [])[:3]}, expected {s.buckets[:3]}")
            compare(f"B {ds} {side}: drift_summary equals numpy", *summary_items(summary, s))
            # coarsening one level at most halves the buckets, so level > 0 means more than 2048
            lo = 2048 if s.level > 0 else 0
            check(f"B {ds} {side}: {lo} < buckets <= 4096 [got {summary.get('buckets')}]",
                  isinstance(summary.get("buckets"), int) and lo < summary["buckets"] <= MAX_BUCKETS, f"{summary}")
            check(f"B {ds} {side}: text round trip gives the same text", round_trip is True, f"{round_trip}")

    # Integer and numeric arguments reach drift_profile(float8) by implicit casts.
    got = one(cur, """select drift_profile(i)::text = drift_profile(i::float8)::text,
                             drift_profile(i::numeric / 7)::text = drift_profile((i::numeric / 7)::float8)::text
                        from generate_series(1, 1000) i""")
    check(f"B drift_profile(int) and drift_profile(numeric) equal the float8 profile [got {got}]", got == (True, True))

    # Comparisons: exact profiles against scipy on the raw data; sketched ones against the contract.
    for ds in num_data:
        sr, sc = samples[ds]
        if sr.n == 0 or sc.n == 0 or ds == "specials":
            continue
        ks = one(cur, "select s.statistic, s.p_value from drift_num_prof p, drift_ks(p.ref, p.cur) s where p.ds = %s", (ds,))
        w, wn = one(cur, """select drift_wasserstein(ref, cur), case when %s then drift_wasserstein(ref, cur, true) end
                              from drift_num_prof where ds = %s""", (bool(np.std(sr.x) > 0), ds))
        d_exact, p_exact, warned = ks_ref(sr.x, sc.x)
        w_exact = float(stats.wasserstein_distance(sr.x, sc.x))
        std_ref = float(np.std(sr.x))  # population std (ddof 0), as Evidently's normed wasserstein
        tag = f"B {ds} (n {sr.n} vs {sc.n}"
        if sr.exact and sc.exact:
            compare(f"{tag}, exact): drift_ks = ks_2samp on the raw data" + (f" ({warned})" if warned else ""),
                    num("statistic", ks[0], d_exact), pval("p_value", ks[1], p_exact))
            compare(f"{tag}, exact): drift_wasserstein = scipy wasserstein_distance", num("W1", w, w_exact))
            if std_ref > 0:
                compare(f"{tag}, exact): drift_wasserstein normalized = W1 / np.std(ref)", num("W1/std", wn, w_exact / std_ref))
            continue
        d_sketch, max_mass = sketch_ks(sr, sc)
        compare(f"{tag}, level {max(sr.level, sc.level)}): drift_ks statistic = the contract's sketch from numpy buckets",
                num("statistic", ks[0], d_sketch, 0.0, SKETCH_EXACT))
        check(f"{tag}): sketch KS {ks[0]:.6g} <= exact {d_exact:.6g} + 1e-12", ks[0] <= d_exact + SKETCH_EXACT,
              f"{ks[0]!r} > {d_exact!r}")
        check(f"{tag}): exact KS {d_exact:.6g} <= sketch {ks[0]:.6g} + max bucket share {max_mass:.3g}",
              d_exact <= ks[0] + max_mass + SKETCH_EXACT, f"{d_exact!r} > {ks[0]!r} + {max_mass!r}")
        compare(f"{tag}): drift_ks p_value = kstwo.sf(sketch statistic, round(n1 n2 / (n1 + n2)))",
                pval("p_value", ks[1], ks_asymp_p(ks[0], sr.n, sc.n)))
        bound = wasserstein_bound(sr, sc)
        check(f"{tag}): |W1 sketch - exact| = {abs(w - w_exact):.3g} <= contract bound {bound:.3g} "
              f"[got {w:.10g} vs scipy {w_exact:.10g}]", abs(w - w_exact) <= bound * (1 + 1e-9) + TINY)
        if std_ref > 0:
            compare(f"{tag}): drift_wasserstein normalized = drift_wasserstein / np.std(ref)", num("W1/std", wn, w / std_ref))
        if ds in LARGE:
            check(f"{tag}): |KS sketch - ks_2samp| = {abs(ks[0] - d_exact):.3g} <= {SKETCH_KS} "
                  f"[got {ks[0]:.10g} vs {d_exact:.10g}]", abs(ks[0] - d_exact) <= SKETCH_KS)
            rel_err = abs(w - w_exact) / w_exact
            check(f"{tag}): W1 sketch within 1% of scipy, observed {rel_err:.3%} [got {w:.10g} vs {w_exact:.10g}]",
                  rel_err <= SKETCH_W_REL)


# ---- C: bins, and PSI / JS / chi2 on numeric profiles -------------------------------------------
BINS_DATASETS = ("exact_normal", "ties40_small", "large_normal", "ties40_large", "large_t3", "ties_50k")


def bins_checks(cur, samples):
    for ds in BINS_DATASETS:
        sr, sc = samples[ds]
        for bins in (10, 20):
            arg = "" if bins == 10 else f", {bins}"  # 10 is the default
            tag = f"C {ds} bins {bins}{' (default)' if bins == 10 else ''}"
            got = rows(cur, f"select b.bin, b.lower, b.upper, b.ref_count, b.cur_count "
                            f"from drift_num_prof p, drift_bins(p.ref, p.cur{arg}) b where p.ds = %s", (ds,))
            numbers = [r[0] for r in got]
            lowers, uppers = np.array([r[1] for r in got], float), np.array([r[2] for r in got], float)
            ref_counts, cur_counts = [r[3] for r in got], [r[4] for r in got]
            check(f"{tag}: 1 <= {len(got)} rows <= {bins}, numbered 1..k in order", 1 <= len(got) <= bins
                  and numbers == list(range(1, len(got) + 1)), f"bins {numbers}")
            if not got:
                continue
            contiguous = (lowers[0] == -INF and uppers[-1] == INF and all(lowers[1:] == uppers[:-1])
                          and all(lowers < uppers))
            check(f"{tag}: ascending and contiguous from -Infinity to Infinity", contiguous,
                  f"lower {lowers.tolist()}, upper {uppers.tolist()}")
            nr, nc = count_in(sr.x, lowers, uppers), count_in(sc.x, lowers, uppers)
            check(f"{tag}: counts equal numpy's count of finite lower <= x < upper "
                  f"[got {ref_counts} / {cur_counts}]", ref_counts == nr.tolist() and cur_counts == nc.tolist(),
                  f"expected {nr.tolist()} / {nc.tolist()}")
            el, eu, erc, ecc = expected_bins(sr, sc, bins)
            check(f"{tag}: edges and counts follow the contract's quantile rule ({len(el)} bins)",
                  len(got) == len(el) and all(lowers == el) and all(uppers == eu)
                  and ref_counts == erc.tolist() and cur_counts == ecc.tolist(),
                  f"expected uppers {eu.tolist()} counts {erc.tolist()} / {ecc.tolist()}")
            if ds.startswith("ties40"):
                check(f"{tag}: edges collapse at the 40% value ({len(got)} < {bins} bins)", len(got) < bins)
            # PSI / JS / chi2 from numpy's recount on the returned bins (independent of Pulse's counts)
            got = one(cur, f"select drift_psi(p.ref, p.cur{arg}), drift_js(p.ref, p.cur{arg}), c.statistic, c.p_value "
                           f"from drift_num_prof p, drift_chi2(p.ref, p.cur{arg}) c where p.ds = %s", (ds,))
            chi = chi2_ref(nr, nc)
            compare(f"{tag}: drift_psi = sum (r - c) ln(r / c), zero shares 1e-4",
                    num("psi", got[0], psi_ref(nr, nc, sr.n, sc.n), PSI_REL))
            compare(f"{tag}: drift_js = scipy jensenshannon (base e)", num("js", got[1], js_ref(nr, nc, sr.n, sc.n), JS_REL))
            compare(f"{tag}: drift_chi2 = chi2_contingency(correction=False)",
                    num("statistic", got[2], chi[0]), pval("p_value", got[3], chi[1]))


# ---- D: categorical profiles ---------------------------------------------------------------------
def categorical_checks(cur, cat_data):
    load_sides(cur, "drift_cat", cat_data, text=True)
    load_profiles(cur, "drift_cat", "drift_cat_prof")
    for ds, (ref, curv) in cat_data.items():
        got = one(cur, "select ref::text, cur::text, drift_summary(ref), drift_summary(cur) from drift_cat_prof where ds = %s", (ds,))
        for side, text, summary, values in (("reference", got[0], got[2], ref), ("current", got[1], got[3], curv)):
            ranked = sorted(Counter(v for v in values if v is not None).items(), key=lambda kv: (-kv[1], kv[0]))
            kept, other = ranked[:MAX_CATEGORIES], sum(c for _, c in ranked[MAX_CATEGORIES:])
            n, nulls = sum(v is not None for v in values), sum(v is None for v in values)
            j = json.loads(text)
            compare(f"D {ds} {side}: profile JSON equals Counter (n {n}, {len(ranked)} categories)",
                    exact("kind", j.get("kind"), "categorical"), exact("n", j.get("n"), n), exact("nulls", j.get("nulls"), nulls),
                    exact("other", j.get("other"), other), exact("categories kept", len(j.get("categories") or []), len(kept)))
            check(f"D {ds} {side}: categories equal Counter's top {MAX_CATEGORIES}, count desc then value asc",
                  [list(c) for c in (j.get("categories") or [])] == [list(c) for c in kept],
                  f"first got {(j.get('categories') or [])[:3]}, expected {kept[:3]}")
            compare(f"D {ds} {side}: drift_summary", exact("kind", summary.get("kind"), "categorical"),
                    exact("count", summary.get("count"), n), exact("nulls", summary.get("nulls"), nulls),
                    exact("other", summary.get("other"), other), exact("categories", summary.get("categories"), len(kept)))

        table = category_rows(ref, curv)
        nr, nc = sum(v is not None for v in ref), sum(v is not None for v in curv)
        got_rows = rows(cur, "select c.category, c.ref_count, c.cur_count from drift_cat_prof p, "
                             "drift_categories(p.ref, p.cur) c where p.ds = %s", (ds,))
        check(f"D {ds}: drift_categories = Counter counts, by value, 'other' row last ({len(table)} rows)",
              [tuple(r) for r in got_rows] == table, f"got {got_rows[:4]}... ({len(got_rows)} rows), expected {table[:4]}...")
        rc, cc = [r for _, r, _ in table], [c for _, _, c in table]
        chi = chi2_ref(rc, cc)
        got = one(cur, "select c.statistic, c.p_value, drift_js(p.ref, p.cur), drift_psi(p.ref, p.cur) "
                       "from drift_cat_prof p, drift_chi2(p.ref, p.cur) c where p.ds = %s", (ds,))
        compare(f"D {ds}: drift_chi2 = chi2_contingency(correction=False)", num("statistic", got[0], chi[0]),
                pval("p_value", got[1], chi[1]))
        compare(f"D {ds}: drift_js = jensenshannon over the categories", num("js", got[2], js_ref(rc, cc, nr, nc), JS_REL))
        compare(f"D {ds}: drift_psi by the formula", num("psi", got[3], psi_ref(rc, cc, nr, nc), PSI_REL))
        if len([r for r in table if r[0] is not None]) <= 2 and table[-1][0] is not None:
            z, p = ztest_ref(rc[0], nr, cc[0], nc)
            got = one(cur, "select z.statistic, z.p_value from drift_cat_prof p, drift_ztest(p.ref, p.cur) z where p.ds = %s", (ds,))
            compare(f"D {ds}: drift_ztest = pooled z on the share of {table[0][0]!r}, p = 2 (1 - Phi(|z|))",
                    num("z", got[0], z), pval("p_value", got[1], p, Z_P_ABS))

    # the pooling data set really pools: 1000 kept, the rest's total in "other"
    ref = cat_data["cat_many"][0]
    counts = sorted(Counter(ref).values(), reverse=True)
    got = one(cur, "select drift_summary(ref) from drift_cat_prof where ds = 'cat_many'")[0]
    compare("D cat_many: 1500 categories -> 1000 kept, 'other' = the remaining 500's total",
            exact("categories", got.get("categories"), 1000), exact("other", got.get("other"), sum(counts[1000:])))


# ---- E: drift_test -------------------------------------------------------------------------------
E_NUMERIC = {"small_drift": "ks", "small_same": "ks", "exact_normal": "wasserstein", "exact_unequal": "wasserstein",
             "six_values": "ks", "five_values": "chi2", "three_values": "chi2", "binary": "ztest",
             "union_three": "chi2", "four_values_large": "js", "const_both": "ztest"}
E_CATEGORICAL = {"cat4_small": "chi2", "cat_oneside": "chi2", "cat2_small": "ztest", "cat2_close": "ztest",
                 "cat2_oneside": "ztest", "cat_large": "js", "cat_large_same": "js", "cat_many": "js", "cat_single": "ztest"}


def drift_test_row(cur, table, ds, args=""):
    return dicts(cur, f"select t.* from {table} p, drift_test(p.ref, p.cur{args}) t where p.ds = %s", (ds,))[0]


def drift_test_checks(cur, num_data, cat_data):
    # Default choice and values on every designed data set.
    for table, data, expected, text in (("drift_num_prof", num_data, E_NUMERIC, False),
                                        ("drift_cat_prof", cat_data, E_CATEGORICAL, True)):
        for ds, test in expected.items():
            ref, curv = data[ds]
            want = expected_test(ref, curv, text)
            got = drift_test_row(cur, table, ds)
            check(f"E {ds}: the reference rule picks {test} (design)", want["test"] == test, f"picked {want['test']}")
            compare(f"E {ds}: drift_test default (n_ref {len(ref)}) = {want['kind']} {want['test']}", *test_items(got, want))
            rule = (got["p_value"] is not None and got["p_value"] < got["threshold"]) if got["test"] in P_TESTS \
                else (got["statistic"] is not None and got["statistic"] >= got["threshold"])
            check(f"E {ds}: drifted ({got['drifted']}) follows its own statistic and threshold", got["drifted"] == rule)
    # both outcomes occur, so the flags are tested in both directions
    flags = {drift_test_row(cur, "drift_num_prof", ds)["drifted"] for ds in ("small_drift", "small_same")}
    check(f"E small_drift is drifted and small_same is not [got {flags}]", flags == {True, False})

    # Overrides: explicit test, explicit threshold, thresholds by test name; explicit beats jsonb.
    ref, curv = num_data["exact_normal"]
    cases = [("ks", None, None), ("psi", None, None), ("js", None, None), ("chi2", None, None), ("wasserstein", None, None),
             (None, 0.5, None), (None, None, {"wasserstein": 0.25, "ks": 0.2}), ("ks", None, {"ks": 1e-20}),
             ("ks", 0.01, {"ks": 1e-20}), ("psi", None, {"psi": 0.01, "js": 0.9})]
    for test, threshold, thresholds in cases:
        want = expected_test(ref, curv, False, test, threshold, thresholds)
        got = dicts(cur, "select t.* from drift_num_prof p, drift_test(p.ref, p.cur, %s::text, %s::float8, %s::jsonb) t "
                         "where p.ds = 'exact_normal'", (test, threshold, json.dumps(thresholds) if thresholds else None))[0]
        compare(f"E exact_normal drift_test(test {test}, threshold {threshold}, thresholds {thresholds})", *test_items(got, want))
    ref, curv = cat_data["cat2_small"]
    for test, threshold, thresholds in (("chi2", None, None), ("psi", None, None), ("js", 0.05, None),
                                        (None, None, {"ztest": 1e-3})):
        want = expected_test(ref, curv, True, test, threshold, thresholds)
        got = dicts(cur, "select t.* from drift_cat_prof p, drift_test(p.ref, p.cur, %s::text, %s::float8, %s::jsonb) t "
                         "where p.ds = 'cat2_small'", (test, threshold, json.dumps(thresholds) if thresholds else None))[0]
        compare(f"E cat2_small drift_test(test {test}, threshold {threshold}, thresholds {thresholds})", *test_items(got, want))


# ---- F: drift_profile_query and drift_report -----------------------------------------------------
REPORT_COLUMNS = ["num_drift", "num_stable", "amount", "cat_drift", "cat_stable", "flag"]  # ts is skipped
REPORT_TEXT = {"cat_drift", "cat_stable", "flag"}
REPORT_DRIFTED = {"num_drift", "cat_drift", "flag"}


def report_data():
    """Reference and current tables' columns (3000 rows each): numeric drifted / stable (float8,
    int4 with NULLs, numeric(10,2)), categorical drifted / stable (text, varchar with NULLs), a
    drifted bool, and a timestamptz that drift_report must skip."""
    r, n, abcd = np.random.default_rng(401), 3000, ["a", "b", "c", "d"]
    sides = []
    for shift, p_cat, p_flag in ((0.0, [0.4, 0.3, 0.2, 0.1], 0.3), (0.3, [0.1, 0.2, 0.3, 0.4], 0.5)):
        stable = np.round(r.normal(50, 10, n))
        sides.append(dict(
            num_drift=r.normal(shift, 1, n).tolist(),
            num_stable=[None if i % 100 == 0 else float(v) for i, v in enumerate(stable)],
            amount=[float(f"{v:.2f}") for v in r.normal(100, 20, n)],
            cat_drift=r.choice(abcd, n, p=p_cat).tolist(),
            cat_stable=[None if i % 150 == 0 else v for i, v in enumerate(r.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2]))],
            flag=["true" if v else "false" for v in (r.random(n) < p_flag)]))  # bool::text
    return sides


def load_report(cur, sides):
    for table, cols in zip(("drift_rep_ref", "drift_rep_cur"), sides):
        cur.execute(f"""drop table if exists {table};
                        create table {table} (num_drift float8, num_stable int4, amount numeric(10, 2), cat_drift text,
                                              cat_stable varchar(10), flag bool, ts timestamptz)""")
        buf = io.StringIO()
        for i in range(len(cols["num_drift"])):
            num_stable = r"\N" if cols["num_stable"][i] is None else str(int(cols["num_stable"][i]))
            buf.write(f"{pg_float(cols['num_drift'][i])}\t{num_stable}\t{cols['amount'][i]:.2f}\t{cols['cat_drift'][i]}\t"
                      f"{pg_text(cols['cat_stable'][i])}\t{cols['flag'][i]}\t2024-01-01 00:00:00+00\n")
        buf.seek(0)
        cur.copy_expert(f"copy {table} from stdin", buf)


def by_hand(col):
    """drift_profile over one report column, as a user would write it."""
    return f"drift_profile({col}::text)" if col in REPORT_TEXT else f"drift_profile({col}::float8)"


def report_checks(cur):
    ref_cols, cur_cols = report_data()
    load_report(cur, (ref_cols, cur_cols))
    ref_sql, cur_sql = "select * from drift_rep_ref", "select * from drift_rep_cur"

    # drift_profile_query: every supported column in order, the profile drift_profile gives by hand.
    got = rows(cur, "select column_name, kind, profile::text from drift_profile_query(%s)", (ref_sql,))
    check(f"F drift_profile_query: supported columns in order, ts skipped [got {[r[0] for r in got]}]",
          [(r[0], r[1]) for r in got] == [(c, "categorical" if c in REPORT_TEXT else "numeric") for c in REPORT_COLUMNS])
    for name, _, text in got:
        want = json.loads(one(cur, f"select {by_hand(name)}::text from drift_rep_ref")[0])
        check(f"F drift_profile_query {name}: profile = {by_hand(name)} by hand", same_profile(json.loads(text), want) == [],
              "; ".join(same_profile(json.loads(text), want)))

    def report(columns=None, tests=None, thresholds=None):
        return dicts(cur, "select * from drift_report(%s, %s, %s::text[], %s::jsonb, %s::jsonb)",
                     (ref_sql, cur_sql, columns, json.dumps(tests) if tests else None,
                      json.dumps(thresholds) if thresholds else None))

    def hand_test(col, test, threshold, thresholds):
        return dicts(cur, f"""with r as (select {by_hand(col)} p from drift_rep_ref), c as (select {by_hand(col)} p from drift_rep_cur)
                              select t.* from r, c, drift_test(r.p, c.p, %s::text, %s::float8, %s::jsonb) t""",
                     (test, threshold, json.dumps(thresholds) if thresholds else None))[0]

    for label, columns, tests, thresholds in (
            ("defaults", None, None, None),
            ("columns ['cat_drift', 'num_drift']", ["cat_drift", "num_drift"], None, None),
            ('tests {"*": "psi"}', None, {"*": "psi"}, None),
            ('tests {"num_drift": "ks"}', None, {"num_drift": "ks"}, None),
            ('thresholds {"num_drift": 0.5}', None, None, {"num_drift": 0.5}),
            ('thresholds {"cat_stable": 0.001, "js": 0.5} (the column wins)', None, None, {"cat_stable": 0.001, "js": 0.5})):
        got = report(columns, tests, thresholds) if label != "defaults" else \
            dicts(cur, "select * from drift_report(%s, %s)", (ref_sql, cur_sql))
        want_cols = columns or REPORT_COLUMNS
        check(f"F drift_report {label}: one row per column, in order [got {[g['column_name'] for g in got]}]",
              [g["column_name"] for g in got] == want_cols)
        for g in got:
            col = g["column_name"]
            if col not in REPORT_COLUMNS:
                continue
            test = (tests or {}).get(col, (tests or {}).get("*"))
            threshold = (thresholds or {}).get(col)
            want = expected_test(ref_cols[col], cur_cols[col], col in REPORT_TEXT, test, threshold, thresholds)
            compare(f"F drift_report {label} {col}: equals the reference", *test_items(g, want))
            hand = hand_test(col, test, threshold, thresholds)
            compare(f"F drift_report {label} {col}: equals drift_test on profiles built by hand",
                    exact("kind", g["kind"], "categorical" if col in REPORT_TEXT else "numeric"),
                    exact("test", g["test"], hand["test"]), num("statistic", g["statistic"], hand["statistic"], MERGE_REL),
                    num("p_value", g["p_value"], hand["p_value"], MERGE_REL), exact("threshold", g["threshold"], hand["threshold"]),
                    exact("drifted", g["drifted"], hand["drifted"]))
        if label == "defaults":
            drifted = {g["column_name"] for g in got if g["drifted"]}
            check(f"F drift_report defaults: drifted exactly on {sorted(REPORT_DRIFTED)} [got {sorted(drifted)}]",
                  drifted == REPORT_DRIFTED)


# ---- G: parallel aggregation and merging ---------------------------------------------------------
BIG_N = 1_000_000
_big = {}


def big_data():
    """1M rows: x ~ N(10, 2) with NULL every 997th row, 10 NaN, 5 +inf, 3 -inf; c one of 40
    categories (Zipf-like) with NULL every 501st row."""
    r = np.random.default_rng(501)
    x = r.normal(10, 2, BIG_N).tolist()
    for i in range(0, BIG_N, 997):
        x[i] = None
    for k, v in enumerate([NAN] * 10 + [INF] * 5 + [-INF] * 3):
        x[13 + 55_001 * k] = v
    names = [f"g{i:02d}" for i in range(40)]
    w = 1 / np.arange(1, 41)
    c = r.choice(names, BIG_N, p=w / w.sum()).tolist()
    for i in range(0, BIG_N, 501):
        c[i] = None
    return x, c


def big_table(cur):
    """drift_big (id, x, c), loaded once and reused by G and H."""
    if not _big:
        x, c = big_data()
        cur.execute("drop table if exists drift_big; create table drift_big (id int, x float8, c text)")
        buf = io.StringIO("".join(f"{i}\t{pg_float(xi)}\t{pg_text(ci)}\n" for i, (xi, ci) in enumerate(zip(x, c))))
        cur.copy_expert("copy drift_big from stdin", buf)
        cur.execute("analyze drift_big")
        _big.update(x=x, c=c)
    return _big


def same_profile(a, b):
    """Mismatches between two profiles' JSON: everything exact except mean and m2 (MERGE_REL)."""
    bad = [f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in sorted(set(a) | set(b))
           if k not in ("mean", "m2") and a.get(k) != b.get(k)]
    bad += [f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in ("mean", "m2")
            if (k in a or k in b) and not close(a.get(k), b.get(k), MERGE_REL, TINY)]
    return [m[:300] for m in bad]


PARALLEL = ("set parallel_setup_cost = 0; set parallel_tuple_cost = 0; set min_parallel_table_scan_size = 0;"
            "set max_parallel_workers_per_gather = 2")
SERIAL = "set max_parallel_workers_per_gather = 0"
RESET = ("reset parallel_setup_cost; reset parallel_tuple_cost; reset min_parallel_table_scan_size;"
         "reset max_parallel_workers_per_gather")


def parallel_checks(cur):
    big = big_table(cur)
    try:
        cur.execute(SERIAL)
        serial = {col: json.loads(one(cur, f"select drift_profile({col})::text from drift_big")[0]) for col in ("x", "c")}
        s = Sample(big["x"])
        compare(f"G drift_big serial numeric profile equals numpy (1M rows, level {s.level})", *numeric_json_items(serial["x"], s))
        check("G drift_big serial numeric buckets equal numpy's", serial["x"].get("buckets") == s.buckets)
        counts = sorted(Counter(v for v in big["c"] if v is not None).items(), key=lambda kv: (-kv[1], kv[0]))
        check("G drift_big serial categorical profile equals Counter",
              [list(c) for c in serial["c"].get("categories", [])] == [list(c) for c in counts]
              and serial["c"].get("nulls") == sum(v is None for v in big["c"]), f"{serial['c']}"[:300])

        cur.execute(PARALLEL)
        for col in ("x", "c"):
            query = f"select drift_profile({col}) from drift_big"
            plan = "\n".join(r[0] for r in rows(cur, "explain (verbose, costs off) " + query))
            check(f"G drift_profile({col}): the plan has Partial Aggregate and Finalize Aggregate",
                  "Partial Aggregate" in plan and "Finalize Aggregate" in plan, plan)
            plan = "\n".join(r[0] for r in rows(cur, "explain (analyze, verbose, costs off, timing off, summary off) " + query))
            launched = [int(m) for m in re.findall(r"Workers Launched: (\d+)", plan)]
            check(f"G drift_profile({col}): EXPLAIN ANALYZE shows Workers Launched >= 1 [got {launched}]",
                  bool(launched) and min(launched) >= 1, plan)
            parallel = json.loads(one(cur, f"select drift_profile({col})::text from drift_big")[0])
            bad = same_profile(parallel, serial[col])
            check(f"G drift_profile({col}): parallel profile equals serial (buckets, counts, min, max exact; mean, m2 1e-12)",
                  not bad, "; ".join(bad))
            # ten slices merged, directly and after a trip through text
            for how, expr in (("", "p"), (" through text", "p::text::drift_profile")):
                merged = json.loads(one(cur, f"""select drift_profile_merge({expr})::text
                                                   from (select id / 100000 g, drift_profile({col}) p from drift_big group by 1) s""")[0])
                bad = same_profile(merged, serial[col])
                check(f"G drift_profile_merge({col}) over 10 slices{how} equals the whole's profile", not bad, "; ".join(bad))
    finally:
        cur.execute(RESET)

    # catalog: comparisons STRICT, IMMUTABLE, PARALLEL SAFE; aggregates parallel safe with combine
    # (and serial / deserial when the state is internal: PostgreSQL only allows them then)
    got = rows(cur, """select p.oid::regprocedure::text, p.provolatile, p.proparallel, p.proisstrict from pg_proc p
                        where p.proname in ('drift_ks', 'drift_chi2', 'drift_ztest', 'drift_psi', 'drift_js', 'drift_wasserstein')""")
    check(f"G comparisons are STRICT IMMUTABLE PARALLEL SAFE [got {got}]",
          len({r[0].split("(")[0] for r in got}) == 6 and all(r[1:] == ("i", "s", True) for r in got))
    got = rows(cur, """select p.oid::regprocedure::text, p.proparallel, a.aggcombinefn <> 0,
                              a.aggtranstype <> 'internal'::regtype or (a.aggserialfn <> 0 and a.aggdeserialfn <> 0)
                         from pg_aggregate a join pg_proc p on p.oid = a.aggfnoid
                        where p.proname in ('drift_profile', 'drift_profile_merge')""")
    check(f"G drift_profile(float8), drift_profile(text), drift_profile_merge are parallel safe with combine [got {got}]",
          len(got) == 3 and all(r[1:] == ("s", True, True) for r in got))


# ---- H: profile size -----------------------------------------------------------------------------
def size_checks(cur):
    big_table(cur)
    got = one(cur, """with p as (select drift_profile(x) filter (where id < 100000) as p100k, drift_profile(x) as p1m from drift_big)
                      select length(p100k::text), length(p1m::text), drift_summary(p100k), drift_summary(p1m) from p""")
    small, large, s_small, s_large = got
    check(f"H profile text of 100k rows ({small} chars) and of 1M rows ({large} chars) are both < 200 kB",
          small < 200_000 and large < 200_000)
    # The contract fixes the bucket count to (2048, 4096] at level > 0, whatever the rows: the size
    # moves only with how full those buckets are and the counts' digits. For N(10, 2) the contract's
    # buckets are 4024 at 100k rows and 2820 at 1M (levels 41 and 42): about -25 %, so "within 20 %"
    # is not implied; "within a factor 2 for 10x the rows" is.
    ratio = large / small
    check(f"H 10x the rows changes the text by a factor {ratio:.3f} ({ratio - 1:+.1%}), within [0.5, 2]", 0.5 <= ratio <= 2)
    for label, sm in (("100k", s_small), ("1M", s_large)):
        check(f"H {label} rows: level {sm.get('level')} > 0 and 2048 < buckets {sm.get('buckets')} <= 4096",
              sm.get("level", 0) > 0 and 2048 < sm.get("buckets", 0) <= MAX_BUCKETS)


# ---- I: bad input and special values -------------------------------------------------------------
def profile_of(values, typ="float8"):
    return f"(select drift_profile(v) from unnest('{{{values}}}'::{typ}[]) v)"


def error_checks(cur, samples):
    pnum, pnum2 = profile_of("1,2,3,4,5"), profile_of("2,3,4,5,6")
    empty, nulls, nonfinite = profile_of(""), profile_of("NULL,NULL"), profile_of("NaN,Infinity,-Infinity")
    cat, cat2, cat3, cat_empty = profile_of("a,b,a", "text"), profile_of("a,a,b", "text"), profile_of("a,b,c", "text"), profile_of("", "text")
    const = profile_of("5,5,5")

    got = one(cur, f"select {empty} is not null, drift_summary({empty})->>'count', {cat_empty} is not null, "
                   f"drift_summary({cat_empty})->>'count', drift_summary({nulls})->>'nulls'")
    check(f"I zero rows give a profile with n = 0 (numeric and categorical); all-NULL counts its NULLs [got {got}]",
          got == (True, "0", True, "0", "2"))

    cases = []
    for label, p in (("an empty profile", empty), ("an all-NULL profile", nulls), ("a NaN/inf-only profile", nonfinite)):
        for fn in ("drift_ks", "drift_wasserstein", "drift_psi", "drift_js", "drift_chi2", "drift_test"):
            cases.append((f"{fn} with {label} as reference", f"select * from {fn}({p}, {pnum})"))
        cases.append((f"drift_ks with {label} as current", f"select * from drift_ks({pnum}, {p})"))
    for fn in ("drift_chi2", "drift_ztest", "drift_js", "drift_psi", "drift_test"):
        cases.append((f"{fn} with an empty categorical profile", f"select * from {fn}({cat_empty}, {cat})"))
    for fn in ("drift_ks", "drift_wasserstein", "drift_psi", "drift_js", "drift_chi2", "drift_test"):
        cases.append((f"{fn} numeric vs categorical", f"select * from {fn}({pnum}, {cat})"))
    cases += [
        ("drift_psi categorical vs numeric", f"select drift_psi({cat}, {pnum})"),
        ("drift_ks on categorical profiles", f"select * from drift_ks({cat}, {cat2})"),
        ("drift_bins on categorical profiles", f"select * from drift_bins({cat}, {cat2})"),
        ("drift_ztest with 3 categories", f"select * from drift_ztest({cat3}, {cat})"),
        ("drift_test ztest with 3 categories", f"select * from drift_test({cat3}, {cat}, 'ztest')"),
        ("drift_ks_exact with NaN", "select * from drift_ks_exact('{1,NaN,3}'::float8[], '{1,2}'::float8[])"),
        ("drift_ks_exact with an empty array", "select * from drift_ks_exact('{}'::float8[], '{1,2}'::float8[])"),
        ("drift_ks_exact with an empty second array", "select * from drift_ks_exact('{1,2}'::float8[], '{}'::float8[])"),
        ("drift_ks_exact with only NULLs", "select * from drift_ks_exact('{NULL,NULL}'::float8[], '{1,2}'::float8[])"),
        ("drift_bins with bins 0", f"select * from drift_bins({pnum}, {pnum2}, 0)"),
        ("drift_bins with bins -1", f"select * from drift_bins({pnum}, {pnum2}, -1)"),
        ("drift_psi with bins 0", f"select drift_psi({pnum}, {pnum2}, 0)"),
        ("drift_js with bins 0", f"select drift_js({pnum}, {pnum2}, 0)"),
        ("drift_chi2 with bins 0", f"select * from drift_chi2({pnum}, {pnum2}, 0)"),
        ("drift_test with an unknown test", f"select * from drift_test({pnum}, {pnum2}, 'anderson')"),
        ("drift_test with a NaN threshold", f"select * from drift_test({pnum}, {pnum2}, 'ks', 'NaN')"),
        ("drift_wasserstein normalized with a constant reference", f"select drift_wasserstein({const}, {pnum}, true)"),
        ("drift_profile_merge mixing kinds",
         f"select drift_profile_merge(p) from (select {pnum} p union all select {cat}) s"),
        ("drift_report with a listed timestamptz column",
         "select * from drift_report('select * from drift_rep_ref', 'select * from drift_rep_cur', array['ts'])"),
    ]
    for name, sql in cases:
        expect_error(cur, f"I {name}", sql, "22023")
    expect_error(cur, "I drift_report with a column all-NULL on one side (message names it)",
                 "select * from drift_report('select num_drift, num_drift as gone from drift_rep_ref', "
                 "'select num_drift, null::float8 as gone from drift_rep_cur')", "22023", message_has="gone")
    for name, sql in (("'{\"kind\":\"x\"}'::drift_profile", """select '{"kind":"x"}'::drift_profile"""),
                      ("'not json'::drift_profile", "select 'not json'::drift_profile")):
        expect_error(cur, f"I {name}", sql, "22P02")
    for name, sql in (("drift_report with an unknown listed column",
                       "select * from drift_report('select * from drift_rep_ref', 'select * from drift_rep_cur', array['nope'])"),
                      ("drift_profile_query with an unknown listed column",
                       "select * from drift_profile_query('select * from drift_rep_ref', array['num_drift', 'nope'])")):
        expect_error(cur, f"I {name}", sql, "42703")

    # STRICT: a NULL profile gives NULL, not an error
    got = one(cur, f"""select (select s.statistic from drift_ks(null::drift_profile, {pnum}) s), drift_psi({pnum}, null::drift_profile),
                              drift_wasserstein(null::drift_profile, {pnum}), drift_js(null::drift_profile, null::drift_profile)""")
    check(f"I comparisons are STRICT: NULL in, NULL out [got {got}]", got == (None, None, None, None))

    # NaN and infinities counted apart, out of min / max / mean / every statistic.
    sr, sc = samples["specials"]
    sm = one(cur, "select drift_summary(ref) from drift_num_prof where ds = 'specials'")[0]
    compare("I specials [1, 2, NaN, inf, -inf, inf, NULL, 4]: counted apart, excluded from min/max/mean",
            exact("count", sm.get("count"), 3), exact("nulls", sm.get("nulls"), 1), exact("nans", sm.get("nans"), 1),
            exact("pos_inf", sm.get("pos_inf"), 2), exact("neg_inf", sm.get("neg_inf"), 1), exact("min", sm.get("min"), 1.0),
            exact("max", sm.get("max"), 4.0), num("mean", sm.get("mean"), 7 / 3), num("stddev", sm.get("stddev"), float(np.std([1, 2, 4], ddof=1))))
    ks = one(cur, "select s.statistic, s.p_value from drift_num_prof p, drift_ks(p.ref, p.cur) s where p.ds = 'specials'")
    d, p, _ = ks_ref(sr.x, sc.x)
    w = one(cur, "select drift_wasserstein(ref, cur) from drift_num_prof where ds = 'specials'")[0]
    compare("I specials: drift_ks and drift_wasserstein on the finite values only = scipy",
            num("statistic", ks[0], d), pval("p_value", ks[1], p), num("W1", w, float(stats.wasserstein_distance(sr.x, sc.x))))
    sm = one(cur, "select drift_summary(ref) from drift_num_prof where ds = 'single'")[0]
    compare("I one value: stddev is NULL", exact("count", sm.get("count"), 1), exact("stddev", sm.get("stddev"), None))

    # One distinct value on both sides: KS 0 / p 1, and drift_test takes the categorical path.
    ks = one(cur, "select s.statistic, s.p_value from drift_num_prof p, drift_ks(p.ref, p.cur) s where p.ds = 'const_both'")
    compare("I constant 5.0 on both sides: drift_ks", exact("statistic", ks[0], 0.0), exact("p_value", ks[1], 1.0))
    got = drift_test_row(cur, "drift_num_prof", "const_both")
    compare("I constant 5.0 on both sides: drift_test categorical ztest, z 0, p 1, not drifted",
            exact("kind", got["kind"], "categorical"), exact("test", got["test"], "ztest"), exact("statistic", got["statistic"], 0.0),
            exact("p_value", got["p_value"], 1.0), exact("drifted", got["drifted"], False))
    w = one(cur, "select drift_wasserstein(ref, cur) from drift_num_prof where ds = 'const_ref'")[0]
    sr, sc = samples["const_ref"]
    compare("I constant reference: drift_wasserstein (not normalized) = scipy",
            num("W1", w, float(stats.wasserstein_distance(sr.x, sc.x))))


def main():
    conn = psycopg2.connect("")
    conn.autocommit = True  # an expected error must not abort the later checks
    cur = conn.cursor()
    cur.execute("set statement_timeout = '120s'")
    num_data, cat_data = numeric_datasets(), categorical_datasets()
    samples = {ds: (Sample(r), Sample(c)) for ds, (r, c) in num_data.items()}
    run(((ks_exact_checks, (cur,)), (profile_checks, (cur, num_data, samples)), (bins_checks, (cur, samples)),
         (categorical_checks, (cur, cat_data)), (drift_test_checks, (cur, num_data, cat_data)), (report_checks, (cur,)),
         (parallel_checks, (cur,)), (size_checks, (cur,)), (error_checks, (cur, samples))))


if __name__ == "__main__":
    main()
