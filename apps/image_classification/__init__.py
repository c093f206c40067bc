"""tfapps.apps.image_classification."""
