"""tfapps.models.backbones."""
