"""SubmitQueue's entities: frozen values with no behaviour beyond pure predicates.

Only the standard library and `sq.platform` may be imported from here.
"""
