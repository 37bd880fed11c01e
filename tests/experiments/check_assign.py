"""Checks Pulse's GrowthBook-compatible assignment through SQL (run by tests/e2e/experiments.sh).

Connects with psycopg2.connect("") (libpq settings from the environment) to a database where
`create extension pulse` is done. Prints TAP lines "ok - name" / "not ok - name: why", exits 1
on any failure. The references are GrowthBook's own SDK test cases
(extension/src/experiments/growthbook_cases.json, transcribed from sdk-js test/cases.json) and
the SDK algorithms written out in Python below; none comes from Pulse.

  a. every fixture case replayed through SQL: hash (ab_hash, exact), getBucketRange
     (ab_bucket_ranges, 1e-8 like the JS suite's 8-decimal flooring), inNamespace
     (ab_in_namespace), getEqualWeights (ab_equal_weights, 1e-8) and run (ab_in_namespace, then
     the IMMUTABLE ab_assign). chooseVariation has no SQL form: it is a Rust unit test only.
     Deliberate difference: coverage outside [0, 1] raises 22023 where GrowthBook clamps;
  b. non-ASCII unit ids and seeds: ab_hash equals GrowthBook's Python SDK hash exactly;
  c. ab_assign equals getBucketRanges / chooseVariation written in Python on random units,
     weights (valid, invalid -> equal weights) and coverage;
  d. variant shares over 200k units are within 4 binomial standard errors of weight * coverage,
     and ab_srm of the counts does not flag them.
"""
import json
import math
import os
import random
import sys

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import check, run  # noqa: E402

CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "extension", "src", "experiments",
                     "growthbook_cases.json")
TOL = 1e-8  # the JS suite floors both sides to 8 decimals before comparing ranges and weights


def sqlstate(cur, sql, args=()):
    """The SQLSTATE raised by sql, or 'no error'."""
    try:
        cur.execute(sql, args)
        cur.fetchall()
        return "no error"
    except psycopg2.Error as e:
        return e.pgcode


# ---- GrowthBook's algorithms, written out ---------------------------------------------------------
# FNV-1a 32 over Unicode code points, as GrowthBook's Python SDK (ord(c) per character). The JS
# SDK hashes UTF-16 code units (str.charCodeAt) instead, so characters outside the Basic
# Multilingual Plane (emoji and other astral characters, two code units each) hash differently in
# GrowthBook's JS and Python SDKs; BMP characters are one code unit and one code point, and agree
# in both. Pulse follows the Python SDK (code points).
def fnv32(s):
    h = 0x811C9DC5
    for c in s:
        h = ((h ^ ord(c)) * 0x01000193) % 2**32
    return h


def fnv32_utf16(s):
    """The JS SDK's variant, over UTF-16 code units (only to show where the SDKs differ)."""
    b = s.encode("utf-16-le")
    h = 0x811C9DC5
    for i in range(0, len(b), 2):
        h = ((h ^ int.from_bytes(b[i:i + 2], "little")) * 0x01000193) % 2**32
    return h


def gb_hash(seed, value, version, fnv=fnv32):
    if version == 1:
        return fnv(value + seed) % 1000 / 1000
    if version == 2:
        return fnv(str(fnv(seed + value))) % 10000 / 10000
    return None


def equal_weights(n):
    return [1 / n] * n if n > 0 else []


def bucket_ranges(n, coverage, weights):
    """getBucketRanges with the SDK's operations in the same order (coverage already in [0, 1])."""
    w = weights if weights is not None else equal_weights(n)
    if len(w) != n:
        w = equal_weights(n)
    total = 0
    for x in w:  # weights.reduce((w, sum) => sum + w, 0): left to right from 0
        total = total + x
    if total < 0.99 or total > 1.01:
        w = equal_weights(n)
    cumulative, ranges = 0, []
    for x in w:
        start = cumulative
        cumulative += x
        ranges.append((start, start + coverage * x))
    return ranges


def choose_variation(bucket, ranges):
    for i, (start, end) in enumerate(ranges):
        if start <= bucket < end:
            return i
    return -1


def reference_assign(unit, n, weights, seed, coverage, version):
    if unit == "" or n < 2:
        return None
    i = choose_variation(gb_hash(seed, unit, version), bucket_ranges(n, coverage, weights))
    return None if i < 0 else f"v{i}"


def variants(n):
    return [f"v{i}" for i in range(n)]


# ---- a. the GrowthBook SDK test cases --------------------------------------------------------------
def fixture_checks(cur, cases):
    bad = []
    for seed, value, version, expected in cases["hash"]:
        cur.execute("select ab_hash(%s, %s, %s)", (seed, value, version))
        got = cur.fetchone()[0]
        if got != expected or (got is None) != (expected is None):
            bad.append(f"hash({seed!r}, {value!r}, {version}) = {got!r}, expected {expected!r}")
    check(f"{len(cases['hash'])} GrowthBook hash cases reproduce exactly (version 99 is NULL)", not bad, "; ".join(bad))

    bad, clamped = [], []
    for c in cases["getBucketRange"]:
        sql = ("select range_start, range_end from ab_bucket_ranges(%s, %s, %s::float8[]) order by variant")
        args = (c["num_variations"], c["coverage"], c["weights"])
        if not 0 <= c["coverage"] <= 1:
            clamped.append(c["name"])
            code = sqlstate(cur, sql, args)
            if code != "22023":
                bad.append(f"{c['name']}: coverage {c['coverage']} gave {code}, expected 22023")
            continue
        cur.execute(sql, args)
        got = cur.fetchall()
        want = c["expected"]
        if len(got) != len(want) or any(abs(g - w) > TOL for gr, wr in zip(got, want) for g, w in zip(gr, wr)):
            bad.append(f"{c['name']}: {got} vs {want}")
    n_ok = len(cases["getBucketRange"]) - len(clamped)
    check(f"{n_ok} GrowthBook getBucketRange cases reproduce (1e-8); {len(clamped)} with coverage outside [0, 1] "
          f"({', '.join(clamped)}) raise 22023 (deliberate difference: GrowthBook clamps)",
          not bad and len(clamped) == 2, "; ".join(bad) or f"{len(clamped)} clamped cases, expected 2")

    bad = []
    for c in cases["inNamespace"]:
        cur.execute("select ab_in_namespace(%s, %s, %s, %s)", (c["id"], c["namespace"], c["range_start"], c["range_end"]))
        got = cur.fetchone()[0]
        if got is not c["expected"]:
            bad.append(f"{c['name']}: {got}")
    check(f"{len(cases['inNamespace'])} GrowthBook inNamespace cases reproduce", not bad, "; ".join(bad))

    bad = []
    for c in cases["getEqualWeights"]:
        cur.execute("select ab_equal_weights(%s)", (c["n"],))
        got = cur.fetchone()[0]
        if got is None or len(got) != len(c["expected"]) or any(abs(g - w) > TOL for g, w in zip(got, c["expected"])):
            bad.append(f"n {c['n']}: {got} vs {c['expected']}")
    check(f"{len(cases['getEqualWeights'])} GrowthBook getEqualWeights cases reproduce (1e-8)", not bad, "; ".join(bad))

    # run: GrowthBook._run with the SDK defaults (notes): seed = experiment.seed || key, hash
    # version = experiment.hashVersion || 1, coverage ?? 1; the namespace check first.
    bad = []
    for c in cases["run"]:
        ns = c["namespace"] or [None, None, None]
        cur.execute("""select case when %(ns)s::text is null or ab_in_namespace(%(u)s, %(ns)s, %(s)s, %(e)s)
                                   then ab_assign(%(u)s, %(v)s::text[], %(w)s::float8[], %(seed)s, %(cov)s, %(hv)s) end""",
                    dict(ns=ns[0], s=ns[1], e=ns[2], u=c["unit_id"], v=variants(c["num_variations"]), w=c["weights"],
                         seed=c["seed"] or c["key"], cov=1 if c["coverage"] is None else c["coverage"],
                         hv=c["hash_version"] or 1))
        got = cur.fetchone()[0]
        want = None if c["expected_index"] is None else f"v{c['expected_index']}"
        if got != want:
            bad.append(f"{c['name']}: {got!r}, expected {want!r}")
    check(f"{len(cases['run'])} GrowthBook run cases reproduce", not bad, "; ".join(bad))


# ---- b. non-ASCII unit ids -----------------------------------------------------------------------
POOLS = {
    "ascii": [chr(c) for c in range(0x21, 0x7F)],
    "latin": list("éèêëàâäçñøåæœßÉÀÇÑÖÜüöïîôûÿ"),
    "greek": [chr(c) for c in range(0x3B1, 0x3CA)] + [chr(c) for c in range(0x391, 0x3AA) if c != 0x3A2],
    "cjk": [chr(c) for c in range(0x4E00, 0x9FFF, 37)] + list("用户実験테스트ひらがなカタカナ"),
    "arabic": [chr(c) for c in range(0x621, 0x64B)],
    "emoji": [chr(c) for c in range(0x1F600, 0x1F650)] + [chr(c) for c in (0x1F680, 0x1F9D1, 0x1FAE0, 0x20000, 0x2A6D6)],
    "combining": [chr(c) for c in range(0x300, 0x370, 5)],  # after a base letter: e + U+0301 and the like
}


def random_id(r):
    kinds = r.sample(sorted(POOLS), r.randint(1, 3))
    out = []
    for _ in range(r.randint(1, 16)):
        kind = r.choice(kinds)
        if kind == "combining":
            out.append(r.choice("aeiouAEIOU") + r.choice(POOLS["combining"]))
        else:
            out.append(r.choice(POOLS[kind]))
    s = "".join(out)
    return s if r.random() < 0.5 else f"user-{r.randint(0, 10**6)}-{s}"


def unicode_checks(cur):
    r = random.Random(20240613)
    ids = [random_id(r) for _ in range(2000)]
    ids += ["é", "😀", "用户-42", "e\u0301", "\u00e9", "👩‍👩‍👧", "😀😀", "ß", "Ωμέγα", "مرحبا"]  # a few fixed ones
    seeds = ["", "exp-1", "checkout-button", "实验-ü", "🚀launch", "α"]
    rows = [(s, u, v) for u in ids for s in (r.choice(seeds), r.choice(seeds)) for v in (1, 2)]
    cur.execute("""select ab_hash(s, u, v) from unnest(%s::text[], %s::text[], %s::int[]) with ordinality t(s, u, v, i)
                   order by i""", ([x[0] for x in rows], [x[1] for x in rows], [x[2] for x in rows]))
    got = [g for (g,) in cur.fetchall()]
    bad = [f"ab_hash({s!r}, {u!r}, {v}) = {g}, expected {gb_hash(s, u, v)}" for (s, u, v), g in zip(rows, got)
           if g != gb_hash(s, u, v)]
    kinds = {k: sum(any(c in POOLS[k] for c in u) for u in ids) for k in POOLS if k != "ascii"}
    check(f"ab_hash equals GrowthBook's Python SDK hash (code points) exactly on {len(rows)} (seed, non-ASCII id, "
          f"version) triples, {len(ids)} ids ({', '.join(f'{k} {n}' for k, n in kinds.items())})",
          len(got) == len(rows) and not bad, f"{len(bad)} differ: " + "; ".join(bad[:5]))

    # Where the SDKs themselves differ: astral characters are two UTF-16 code units in the JS SDK.
    astral = [(s, u, v) for (s, u, v) in rows if any(ord(c) > 0xFFFF for c in s + u)]
    bmp = [(s, u, v) for (s, u, v) in rows if all(ord(c) <= 0xFFFF for c in s + u)]
    js_differs = sum(gb_hash(s, u, v, fnv32_utf16) != gb_hash(s, u, v) for s, u, v in astral)
    js_bmp_agrees = all(gb_hash(s, u, v, fnv32_utf16) == gb_hash(s, u, v) for s, u, v in bmp)
    check(f"reference: GrowthBook's JS (UTF-16) and Python (code point) hashes agree on all {len(bmp)} BMP-only "
          f"triples and differ on {js_differs} of {len(astral)} with astral characters (Pulse follows Python)",
          js_bmp_agrees and js_differs > 0.9 * len(astral), f"BMP agree {js_bmp_agrees}, astral differ {js_differs}")

    # The Rust unit test's values, from the same reference.
    cur.execute("select ab_hash('exp-1', '用户-42', 2), ab_hash('exp-1', '用户-42', 1), ab_hash('', '😀', 2)")
    got = cur.fetchone()
    want = (gb_hash("exp-1", "用户-42", 2), gb_hash("exp-1", "用户-42", 1), gb_hash("", "😀", 2))
    check(f"ab_hash('exp-1', '用户-42') and ab_hash('', '😀') equal the reference {want}", got == want, f"{got}")


# ---- c. ab_assign against getBucketRanges / chooseVariation ---------------------------------------
def random_config(r):
    n = r.randint(2, 5)
    kind = r.random()
    if kind < 0.15:
        weights = None  # equal weights
    elif kind < 0.55:  # valid: normalised
        raw = [r.random() + 0.05 for _ in range(n)]
        weights = [x / sum(raw) for x in raw]
    elif kind < 0.7:  # valid: inside the 0.99..1.01 band, not renormalised
        raw = [r.random() + 0.05 for _ in range(n)]
        f = r.uniform(0.991, 1.009)
        weights = [x / sum(raw) * f for x in raw]
    elif kind < 0.85:  # invalid sum -> equal weights
        raw = [r.random() + 0.05 for _ in range(n)]
        f = r.choice([r.uniform(0.3, 0.985), r.uniform(1.015, 2.0)])
        weights = [x / sum(raw) * f for x in raw]
    else:  # wrong length -> equal weights
        raw = [r.random() + 0.05 for _ in range(r.choice([k for k in range(1, 7) if k != n]))]
        weights = [x / sum(raw) for x in raw]
    coverage = 1.0 if r.random() < 0.3 else r.uniform(0.01, 1.0)
    seed = r.choice(["", "exp", "checkout-button", f"seed-{r.randint(0, 999)}", "ünï-😀"])
    return n, weights, seed, coverage, r.choice((1, 2))


def unit_id(r):
    return random_id(r) if r.random() < 0.2 else f"{r.choice(['user-', 'u', '', 'acct_'])}{r.randint(0, 10**9)}"


def assign_checks(cur):
    r = random.Random(7)
    # One configuration per row: arrays change from row to row (ab_assign re-reads them).
    rows = [(unit_id(r), *random_config(r)) for _ in range(5000)]
    cur.execute("""select ab_assign(u, string_to_array(v, ','), case when w <> '' then string_to_array(w, ',')::float8[] end,
                                    s, c, h)
                     from unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::float8[], %s::int[])
                          with ordinality t(u, v, w, s, c, h, i)
                    order by i""",
                ([x[0] for x in rows], [",".join(variants(x[1])) for x in rows],
                 [",".join(repr(w) for w in x[2]) if x[2] is not None else "" for x in rows],
                 [x[3] for x in rows], [x[4] for x in rows], [x[5] for x in rows]))
    got = [g for (g,) in cur.fetchall()]
    want = [reference_assign(*x) for x in rows]
    bad = [f"{x}: {g!r} vs {w!r}" for x, g, w in zip(rows, got, want) if g != w]
    fallback = sum(x[2] is not None and (len(x[2]) != x[1] or not 0.99 <= sum(x[2]) <= 1.01) for x in rows)
    check(f"ab_assign equals getBucketRanges/chooseVariation in Python on 5000 units, a random configuration per row "
          f"(2-5 variants, coverage in (0, 1], {sum(w is None for w in want)} not in the experiment, "
          f"{fallback} with weights falling back to equal)",
          len(got) == len(rows) and not bad, f"{len(bad)} differ: " + "; ".join(bad[:5]))

    # Constant arrays per statement (parsed once per call site): 10 configurations x 500 units.
    bad, total = [], 0
    for _ in range(10):
        n, weights, seed, coverage, version = random_config(r)
        units = [unit_id(r) for _ in range(500)]
        cur.execute("""select ab_assign(u, %s::text[], %s::float8[], %s, %s, %s)
                         from unnest(%s::text[]) with ordinality t(u, i) order by i""",
                    (variants(n), weights, seed, coverage, version, units))
        for u, (g,) in zip(units, cur.fetchall()):
            total += 1
            w = reference_assign(u, n, weights, seed, coverage, version)
            if g != w:
                bad.append(f"{u!r} {n} {weights} {seed!r} {coverage} v{version}: {g!r} vs {w!r}")
    check(f"ab_assign equals the Python reference on {total} units with constant arrays (10 configurations)",
          total == 5000 and not bad, f"{len(bad)} differ: " + "; ".join(bad[:5]))


# ---- d. shares -------------------------------------------------------------------------------------
def share_checks(cur):
    n = 200_000
    for version, weights, coverage in ((2, [0.5, 0.3, 0.2], 0.8), (2, [0.25, 0.25, 0.25, 0.25], 1.0),
                                       (1, [0.6, 0.4], 0.9)):
        vs = variants(len(weights))
        cur.execute("""select v, count(*) from (select ab_assign('user-' || i, %s::text[], %s::float8[], 'share-test', %s, %s) v
                                                  from generate_series(1, %s) i) a group by v""",
                    (vs, weights, coverage, version, n))
        counts = dict(cur.fetchall())
        label = f"hash v{version}, weights {weights}, coverage {coverage}"
        bad = []
        for name, p in [*zip(vs, (w * coverage for w in weights)), (None, 1 - coverage)]:
            if p == 0:
                ok = counts.get(name, 0) == 0
            else:
                se = math.sqrt(p * (1 - p) / n)
                ok = abs(counts.get(name, 0) / n - p) <= 4 * se
            if not ok:
                bad.append(f"{name}: {counts.get(name, 0)} of {n}, expected share {p:.4f}")
        check(f"{n} units, {label}: every variant's share (and the excluded share) is within 4 standard errors",
              not bad and set(counts) <= {*vs, None}, "; ".join(bad) + f" counts {counts}")
        cur.execute("select ab_srm(%s::bigint[], %s::float8[])", ([counts.get(v, 0) for v in vs], weights))
        p = cur.fetchone()[0]
        check(f"{n} units, {label}: ab_srm of the counts is not < 0.001 (p {p:.3g})", p is not None and p >= 0.001,
              f"p {p}, counts {counts}")


def main():
    with open(CASES) as f:
        cases = json.load(f)
    conn = psycopg2.connect("")
    conn.autocommit = True  # an expected error must not abort the later checks
    cur = conn.cursor()
    run(((fixture_checks, (cur, cases)), (unicode_checks, (cur,)), (assign_checks, (cur,)),
                          (share_checks, (cur,))))


if __name__ == "__main__":
    main()
