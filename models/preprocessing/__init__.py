"""tfapps.models.preprocessing."""
