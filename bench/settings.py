"""Settings for the benchmark's web processes: Boussole's, plus the floors.

Everything comes from config.settings (and so from the environment); this
module adds the bench-only views (the bare survey view, the live pages) and
lifts the per-address survey rate limit, since every request of the load
generator comes from 127.0.0.1.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
SURVEY_RATE_LIMIT_PER_HOUR = 10**9
