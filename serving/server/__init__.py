"""tfapps.serving.server."""
