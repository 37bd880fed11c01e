#!/usr/bin/env bash
# Idempotent setup: installs only what is missing or at the wrong version.
# Every version comes from versions.env. Prints what it installs and how long it took.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/versions.env"
export PATH="$HOME/.cargo/bin:$PATH"
# One setup at a time on this machine, whichever checkout it runs from: two concurrent
# `cargo install tansu` would each take a quarter of an hour.
mkdir -p "${CARGO_HOME:-$HOME/.cargo}"
exec 9>"${CARGO_HOME:-$HOME/.cargo}/.pulse-setup.lock"
flock 9

step() {  # step NAME CMD... — run an install step and time it
  local name="$1"; shift
  local t0=$SECONDS
  echo "setup: installing $name ..."
  "$@"
  echo "setup: installed $name in $((SECONDS - t0))s"
}

# --- Debian packages (before any Postgres starts: apt may restart things) ---
pg_server_version="$(dpkg-query -W -f='${Version}' "postgresql-$PG_MAJOR" 2>/dev/null || true)"
if [ -z "$pg_server_version" ]; then
  echo "setup: postgresql-$PG_MAJOR is not installed; installing it" >&2
fi
need_pkgs=()
# postgresql-$PG_MAJOR-cron: pg_cron schedules raw.run_maintenance() (docs/partition-lifecycle.md).
# chromium and fonts: the bi suite renders the dashboards in headless Chromium (Playwright drives the
# system's browser; it never downloads one).
for p in "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" libclang-dev build-essential sudo pkg-config libssl-dev \
         "postgresql-$PG_MAJOR-cron" wrk chromium chromium-driver fonts-dejavu-core fonts-liberation; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$p")
done
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    local pkgs=()
    for p in "${need_pkgs[@]}"; do
      # Pin server-dev to the installed server so apt never upgrades a running server.
      if [ "$p" = "postgresql-server-dev-$PG_MAJOR" ] && [ -n "$pg_server_version" ]; then
        pkgs+=("$p=$pg_server_version")
      else
        pkgs+=("$p")
      fi
    done
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
  }
  step "apt: ${need_pkgs[*]}" apt_install
fi

# --- cargo-pgrx (exact version; pgrx crate must match) ---
grep -q "^pgrx = \"=$PGRX_VERSION\"" "$ROOT/extension/Cargo.toml" \
  || { echo "setup: extension/Cargo.toml must pin pgrx = \"=$PGRX_VERSION\" (versions.env)" >&2; exit 1; }
if ! cargo pgrx --version 2>/dev/null | grep -q "cargo-pgrx $PGRX_VERSION\$"; then
  step "cargo-pgrx $PGRX_VERSION" cargo install cargo-pgrx --version "=$PGRX_VERSION" --locked --force
fi
PG_CONFIG="/usr/lib/postgresql/$PG_MAJOR/bin/pg_config"
if ! grep -qs "pg$PG_MAJOR" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
  step "pgrx init (pg$PG_MAJOR)" cargo pgrx init "--pg$PG_MAJOR" "$PG_CONFIG"
fi

# --- tansu broker (Kafka protocol, sqlite storage) ---
if ! tansu --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
  step "tansu $TANSU_VERSION" cargo install tansu --version "$TANSU_VERSION" --locked --force \
    --no-default-features --features dynostore,libsql
fi

# --- dbt in a project-local venv ---
VENV="$ROOT/.venv"
if ! "$VENV/bin/dbt" --version 2>/dev/null | grep -q "installed: 1.11"; then
  dbt_install() {
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q "$DBT_CORE_SPEC" "$DBT_POSTGRES_SPEC"
  }
  step "dbt ($DBT_CORE_SPEC, $DBT_POSTGRES_SPEC) in .venv" dbt_install
fi
# --- Python venvs pinned by a spec list: reinstalled when the pins in versions.env change ---
# pinned_venv DIR SPECS LABEL
pinned_venv() {
  local venv="$1" specs="$2"
  if [ "$(cat "$venv/.pulse-specs" 2>/dev/null)" != "$specs" ]; then
    venv_install() {
      "$PYTHON" -m venv "$venv"
      "$venv/bin/pip" install -q --upgrade pip
      # shellcheck disable=SC2086 # the specs are space-separated on purpose
      "$venv/bin/pip" install -q $specs
      echo "$specs" >"$venv/.pulse-specs"
    }
    step "$3 ($specs) in $(basename "$venv")" venv_install
  fi
}
# Python references (scipy, scikit-learn) and the benchmark's model service.
pinned_venv "$ROOT/.venv-ml" "$ML_PY_SPECS" "python references"
# Superset and Playwright for make bi and the bi suite (make test runs it, so always installed).
pinned_venv "$ROOT/.venv-bi" "$BI_PY_SPECS" "superset and playwright"
# The drift benchmark's reference tool (Evidently): scripts/bench.sh runs setup with
# PULSE_SETUP_BENCH=1; make test never installs it.
if [ "${PULSE_SETUP_BENCH:-0}" = 1 ]; then
  pinned_venv "$ROOT/.venv-bench" "$BENCH_PY_SPECS" "benchmark references"
fi
echo "setup: ok (postgresql-$PG_MAJOR $pg_server_version, cargo-pgrx $PGRX_VERSION, tansu $TANSU_VERSION, dbt 1.11)"
