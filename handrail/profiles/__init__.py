"""Profiles: ``catalog`` finds them in several folders (the user's, then the hosted app's; the
first wins, shadowing logged) and loads them. The library bundles none."""
