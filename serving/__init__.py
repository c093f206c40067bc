"""tfapps.serving."""
