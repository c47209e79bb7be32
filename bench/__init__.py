"""Benchmarks: KPI recompute, pages and survey submissions against their floors.

`python -m bench.run --size S --db postgres` generates a dataset with
set-based SQL, times Boussole and the fastest way to compute the same thing
in the same run, and writes a JSON result under bench-results/;
`python -m bench.report` turns the results into docs/benchmarks.md.
"""
