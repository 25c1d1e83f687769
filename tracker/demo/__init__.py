"""The offline demo: a local HTTP server replaying real feed snapshots day by day."""
