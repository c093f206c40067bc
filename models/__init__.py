"""tfapps.models."""
