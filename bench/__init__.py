"""driftline benchmarks: driftline measured beside what a user would otherwise write.

Run ``python -m bench.run [--quick]``; see bench/README.md.
"""
