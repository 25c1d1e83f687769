"""One poll of a feed and one cycle of polls: the pipeline, the pure update decisions and the
scheduling policy."""
