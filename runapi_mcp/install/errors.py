"""The one error `runapi-mcp init` reports to the user."""


class InitError(Exception):
    """Init refused or failed; the message names the file and says what to do, and nothing was changed."""
