"""proofs: the theorems of THEORY.md as executable exact checks.

Not yet built; see the project issues.
"""
