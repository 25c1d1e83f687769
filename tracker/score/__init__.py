"""Judging items: relevance to a tracked article, and grouping items into stories."""
