"""The generation flow: inputs, uploads, the journal, storage, previews and pricing. No MCP imports here."""
