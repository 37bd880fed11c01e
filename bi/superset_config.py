"""Superset settings for Pulse's BI layer; loaded through SUPERSET_CONFIG_PATH by scripts/bi.sh.

Everything instance-specific comes from the environment scripts/bi.sh sets, so the same file serves
`make bi` (metadata database `superset`, port 28088) and the test suite's throwaway instance.
"""

import os

# Generated once into .pulse/bi/secret_key by scripts/bi.sh; it encrypts the stored connection
# password, so it must not change between runs against the same metadata database.
SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
# Superset's own metadata lives in a database of the embedded cluster, never in the data database.
SQLALCHEMY_DATABASE_URI = os.environ["PULSE_BI_METADATA_URI"]

# API clients (scripts/bi.sh, tests/bi) fetch /api/v1/security/csrf_token/ like the browser does.
WTF_CSRF_ENABLED = True

# No result caching: dashboards show what the bi views hold now, and tests compare them with SQL.
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
# Flask-Limiter's in-memory storage is fine for one gunicorn process; this silences its warning.
RATELIMIT_STORAGE_URI = "memory://"

FEATURE_FLAGS = {
    # Thumbnails and alerts need a celery worker we do not run.
    "THUMBNAILS": False,
    "ALERT_REPORTS": False,
}

# No phoning home: the menu renders a tracking pixel from scarf.sh, and the default policy allows
# map tiles from the internet. This policy allows our own origin only, so the browser fetches nothing
# else (there is no internet here anyway, and a blocked request is faster than a timed-out one).
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'", "data:"],
        "script-src": ["'self'", "'strict-dynamic'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}
CONTENT_SECURITY_POLICY_WARNING = False
