"""Renderers of results: the stable JSON shapes (SPEC §5), and later html, junit, prometheus."""
