"""Controller-owned speculation rules: pure functions over a snapshot that return decisions.

The database-backed speculate controller and the simulator both call these; neither storage nor
messaging is touched here (speculation-spec §3).
"""
