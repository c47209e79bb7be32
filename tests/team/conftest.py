from tests.kpis.conftest import snap  # noqa: F401  (the same fixture)
