"""tfapps.pipelines."""
