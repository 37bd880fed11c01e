"""Checks Pulse's experiment statistics against scipy (run by tests/e2e/experiments_stats.sh).

Connects with psycopg2.connect("") (libpq settings from the environment) to a database where
`create extension pulse` is done. Prints TAP lines "ok - name" / "not ok - name: why", exits 1
on any failure. Every reference is scipy or a textbook formula written out in numpy below; none
comes from Pulse.

Tolerances (|got - ref| <= max(rel * max(|ref|, scale), abs)):
  - REL = 1e-9 relative, ABS = 1e-12 absolute, for every statistic by default;
  - a reference p-value below 1e-12 is compared to 1e-6 relative: in the far tail scipy (boost)
    and Pulse (statrs) evaluate the t / normal / chi-square tails with different special-function
    approximations, which there may agree to ~1e-8 rather than to the last bits;
  - interval bounds (and the lift, a difference of two means) use scale = max(|lift|, half-width):
    a bound near 0 is the difference of two numbers of that size;
  - data set (g) (values 1e9 + N(0, 1)): ab_stats keeps the sum, |sum| ~ n * 1e9, so each mean
    is only representable to ~2 ulp(1e9) = 2.4e-7. The lift and what depends on it (bounds,
    statistic, p-value, prob_beat_control, relative lift) get an extra absolute allowance of
    OFFSET_LIFT_TOL (/ se or / mean where it enters divided). The variance path (sxx, df, interval
    half-widths) is still held to 1e-9: that is what a naive sum of squares gets wrong there;
  - serial vs parallel vs merged ab_stats: MERGE_REL = 1e-12 relative (same data, other order).
"""
import io
import json
import math
import os
import sys
import warnings

import numpy as np
import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import check, run  # noqa: E402
from scipy import stats

REL, ABS, TAIL, TAIL_REL, MERGE_REL = 1e-9, 1e-12, 1e-12, 1e-6, 1e-12
OFFSET = 1e9
OFFSET_LIFT_TOL = 8 * float(np.spacing(OFFSET))  # ~9.5e-7, see above
COLS = ["method", "n_control", "n_treatment", "mean_control", "mean_treatment", "lift", "ci_low", "ci_high",
        "relative_lift", "relative_ci_low", "relative_ci_high", "statistic", "df", "p_value", "prob_beat_control"]


def close(got, ref, rel=REL, scale=0.0, extra=0.0):
    """got equals ref to max(rel * max(|ref|, scale), ABS + extra); NULL (None) only equals NULL."""
    if got is None or ref is None:
        return got is None and ref is None
    return abs(got - ref) <= max(rel * max(abs(ref), scale), ABS + extra)


def p_rel(ref):
    return TAIL_REL if ref is not None and ref < TAIL else REL


# ---- data sets: (control, treatment, control covariate, treatment covariate, shift) ------------
def datasets():
    rng = np.random.default_rng
    d = {}
    r = rng(101)  # (a) normal, unequal sizes and variances
    d["a"] = (r.normal(10, 1, 1000), r.normal(10.3, 3, 700), None, None, 0.0)
    r = rng(102)  # (b) tiny n
    d["b"] = (r.normal(5, 1, 2), r.normal(6, 1, 3), None, None, 0.0)
    r = rng(103)  # (c) one arm with zero variance
    d["c"] = (np.full(10, 5.0), r.normal(5.5, 1, 12), None, None, 0.0)
    r = rng(104)  # (d) heavy tails
    d["d"] = (r.lognormal(0, 1, 5000), r.lognormal(0.05, 1, 5000), None, None, 0.0)
    r = rng(105)  # (e) conversions 0/1
    d["e"] = ((r.random(20000) < 0.10).astype(float), (r.random(19000) < 0.12).astype(float), None, None, 0.0)
    r = rng(106)  # (f) value correlated with a pre-experiment covariate, for CUPED
    xc, xt = r.normal(50, 10, 3000), r.normal(50, 10, 3100)
    d["f"] = (0.8 * xc + r.normal(0, 5, 3000), 0.8 * xt + r.normal(0, 5, 3100) + 0.5, xc, xt, 0.0)
    r = rng(107)  # (g) large offset: value - OFFSET is exact (same binade), the references use it
    d["g"] = (OFFSET + r.normal(0, 1, 1000), OFFSET + (0.2 + r.normal(0, 1, 1200)), None, None, OFFSET)
    r = rng(108)  # (h) control mean 0: relative columns NULL
    d["h"] = (np.zeros(50), (r.random(60) < 0.3).astype(float), None, None, 0.0)
    return d


def load(cur, data):
    cur.execute("create temp table obs (ds text, arm text, value float8, covariate float8)")
    buf = io.StringIO()
    for ds, (c, t, xc, xt, _) in data.items():
        for arm, ys, xs in (("c", c, xc), ("t", t, xt)):
            for i, y in enumerate(ys):
                x = repr(float(xs[i])) if xs is not None else r"\N"
                buf.write(f"{ds}\t{arm}\t{float(y)!r}\t{x}\n")
    buf.seek(0)
    cur.copy_expert("copy obs from stdin", buf)


# ---- references -------------------------------------------------------------------------------
def relative(mc, mt, vc, vt, q):
    """Delta method: relative lift m_t/m_c - 1 and its half-width q * sqrt(V_t/m_c² + m_t² V_c/m_c⁴)."""
    if mc == 0:
        return None, None, None, None
    rel, half = (mt - mc) / mc, q * math.sqrt(vt / mc**2 + mt**2 * vc / mc**4)
    return rel, rel - half, rel + half, half


def welch_ref(c, t, alpha, shift=0.0, method="welch"):
    """scipy's Welch test on (shifted) values; the relative columns by the delta method."""
    c, t = np.asarray(c) - shift, np.asarray(t) - shift  # exact for data set (g)
    with warnings.catch_warnings():  # scipy warns about the constant arm of data set (c)
        warnings.simplefilter("ignore", RuntimeWarning)
        r = stats.ttest_ind(t, c, equal_var=False)
    ci = r.confidence_interval(1 - alpha)
    mc, mt = c.mean(), t.mean()
    vc, vt = c.var(ddof=1) / len(c), t.var(ddof=1) / len(t)
    se, q = math.sqrt(vc + vt), stats.t.ppf(1 - alpha / 2, r.df)
    rl, rlo, rhi, rhalf = relative(mc + shift, mt + shift, vc, vt, q)
    return dict(method=method, n_control=len(c), n_treatment=len(t), mean_control=mc + shift,
                mean_treatment=mt + shift, lift=mt - mc, ci_low=ci.low, ci_high=ci.high, relative_lift=rl,
                relative_ci_low=rlo, relative_ci_high=rhi, statistic=r.statistic, df=r.df, p_value=r.pvalue,
                prob_beat_control=stats.norm.cdf((mt - mc) / se), _se=se, _half=q * se, _rhalf=rhalf)


def ztest_ref(c, t, alpha):
    """Two-proportion z-test: the test from scipy's 2x2 chi-square (z² = chi², same p), the
    interval with the unpooled standard error and the normal quantile."""
    nc, nt, pc, pt = len(c), len(t), c.mean(), t.mean()
    table = [[c.sum(), nc - c.sum()], [t.sum(), nt - t.sum()]]
    chi = stats.chi2_contingency(table, correction=False)
    pool = (c.sum() + t.sum()) / (nc + nt)
    z = (pt - pc) / math.sqrt(pool * (1 - pool) * (1 / nc + 1 / nt))
    vc, vt = pc * (1 - pc) / nc, pt * (1 - pt) / nt
    se, q = math.sqrt(vc + vt), stats.norm.ppf(1 - alpha / 2)
    rl, rlo, rhi, rhalf = relative(pc, pt, vc, vt, q)
    return dict(method="ztest", n_control=nc, n_treatment=nt, mean_control=pc, mean_treatment=pt, lift=pt - pc,
                ci_low=pt - pc - q * se, ci_high=pt - pc + q * se, relative_lift=rl, relative_ci_low=rlo,
                relative_ci_high=rhi, statistic=math.copysign(math.sqrt(chi.statistic), z), df=None,
                p_value=chi.pvalue, prob_beat_control=stats.norm.cdf((pt - pc) / se), _se=se, _half=q * se,
                _rhalf=rhalf, _z=z)


def cuped_ref(c, t, xc, xt, alpha):
    """θ = cov(x, y) / var(x) over both arms pooled; Welch (scipy) on y - θ(x - x̄)."""
    x, y = np.concatenate([xc, xt]), np.concatenate([c, t])
    theta = np.cov(x, y, ddof=1)[0, 1] / np.var(x, ddof=1)
    return welch_ref(c - theta * (xc - x.mean()), t - theta * (xt - x.mean()), alpha, method="cuped")


def sequential_ref(c, t, alpha, tuning, shift=0.0):
    """Normal-mixture mSPRT on Welch's lift and standard error."""
    ref = welch_ref(c, t, alpha, shift, method="sequential")
    lift, se, V, N = ref["lift"], ref["_se"], ref["_se"] ** 2, len(c) + len(t)
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning
    tau2 = V * N * rho2
    half = math.sqrt(V * (V + tau2) / tau2 * (2 * math.log(1 / alpha) + math.log((V + tau2) / V)))
    p = min(1.0, math.sqrt((V + tau2) / V) * math.exp(-lift**2 * tau2 / (2 * V * (V + tau2))))
    mc, mt = ref["mean_control"], ref["mean_treatment"]
    vc, vt = np.var(c - shift, ddof=1) / len(c), np.var(t - shift, ddof=1) / len(t)
    rl, rlo, rhi, rhalf = relative(mc, mt, vc, vt, half / se)
    ref.update(ci_low=lift - half, ci_high=lift + half, relative_lift=rl, relative_ci_low=rlo,
               relative_ci_high=rhi, statistic=lift / se, df=None, p_value=p, _half=half, _rhalf=rhalf)
    return ref


def holm_ref(p):
    """Holm step-down: sort ascending, adj_(j) = max over i <= j of min(1, (m - i + 1) p_(i))."""
    order, out, running = sorted(range(len(p)), key=lambda i: p[i]), [None] * len(p), 0.0
    for j, i in enumerate(order, start=1):
        running = max(running, min(1.0, (len(p) - j + 1) * p[i]))
        out[i] = running
    return out


# ---- comparing a Pulse row with a reference ---------------------------------------------------
def row_mismatches(got, ref, lift_tol=0.0):
    se, mc = ref["_se"], abs(ref["mean_control"]) or 1.0
    scale = max(abs(ref["lift"]), ref["_half"])
    rscale = max(abs(ref["relative_lift"] or 0.0), ref["_rhalf"] or 0.0)
    tol = {"lift": dict(scale=scale, extra=lift_tol), "ci_low": dict(scale=scale, extra=lift_tol),
           "ci_high": dict(scale=scale, extra=lift_tol), "statistic": dict(extra=lift_tol / se),
           "p_value": dict(rel=p_rel(ref["p_value"]), extra=lift_tol / se),
           "prob_beat_control": dict(extra=lift_tol / se)}
    for k in ("relative_lift", "relative_ci_low", "relative_ci_high"):
        tol[k] = dict(scale=rscale, extra=lift_tol / mc)
    bad = []
    for k in COLS:
        ok = got[k] == ref[k] if k in ("method", "n_control", "n_treatment") else close(got[k], ref[k], **tol.get(k, {}))
        if not ok:
            bad.append(f"{k} {got[k]!r} vs {ref[k]!r}")
    # The half-widths depend on the variances only: 1e-9 even for data set (g).
    for what, lo, hi, want in (("half-width", "ci_low", "ci_high", ref["_half"]),
                               ("relative half-width", "relative_ci_low", "relative_ci_high", ref["_rhalf"])):
        if want is not None and None not in (got[lo], got[hi]) and not close((got[hi] - got[lo]) / 2, want):
            bad.append(f"{what} {(got[hi] - got[lo]) / 2!r} vs {want!r}")
    return bad


def row(cur):
    return dict(zip([d.name for d in cur.description], cur.fetchone()))


def pulse(cur, ds, alpha, method, tuning=5000.0, cov=False):
    """ab_compare on data set ds, as a dict of its columns."""
    agg = "ab_stats(value, covariate)" if cov else "ab_stats(value)"
    cur.execute(f"""with s as (select {agg} filter (where arm = 'c') c, {agg} filter (where arm = 't') t
                                 from obs where ds = %s)
                    select (ab_compare(c, t, %s::float8, %s, %s::float8)).* from s""", (ds, alpha, method, tuning))
    return row(cur)


def compare(name, got, ref, lift_tol=0.0):
    bad = row_mismatches(got, ref, lift_tol)
    check(f"{name}: all columns equal the reference (p {ref['p_value']:.3g})", not bad, "; ".join(bad))


def compare_checks(cur, data):
    # Welch against scipy.stats.ttest_ind(equal_var=False) on every data set, at two alphas.
    welch_rows = {}
    for ds, (c, t, _, _, shift) in data.items():
        for alpha in (0.05, 0.01):
            got = welch_rows[ds, alpha] = pulse(cur, ds, alpha, "welch")
            compare(f"welch ({ds}) alpha {alpha}", got, welch_ref(c, t, alpha, shift), OFFSET_LIFT_TOL if shift else 0.0)
    for alpha in (0.05, 0.01):  # a covariate in the summary changes nothing for welch
        compare(f"welch (f) on ab_stats(value, covariate) alpha {alpha}", pulse(cur, "f", alpha, "welch", cov=True),
                welch_ref(data["f"][0], data["f"][1], alpha))

    # Two-proportion z-test on the 0/1 data sets.
    for ds in ("e", "h"):
        c, t = data[ds][0], data[ds][1]
        for alpha in (0.05, 0.01):
            ref = ztest_ref(c, t, alpha)
            check(f"ztest ({ds}) alpha {alpha} reference: sqrt(chi2_contingency) equals the pooled z",
                  close(ref["statistic"], ref["_z"]), f"{ref['statistic']} vs {ref['_z']}")
            compare(f"ztest ({ds}) alpha {alpha}", pulse(cur, ds, alpha, "ztest"), ref)

    # CUPED: scipy's Welch test on the adjusted values.
    c, t, xc, xt, _ = data["f"]
    for alpha in (0.05, 0.01):
        got = pulse(cur, "f", alpha, "cuped", cov=True)
        compare(f"cuped (f) alpha {alpha}", got, cuped_ref(c, t, xc, xt, alpha))
        check(f"cuped (f) alpha {alpha}: narrower interval than welch",
              got["ci_high"] - got["ci_low"] < welch_rows["f", alpha]["ci_high"] - welch_rows["f", alpha]["ci_low"])

    # Sequential (mSPRT): the formulas, p <= alpha exactly when 0 is outside the interval, and an
    # interval wider than Welch's fixed-horizon one.
    outcomes = set()
    for ds in ("a", "d", "e", "g"):
        c, t, _, _, shift = data[ds]
        for alpha, tuning in ((0.05, 5000.0), (0.01, 1e5)):
            got = pulse(cur, ds, alpha, "sequential", tuning)
            name = f"sequential ({ds}) alpha {alpha} tuning {tuning:g}"
            compare(name, got, sequential_ref(c, t, alpha, tuning, shift), OFFSET_LIFT_TOL if shift else 0.0)
            excludes = got["ci_low"] > 0 or got["ci_high"] < 0
            outcomes.add(excludes)
            check(f"{name}: p <= alpha exactly when 0 is outside the interval", (got["p_value"] <= alpha) == excludes,
                  f"p {got['p_value']}, [{got['ci_low']}, {got['ci_high']}]")
            w = welch_rows[ds, alpha]
            check(f"{name}: wider than the welch interval", got["ci_high"] - got["ci_low"] > w["ci_high"] - w["ci_low"])
    check("sequential cases include significant and non-significant ones", outcomes == {True, False})

    # Zero standard error (both arms constant). Documented convention, Pulse's rather than
    # scipy's: scipy gives nan/nan for equal constants and +-inf/0 for different ones; Pulse gives
    # statistic NULL (never an infinity or NaN), p_value 1 for zero lift and 0 otherwise,
    # prob_beat_control 0.5 / 1 / 0 by the sign of the lift, and the interval [lift, lift].
    for cv, tv, p, prob in ((5.0, 5.0, 1.0, 0.5), (5.0, 6.0, 0.0, 1.0), (6.0, 5.0, 0.0, 0.0)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = stats.ttest_ind([tv] * 8, [cv] * 10, equal_var=False)
        print(f"# scipy ttest_ind(all {tv:g} vs all {cv:g}): statistic={s.statistic}, pvalue={s.pvalue}")
        cur.execute("""select (ab_compare((select ab_stats(v) from unnest(array_fill(%s::float8, array[10])) v),
                                          (select ab_stats(v) from unnest(array_fill(%s::float8, array[8])) v))).*""",
                    (cv, tv))
        got = row(cur)
        want = dict(lift=tv - cv, ci_low=tv - cv, ci_high=tv - cv, statistic=None, p_value=p, prob_beat_control=prob,
                    relative_lift=tv / cv - 1, relative_ci_low=tv / cv - 1, relative_ci_high=tv / cv - 1)
        bad = [f"{k} {got[k]!r} vs {v!r}" for k, v in want.items() if not close(got[k], v)]
        check(f"welch all {cv:g} (n 10) vs all {tv:g} (n 8): zero-SE convention (df {got['df']})", not bad, "; ".join(bad))


def type_checks(cur, data):
    # The ab_stats type: its JSON text against numpy, the text round trip, ab_stats_summary.
    for ds, arm, cov in (("a", "c", False), ("e", "t", False), ("f", "t", True), ("g", "c", False)):
        c, t, xc, xt, shift = data[ds]
        y, x = (c, xc) if arm == "c" else (t, xt)
        agg = "ab_stats(value, covariate)" if cov else "ab_stats(value)"
        cur.execute(f"select {agg}::text, ({agg}::text::ab_stats)::text, (ab_stats_summary({agg})).* "
                    "from obs where ds = %s and arm = %s", (ds, arm))
        text, again, *summary = cur.fetchone()
        j, ys = json.loads(text), y - shift
        want = dict(n=len(y), sum=float(y.sum()), sxx=float(((ys - ys.mean()) ** 2).sum()), binary=ds == "e")
        if cov:
            want.update(sum_x=float(x.sum()), sxx_x=float(((x - x.mean()) ** 2).sum()),
                        sxy=float(((x - x.mean()) * (ys - ys.mean())).sum()))
        bad = [k for k in set(want) | set(j) if k not in j or k not in want or
               (j[k] != want[k] if k in ("n", "binary") else not close(j[k], want[k]))]
        check(f"ab_stats ({ds}) {arm}: the JSON equals numpy's n, sums and centred sums", not bad, f"{bad}: {text}")
        check(f"ab_stats ({ds}) {arm}: text casts back to the same value", again == text, f"{again} vs {text}")
        ref = [len(y), y.mean(), np.var(ys, ddof=1)]
        ref += [x.mean(), np.var(x, ddof=1), np.cov(x, ys, ddof=1)[0, 1]] if cov else [None, None, None]
        check(f"ab_stats_summary ({ds}) {arm} equals numpy (ddof 1)",
              summary[0] == ref[0] and all(close(g, r) for g, r in zip(summary[1:], ref[1:])), f"{summary} vs {ref}")

    # NULL rows are skipped like regr_*: only complete rows count.
    cur.execute("""select ab_stats(v)::text, ab_stats(v, x)::text
                     from (values (1.0::float8, 10.0::float8), (2, null), (null, 5), (4, 7), (5, 9)) r(v, x)""")
    one, two = (json.loads(s) for s in cur.fetchone())
    v, x = np.array([1.0, 4, 5]), np.array([10.0, 7, 9])  # the complete rows
    check("ab_stats(value) skips NULL values", one["n"] == 4 and close(one["sum"], 12.0)
          and close(one["sxx"], float(np.var([1.0, 2, 4, 5]) * 4)), json.dumps(one))
    check("ab_stats(value, covariate) skips rows with either NULL",
          two["n"] == 3 and close(two["sum"], 10.0) and close(two["sum_x"], 26.0)
          and close(two["sxy"], float(((v - v.mean()) * (x - x.mean())).sum())), json.dumps(two))



def srm_holm_checks(cur):
    # Sample-ratio mismatch against scipy.stats.chisquare.
    for obs, w in (([5000, 5000], None), ([5050, 4950], None), ([5200, 4800], None), ([3000, 3000, 3050], None),
                   ([1000, 2000, 7000], [0.1, 0.2, 0.7]), ([1020, 1950, 7030], [1, 2, 7]),
                   ([5000, 5000], [0.4, 0.6]), ([1001234, 998766], [1, 1]), ([2001000, 999000, 1000000], [2, 1, 1])):
        ww = np.ones(len(obs)) if w is None else np.asarray(w, float)
        ref = stats.chisquare(obs, f_exp=sum(obs) * ww / ww.sum()).pvalue
        cur.execute("select ab_srm(%s::bigint[], %s::float8[])", (obs, w))
        got = cur.fetchone()[0]
        check(f"ab_srm({obs}, {w}) equals chisquare ({ref:.3g})", close(got, ref, rel=p_rel(ref)), f"{got} vs {ref}")
    cur.execute("select ab_srm(array[5200, 4800]::bigint[]) < 0.001, ab_srm(array[5050, 4950]::bigint[]) > 0.001")
    check("ab_srm: default equal weights; 5200/4800 is an SRM, 5050/4950 is not", cur.fetchone() == (True, True))

    # Holm-Bonferroni against the loop above.
    for p in ([0.01, 0.04, 0.03, 0.005], [0.02, 0.02, 0.01, 0.5], [0.9, 0.95, 0.4, 0.99], [0.3, 0.35, 0.2, 0.99], [0.3],
              [0.0, 1.0, 0.2], [0.001, 0.001, 0.001]):
        cur.execute("select ab_p_adjust_holm(%s::float8[])", (p,))
        got, ref = cur.fetchone()[0], holm_ref(p)
        check(f"ab_p_adjust_holm({p}) = {ref}", len(got) == len(ref) and all(map(close, got, ref)), f"{got}")
    cur.execute("select ab_p_adjust_holm(array[0.01, null, 0.02]::float8[])")  # from the function's comment
    got = cur.fetchone()[0]
    check("ab_p_adjust_holm: NULL stays NULL and does not count", len(got) == 3 and all(map(close, got, [0.02, None, 0.02])),
          f"{got}")


def error_checks(cur):
    # Errors: SQLSTATE 22023, never XX000.
    st = "(select ab_stats(v) from unnest('{%s}'::float8[]) v)"
    stx = "(select ab_stats(v, v) from unnest('{%s}'::float8[]) v)"
    for name, sql in (("n < 2 in the control", f"select ab_compare({st % '1'}, {st % '1,2,3'})"),
                      ("n < 2 in the treatment", f"select ab_compare({st % '1,2,3'}, {st % '2'})"),
                      *((f"alpha {a}", f"select ab_compare({st % '1,2'}, {st % '3,5'}, {a})") for a in (0, 1, -0.5, 1.5)),
                      ("unknown method", f"select ab_compare({st % '1,2'}, {st % '3,5'}, 0.05, 'bayes')"),
                      ("ztest on values not 0/1", f"select ab_compare({st % '1,2,3'}, {st % '0,1,1'}, 0.05, 'ztest')"),
                      ("cuped without covariates", f"select ab_compare({st % '1,2,3'}, {st % '2,3,4'}, 0.05, 'cuped')"),
                      ("cuped with one covariate", f"select ab_compare({stx % '1,2,3'}, {st % '2,3,4'}, 0.05, 'cuped')"),
                      ("sequential_tuning 0 (function comment)",
                       f"select ab_compare({st % '1,2'}, {st % '3,5'}, 0.05, 'sequential', 0)"),
                      *((f"ab_stats value {v}", f"select ab_stats(v) from unnest('{{1,{v},3}}'::float8[]) v")
                        for v in ("NaN", "Infinity", "-Infinity")),
                      ("ab_stats covariate NaN", "select ab_stats(1.0, 'NaN'::float8)"),
                      ("ab_stats_merge with and without covariate (function comment)",
                       f"select ab_stats_merge(s) from (select {st % '1,2'} union all select {stx % '1,2'}) x(s)"),
                      ("ab_srm length mismatch", "select ab_srm('{10,20}', '{1,1,1}')"),
                      ("ab_srm one variant", "select ab_srm('{10}')"),
                      ("ab_srm zero weight", "select ab_srm('{10,20}', '{1,0}')"),
                      ("ab_srm negative weight", "select ab_srm('{10,20}', '{1,-1}')"),
                      ("ab_srm negative count", "select ab_srm('{10,-20}', null)"),
                      ("ab_srm all counts 0", "select ab_srm('{0,0,0}', null)"),
                      ("ab_p_adjust_holm p > 1 (function comment)", "select ab_p_adjust_holm('{0.5,1.5}')")):
        try:
            cur.execute(sql)
            code = "no error"
        except psycopg2.Error as e:
            code = e.pgcode
        check(f"{name} raises 22023", code == "22023", f"got {code}" + (" (internal error)" if code == "XX000" else ""))


def parallel_checks(cur):
    """Serial, parallel (Partial/Finalize, serialised states) and merged summaries agree."""
    cur.execute("""drop table if exists ab_big;
                   select setseed(0.17);
                   create table ab_big as
                     select (array['a', 'b', 'c'])[1 + i % 3] variant, i % 28 as day, x as covariate,
                            case when i % 997 = 0 then null else 0.8 * x + 5 * (random() - 0.5) + 0.3 * (i % 3) end value
                       from (select i, 50 + 20 * (random() + random() + random() - 1.5) x
                               from generate_series(1, 240000) i) g;
                   analyze ab_big""")
    query = "select variant, ab_stats(value, covariate)::text from ab_big group by variant order by variant"

    def summaries(sql):
        cur.execute(sql)
        return {v: json.loads(s) for v, s in cur.fetchall()}

    def same(a, b):
        return a.keys() == b.keys() and all(
            a[v].keys() == b[v].keys() and a[v]["n"] == b[v]["n"] and a[v]["binary"] == b[v]["binary"]
            and all(close(a[v][k], b[v][k], rel=MERGE_REL) for k in a[v] if k not in ("n", "binary")) for v in a)

    cur.execute("set max_parallel_workers_per_gather = 0")
    serial = summaries(query)
    check("ab_big: 3 variants, NULL values skipped",
          len(serial) == 3 and sum(s["n"] for s in serial.values()) == 240000 - 240000 // 997, json.dumps(serial))
    cur.execute("set parallel_setup_cost = 0; set parallel_tuple_cost = 0; set min_parallel_table_scan_size = 0;"
                "set max_parallel_workers_per_gather = 2")
    cur.execute("explain (costs off) " + query)
    plan = "\n".join(r[0] for r in cur.fetchall())
    check("the parallel plan has Partial and Finalize aggregates", "Partial" in plan and "Finalize" in plan, plan)
    cur.execute("explain (analyze, costs off, timing off, summary off) " + query)
    plan = "\n".join(r[0] for r in cur.fetchall())
    check("parallel workers ran (states serialised between processes)", "Workers Launched: 0" not in plan
          and "Workers Launched:" in plan, plan)
    parallel = summaries(query)
    check("parallel ab_stats equals serial (n exact, sums 1e-12)", same(parallel, serial), f"{parallel} vs {serial}")
    per_day = "with d as (select variant, day, ab_stats(value, covariate) s from ab_big group by 1, 2) "
    merged = summaries(per_day + "select variant, ab_stats_merge(s)::text from d group by 1 order by 1")
    check("ab_stats_merge over per-day summaries equals ab_stats over all rows", same(merged, serial),
          f"{merged} vs {serial}")
    shipped = summaries(per_day + "select variant, ab_stats_merge(s::text::ab_stats)::text from d group by 1 order by 1")
    check("ab_stats_merge over summaries shipped as text equals ab_stats over all rows", same(shipped, serial),
          f"{shipped} vs {serial}")
    cur.execute("reset parallel_setup_cost; reset parallel_tuple_cost; reset min_parallel_table_scan_size;"
                "reset max_parallel_workers_per_gather; drop table ab_big")


def main():
    conn = psycopg2.connect("")
    conn.autocommit = True  # an expected error must not abort the later checks
    cur = conn.cursor()
    data = datasets()
    load(cur, data)
    run(((compare_checks, (cur, data)), (type_checks, (cur, data)), (srm_holm_checks, (cur,)),
                          (error_checks, (cur,)), (parallel_checks, (cur,))))


if __name__ == "__main__":
    main()
