"""tfapps.models.layers."""
