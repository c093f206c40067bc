"""tfapps.models.heads."""
