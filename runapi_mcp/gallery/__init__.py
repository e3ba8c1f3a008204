"""`runapi-mcp gallery`: a read-only page on loopback over the task journal and the images it saved.

Layering: the gallery reads the journal (core) and the settings; it never imports the MCP server.
"""
