"""Command, contract and task applications of tfapps."""
