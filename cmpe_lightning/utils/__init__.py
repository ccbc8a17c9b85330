"""Utilities below every other package: seeded random streams and nested tensor structures."""
