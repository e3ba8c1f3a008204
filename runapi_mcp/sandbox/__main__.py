import argparse

from runapi_mcp.sandbox.cli import add_arguments, run

parser = argparse.ArgumentParser(
    prog="python -m runapi_mcp.sandbox", description="Serve a RunAPI-compatible sandbox on loopback."
)
add_arguments(parser)
raise SystemExit(run(parser.parse_args()))
