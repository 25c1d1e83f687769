"""The command line: thin wrappers over ``tracker.app.Tracker``."""
