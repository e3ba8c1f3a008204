"""RunAPI's HTTP contract: the async client, its models, errors and polling. No MCP imports here."""
