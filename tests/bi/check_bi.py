"""The BI suite: a running Superset with bi/superset/ imported, checked against the database it reads.

scripts/test.sh (suite_bi) starts a fresh Superset through scripts/bi.sh and runs this with .venv-bi's
python. Prints `ok - ...` / `not ok - ...` per check and exits 1 when one failed. Environment:
PULSE_BI_URL, PULSE_BI_ADMIN_PASSWORD, PULSE_BI_PASSWORD_FILE (pulse_bi's password), PGPORT,
PULSE_DB (the database Superset reads), PULSE_BI_SCREENSHOTS (directory for the PNGs).
"""

import datetime as dt
import math
import os
import sys
from pathlib import Path

import psycopg2
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "bi"), str(Path(__file__).parent)]
from assets import Superset  # noqa: E402
from browser import logged_in_page, page_errors, wait_for_charts  # noqa: E402

BUNDLE = ROOT / "bi" / "superset"
DB = os.environ["PULSE_DB"]
# Sums of numeric(…, 2) euro amounts reach Superset's JSON as floats: a cent's half is the tolerance.
EUR_TOL = 0.005
# Ratios and statistics pass through float8 unchanged: only float formatting may differ.
REL_TOL = 1e-9

failed = 0


def check(ok: bool, what: str, detail: str = "") -> bool:
    global failed
    failed += not ok
    print(f"{'ok' if ok else 'not ok'} - {what}{'' if ok or not detail else ': ' + detail}", flush=True)
    return ok


def close(a, b, abs_tol: float = 0.0) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=REL_TOL, abs_tol=abs_tol)


def same(a, b) -> bool:
    """Equal booleans, integers and texts; floats to REL_TOL."""
    if isinstance(b, float) or isinstance(a, float):
        return close(a, b)
    return a == b


def epoch_ms(day: dt.date) -> int:
    """How Superset's JSON carries a date: epoch milliseconds of its midnight UTC."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp() * 1000)


def load_bundle() -> tuple[dict, dict]:
    """Dashboards and charts from the committed YAML."""
    dashboards, charts = {}, {}
    for path in sorted(BUNDLE.glob("dashboards/*.yaml")):
        d = yaml.safe_load(path.read_text())
        dashboards[d["slug"]] = d
    for path in sorted(BUNDLE.glob("charts/*.yaml")):
        c = yaml.safe_load(path.read_text())
        charts[c["uuid"]] = c
    return dashboards, charts


def chart_names(dashboard: dict) -> set[str]:
    return {v["meta"]["sliceName"] for v in dashboard["position"].values()
            if isinstance(v, dict) and v.get("type") == "CHART"}


def connect_bi():
    password = Path(os.environ["PULSE_BI_PASSWORD_FILE"]).read_text().strip()
    conn = psycopg2.connect(host="127.0.0.1", port=os.environ["PGPORT"], dbname=DB, user="pulse_bi", password=password)
    conn.autocommit = True
    return conn


def sql(conn, query: str, *args) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(query, args)
        return cur.fetchall()


def sql_one(conn, query: str, *args):
    return sql(conn, query, *args)[0][0]


class Data:
    """GET /api/v1/chart/<id>/data/ (the saved query context) by chart name, fetched once."""

    def __init__(self, api: Superset, ids: dict[str, int]):
        self.api, self.ids, self.cache = api, ids, {}

    def results(self, name: str) -> list[dict]:
        if name not in self.cache:
            r = self.api.http.get(f"{self.api.url}/api/v1/chart/{self.ids[name]}/data/", timeout=120)
            if r.status_code != 200:
                raise RuntimeError(f"HTTP {r.status_code}: {r.text[:300]}")
            self.cache[name] = r.json()["result"]
        return self.cache[name]

    def rows(self, name: str, query: int = 0) -> list[dict]:
        return self.results(name)[query]["data"]

    def value(self, name: str, key: str):
        return self.rows(name)[0][key]


def check_imports(api: Superset, dashboards: dict, charts: dict) -> dict[str, int]:
    for slug, d in dashboards.items():
        r = api.http.get(f"{api.url}/api/v1/dashboard/{slug}/charts", timeout=60)
        got = {c["slice_name"] for c in r.json()["result"]} if r.status_code == 200 else set()
        want = chart_names(d)
        check(r.status_code == 200 and got == want, f"dashboard {slug} imported with its {len(want)} charts",
              f"HTTP {r.status_code}, missing {sorted(want - got)}, extra {sorted(got - want)}")
    listed = {c["uuid"]: c for c in api.list("chart", ["id", "slice_name", "uuid"])}
    check(set(charts) <= set(listed), f"all {len(charts)} charts imported", f"missing {set(charts) - set(listed)}")
    dbs = api.list("database", ["id", "database_name"])
    uri = api.get(f"/api/v1/database/{dbs[0]['id']}/connection").json()["result"]["sqlalchemy_uri"] if dbs else ""
    check(len(dbs) == 1 and "//pulse_bi:" in uri and uri.endswith(f"/{DB}"),
          f"the one database connection reads {DB} as pulse_bi", uri)
    return {c["slice_name"]: listed[u]["id"] for u, c in charts.items() if u in listed}


def check_chart_data(data: Data) -> None:
    for name in sorted(data.ids):
        try:
            counts = [q["rowcount"] for q in data.results(name)]
            check(all(n >= 1 for n in counts), f"chart '{name}' returns rows {counts}", "a query returned none")
        except Exception as e:  # noqa: BLE001 - any failure is this chart's failure
            check(False, f"chart '{name}' returns rows", str(e))


def key_numbers(data: Data, conn) -> list[tuple[str, object]]:
    """(what, callable returning (ok, detail)) for the numbers the dashboards headline."""
    checks = []

    def add(what):
        def wrap(fn):
            checks.append((what, fn))
            return fn
        return wrap

    @add("total GMV big number = sum(gmv_eur) of bi.sales_daily (±0.005 EUR)")
    def _():
        got, want = data.value("Total GMV (EUR)", "gmv_eur"), sql_one(conn, "select sum(gmv_eur) from bi.sales_daily")
        return close(got, want, EUR_TOL), f"{got} vs {want}"

    @add("total orders big number = sum(orders) of bi.sales_daily")
    def _():
        got, want = data.value("Total orders", "orders"), sql_one(conn, "select sum(orders) from bi.sales_daily")
        return got == want, f"{got} vs {want}"

    @add("mean order value big number = GMV / orders of bi.sales_daily (relative 1e-9)")
    def _():
        got = data.value("Mean order value (EUR)", "avg_order_value_eur")
        want = sql_one(conn, "select sum(gmv_eur) / sum(orders) from bi.sales_daily")
        return close(got, want), f"{got} vs {want}"

    @add("GMV per minute chart has every minute of bi.sales_per_minute and its GMV (±0.005 EUR per minute)")
    def _():
        rows = data.rows("GMV per minute (EUR)")
        n, total = sql(conn, "select count(*), sum(gmv_eur) from bi.sales_per_minute")[0]
        got = sum(r["gmv_eur"] for r in rows)
        return len(rows) == n and close(got, total, EUR_TOL * n), f"{len(rows)} minutes, {got} vs {n}, {total}"

    @add("GMV and orders per hour chart totals = bi.sales_hourly")
    def _():
        gmv = sum(r["gmv_eur"] for r in data.rows("GMV and orders per hour", 0))
        orders = sum(r["orders"] for r in data.rows("GMV and orders per hour", 1))
        n, want_gmv, want_orders = sql(conn, "select count(*), sum(gmv_eur), sum(orders) from bi.sales_hourly")[0]
        return close(gmv, want_gmv, EUR_TOL * n) and orders == want_orders, f"{gmv}, {orders} vs {want_gmv}, {want_orders}"

    @add("conversion funnel sessions per step = bi.conversion_funnel")
    def _():
        got = {r["step"]: r["sessions"] for r in data.rows("Conversion funnel")}
        want = dict(sql(conn, "select step, sum(sessions) from bi.conversion_funnel group by step"))
        return got == want, f"{got} vs {want}"

    @add("top products chart = the 10 largest units_sold of bi.product_performance")
    def _():
        got = sorted((r["units_sold"] for r in data.rows("Top products by units sold")), reverse=True)
        want = [r[0] for r in sql(conn, "select units_sold from bi.product_performance order by units_sold desc limit 10")]
        return got == want, f"{got} vs {want}"

    for name, column in (("Orders", "orders"), ("Flagged orders", "flagged_orders"), ("Chargebacks", "chargebacks"),
                         ("Chargebacks caught", "flagged_chargebacks")):
        @add(f"fraud big number '{name}' = sum({column}) of bi.fraud_daily")
        def _(name=name, column=column):
            got = data.value(name, column)
            want = sql_one(conn, f"select sum({column}) from bi.fraud_daily")
            return got == want, f"{got} vs {want}"

    @add("fraud KPI table = bi.fraud_daily, every day and rate (relative 1e-9)")
    def _():
        cols = ["orders", "chargebacks", "chargeback_rate", "flagged_rate", "fraud_caught_rate", "false_positive_rate",
                "precision"]
        got = {int(r["day"]): r for r in data.rows("Fraud KPIs per day")}
        want = {epoch_ms(w[0]): w[1:] for w in sql(conn, f"select day, {', '.join(cols)} from bi.fraud_daily")}
        bad = [k for k, vals in want.items() if not all(same(got.get(k, {}).get(c), v) for c, v in zip(cols, vals))]
        return len(got) == len(want) > 0 and not bad, f"{len(got)} rows vs {len(want)}, differing days (epoch ms) {bad}"

    exp_cols = ["units", "conversion_rate", "conversion_lift", "conversion_lift_ci_low", "conversion_lift_ci_high",
                "conversion_p_value_holm", "srm_p_value", "srm_flag"]

    @add("experiment table: every variant's units, lift, CI low/high, Holm p and SRM = bi.experiment_results")
    def _():
        got = {(r["experiment"], r["variant"]): r for r in data.rows("Conversion per variant")}
        want = {(w[0], w[1]): w[2:] for w in sql(conn, f"select experiment, variant, {', '.join(exp_cols)} "
                                                       "from bi.experiment_results")}
        bad = [k for k, vals in want.items() if not all(same(got.get(k, {}).get(c), v) for c, v in zip(exp_cols, vals))]
        return len(got) == len(want) > 0 and not bad, f"{len(got)} rows vs {len(want)}, differing {bad}"

    for chart, prefix in (("Conversion lift with 95% CI", "conversion"), ("Revenue per unit lift with 95% CI (order currency, as ab_report)", "revenue")):
        @add(f"'{chart}' bars = {prefix}_lift and its CI in bi.experiment_results")
        def _(chart=chart, prefix=prefix):
            got = {r["experiment: variant"]: (r["CI low"], r["lift"], r["CI high"]) for r in data.rows(chart)}
            want = {f"{e}: {v}": (lo, lift, hi) for e, v, lo, lift, hi in sql(conn, f"""
                select experiment, variant, {prefix}_lift_ci_low, {prefix}_lift, {prefix}_lift_ci_high
                  from bi.experiment_results where not is_control""")}
            ok = got.keys() == want.keys() and all(all(close(a, b) for a, b in zip(got[k], want[k])) for k in want)
            return ok and any(w[1] is not None for w in want.values()), f"{got} vs {want}"

    @add("experiments failing SRM big number = experiments with srm_flag")
    def _():
        got = data.value("Experiments failing the SRM check", "srm_experiments")
        want = sql_one(conn, "select count(distinct experiment) from bi.experiment_results where srm_flag")
        return got == want, f"{got} vs {want}"

    @add("drift alerts big number = count(*) of bi.drift_alerts, and at least one alert")
    def _():
        got, want = data.value("Drift alerts", "alerts"), sql_one(conn, "select count(*) from bi.drift_alerts")
        return got == want and want > 0, f"{got} vs {want}"

    @add("latest drift alerts table starts at the latest alert and has every alert (up to 100)")
    def _():
        rows = data.rows("Latest drift alerts")
        n, latest = sql(conn, "select count(*), max(raised_at) from bi.drift_alerts")[0]
        # Milliseconds in the JSON, microseconds in Postgres: equal to the millisecond.
        ok = len(rows) == min(n, 100) and abs(rows[0]["raised_at"] - latest.timestamp() * 1000) < 1
        return ok, f"{len(rows)} rows, first {rows[0]['raised_at']} vs {n}, {latest}"

    @add("largest drift statistic big number = max(max_statistic) of bi.drift_daily")
    def _():
        got = data.value("Largest drift statistic", "max_statistic")
        want = sql_one(conn, "select max(max_statistic) from bi.drift_daily")
        return close(got, want), f"{got} vs {want}"

    @add("stock-out alerts big number = products with stock_out_alert in bi.inventory_levels, and at least one")
    def _():
        got = data.value("Stock-out alerts", "stock_out_alerts")
        want = sql_one(conn, "select count(*) from bi.inventory_levels where stock_out_alert")
        return got == want and want > 0, f"{got} vs {want}"

    @add("stock-out table lists exactly the alerting products, soonest runout first")
    def _():
        rows = data.rows("Stock-out alerts by runout date")
        want = sql(conn, "select product_id, runout_days from bi.inventory_levels where stock_out_alert")
        days = [r["runout_days"] for r in rows if r["runout_days"] is not None]
        ok = {r["product_id"] for r in rows} == {w[0] for w in want} and len(rows) == len(want) and days == sorted(days)
        return ok, f"{[r['product_id'] for r in rows]} vs {sorted(w[0] for w in want)}"

    return checks


def check_key_numbers(data: Data, conn) -> None:
    for what, fn in key_numbers(data, conn):
        try:
            ok, detail = fn()
            check(ok, what, detail)
        except Exception as e:  # noqa: BLE001
            check(False, what, f"{type(e).__name__}: {e}")


def check_permissions(api: Superset, conn, datasets: list[dict]) -> None:
    for ds in datasets:
        what = f"pulse_bi reads bi.{ds['table_name']} and it has every column the dashboards use"
        try:
            rows = sql_one(conn, f"select count(*) from bi.{ds['table_name']}")
            cols = {r[0] for r in sql(conn, "select column_name from information_schema.columns "
                                            "where table_schema = 'bi' and table_name = %s", ds["table_name"])}
            missing = {c["column_name"] for c in ds["columns"]} - cols
            check(not missing, f"{what} ({rows} rows)", f"missing {sorted(missing)}")
        except psycopg2.Error as e:
            check(False, what, f"{e.pgcode}: {e.pgerror}")
    analytics = [f"analytics.{r[0]}" for r in sql(conn, """
        select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'analytics' and c.relkind in ('r', 'v', 'm', 'p') order by 1""")]
    check(len(analytics) > 0, f"analytics has relations to deny ({len(analytics)})")
    for rel in ["raw.orders", "raw.customers", "pulse.decisions", *analytics]:
        try:
            sql(conn, f"select 1 from {rel} limit 1")
            check(False, f"pulse_bi is denied {rel}", "the select succeeded")
        except psycopg2.Error as e:
            check(e.pgcode == "42501", f"pulse_bi is denied {rel} (SQLSTATE 42501)", f"{e.pgcode}: {e.pgerror}")
    try:
        sql(conn, "create table bi.pulse_bi_write_probe (x int)")
        check(False, "pulse_bi cannot create tables in schema bi", "the create succeeded")
    except psycopg2.Error as e:
        check(e.pgcode == "42501", "pulse_bi cannot create tables in schema bi (SQLSTATE 42501)", f"{e.pgcode}")
    # Through Superset itself: SQL Lab runs on the same connection the dashboards use.
    db_id = api.list("database", ["id"])[0]["id"]
    r = api.post("/api/v1/sqllab/execute/", json={"database_id": db_id, "sql": "select count(*) from raw.orders",
                                                  "runAsync": False, "schema": "bi", "client_id": "pulsebi1"})
    check(r.status_code != 200 and "permission denied" in r.text, "Superset's connection is denied raw.orders",
          f"HTTP {r.status_code}: {r.text[:200]}")


def check_screenshots(url: str, password: str, dashboards: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with logged_in_page(url, "admin", password) as page:
        for slug, d in dashboards.items():
            what = f"dashboard {slug} renders its {len(chart_names(d))} charts in Chromium without errors"
            try:
                page.goto(f"{url}/superset/dashboard/{slug}/")
                wait_for_charts(page, len(chart_names(d)))
                errors = page_errors(page)
                path = out / f"{slug}.png"
                page.screenshot(path=str(path), full_page=True)
                check(not errors, f"{what} ({path})", f"errors on the page: {errors}")
            except Exception as e:  # noqa: BLE001
                try:
                    page.screenshot(path=str(out / f"{slug}.png"), full_page=True)
                except Exception:  # noqa: BLE001
                    pass
                check(False, what, f"{type(e).__name__}: {str(e)[:300]}")


def main() -> int:
    url, password = os.environ["PULSE_BI_URL"], os.environ["PULSE_BI_ADMIN_PASSWORD"]
    dashboards, charts = load_bundle()
    datasets = [yaml.safe_load(p.read_text()) for p in sorted(BUNDLE.glob("datasets/*/*.yaml"))]
    check(len(dashboards) == 5 and len(charts) > 0, f"bundle holds 5 dashboards and {len(charts)} charts")
    api = Superset(url, password=password)
    ids = check_imports(api, dashboards, charts)
    data = Data(api, ids)
    check_chart_data(data)
    conn = connect_bi()
    check_key_numbers(data, conn)
    check_permissions(api, conn, datasets)
    check_screenshots(url, password, dashboards, Path(os.environ["PULSE_BI_SCREENSHOTS"]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
