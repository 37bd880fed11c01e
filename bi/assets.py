"""Dashboards as code: import bi/superset/ into a running Superset, or export it back.

    python bi/assets.py import bi/superset   fill the connection placeholders, zip, POST /api/v1/assets/import/
    python bi/assets.py export bi/superset   GET /api/v1/assets/export/, strip instance ids, write YAML

Run with .venv-bi's python by scripts/bi.sh. Reads PULSE_BI_URL and PULSE_BI_ADMIN_PASSWORD; import also
PULSE_BI_PASSWORD_FILE (pulse_bi's password), PGPORT and PULSE_DB. The assets endpoints overwrite
databases, datasets, charts and dashboards alike (the dashboard importer would keep stale charts).
"""

import io
import json
import os
import re
import shutil
import sys
import zipfile
from pathlib import Path

import requests
import yaml

# The connection in databases/*.yaml: Superset's own masked-password form (the password goes in the
# import request, never in a file), with the port and database filled in at import time.
URI_TEMPLATE = "postgresql+psycopg2://pulse_bi:XXXXXXXXXX@127.0.0.1:${PGPORT}/${PULSE_DB}"


class Superset:
    """A logged-in API session: JWT for the API, the session cookie and CSRF token for writes."""

    def __init__(self, url: str, user: str = "admin", password: str | None = None):
        self.url = url.rstrip("/")
        self.http = requests.Session()
        password = password if password is not None else os.environ["PULSE_BI_ADMIN_PASSWORD"]
        r = self.http.post(f"{self.url}/api/v1/security/login",
                           json={"username": user, "password": password, "provider": "db", "refresh": False},
                           timeout=60)
        r.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        r = self.get("/api/v1/security/csrf_token/")
        self.http.headers["X-CSRFToken"] = r.json()["result"]
        self.http.headers["Referer"] = self.url

    def get(self, path: str, **kw) -> requests.Response:
        r = self.http.get(self.url + path, timeout=120, **kw)
        r.raise_for_status()
        return r

    def post(self, path: str, **kw) -> requests.Response:
        return self.http.post(self.url + path, timeout=300, **kw)

    def put(self, path: str, **kw) -> requests.Response:
        return self.http.put(self.url + path, timeout=120, **kw)

    def list(self, resource: str, columns: list[str]) -> list[dict]:
        q = f"(columns:!({','.join(columns)}),page_size:100)"
        return self.get(f"/api/v1/{resource}/", params={"q": q}).json()["result"]


def bundle_contents(root: Path) -> dict[str, str]:
    """The bundle's YAML files by path relative to root, connection placeholders filled."""
    contents = {}
    for path in sorted(root.rglob("*.yaml")):
        rel = path.relative_to(root).as_posix()
        text = path.read_text()
        if rel.startswith("databases/"):
            text = text.replace("${PGPORT}", os.environ["PGPORT"]).replace("${PULSE_DB}", os.environ["PULSE_DB"])
        contents[rel] = text
    return contents


def import_bundle(root: Path) -> None:
    contents = bundle_contents(root)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for rel, text in contents.items():
            # Superset drops the first path component of every entry (the export's folder name).
            z.writestr(f"pulse_bi/{rel}", text)
    password = Path(os.environ["PULSE_BI_PASSWORD_FILE"]).read_text().strip()
    passwords = {rel: password for rel in contents if rel.startswith("databases/")}
    api = Superset(os.environ["PULSE_BI_URL"])
    r = api.post("/api/v1/assets/import/",
                 files={"bundle": ("pulse_bi.zip", buf.getvalue(), "application/zip")},
                 data={"passwords": json.dumps(passwords)})
    if r.status_code != 200:
        sys.exit(f"import failed: HTTP {r.status_code}: {r.text[:2000]}")
    for d in sorted(api.list("dashboard", ["dashboard_title", "url"]), key=lambda d: d["dashboard_title"]):
        print(f"  {d['dashboard_title']}: {api.url}{d['url']}")


def clean_chart(config: dict) -> dict:
    """Drops the ids of the instance it was exported from; the importer assigns new ones."""
    for key in ("dashboards", "datasource", "slice_id"):
        config["params"].pop(key, None)
    if config.get("query_context"):
        qc = json.loads(config["query_context"])
        qc.pop("datasource", None)
        for key in ("datasource", "slice_id", "dashboards", "dashboardId"):
            qc.get("form_data", {}).pop(key, None)
        for query in qc.get("queries", []):
            query.pop("datasource", None)
        config["query_context"] = json.dumps(qc, sort_keys=True)
    return config


def export_bundle(root: Path) -> None:
    api = Superset(os.environ["PULSE_BI_URL"])
    data = api.get("/api/v1/assets/export/").content
    for sub in ("databases", "datasets", "charts", "dashboards"):
        shutil.rmtree(root / sub, ignore_errors=True)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            rel = name.split("/", 1)[1]
            if not rel.endswith(".yaml"):
                continue
            config = yaml.safe_load(z.read(name))
            kind = rel.split("/", 1)[0]
            if kind == "metadata.yaml":
                config = {"version": config["version"], "type": "assets"}
            elif kind == "databases":
                config["sqlalchemy_uri"] = URI_TEMPLATE
            elif kind == "charts":
                config = clean_chart(config)
            elif kind not in ("datasets", "dashboards"):
                continue  # saved queries, themes: not part of the bundle
            # File names without the instance's numeric ids, so a re-export diffs cleanly.
            out = root / re.sub(r"_\d+\.yaml$", ".yaml", rel)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(yaml.safe_dump(config, sort_keys=True, allow_unicode=True, width=120))
    print(f"exported to {root}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("import", "export"):
        sys.exit("usage: assets.py import|export DIR")
    (import_bundle if sys.argv[1] == "import" else export_bundle)(Path(sys.argv[2]))
