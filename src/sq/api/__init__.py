"""Published payload schemas: the only code one domain may share with another.

Payloads travel as JSON; readers ignore unknown fields, so schemas only ever grow (add a field
with a default, never rename or remove one).
"""
