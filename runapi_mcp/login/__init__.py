"""Browser login to RunAPI (`runapi-mcp login`, `logout`, `whoami`) and the shared config file's key.

No module here imports `mcp`: the server's sign-in from inside a host builds on `flow` and `keysource`.
"""
