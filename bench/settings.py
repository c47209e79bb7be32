"""Settings for the benchmark's web processes: Boussole's, plus the floors.

Everything comes from config.settings (and so from the environment); this
module adds the bench-only views (the bare survey view, the live pages) and
lifts the survey rate limits, since every request of the load generator
comes from 127.0.0.1, and serves plain HTTP.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
SURVEY_RATE_LIMIT_PER_HOUR = 10**9
SURVEY_RATE_LIMIT_PER_TOKEN = 10**9
# Plain HTTP on the loopback: no redirect to HTTPS, no HSTS (issue 19 made
# both the production default).
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
