"""Benchmarks: what "fast" means for runapi-mcp, measured side by side on the sandbox over loopback.

`python -m bench` runs every measurement (a few minutes), prints a table and writes bench/RESULTS.md;
`python -m bench --quick` is a smoke run with tiny sizes that writes nothing.
"""
