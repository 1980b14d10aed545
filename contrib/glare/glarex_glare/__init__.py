"""glarex's artifact types for OpenStack Glare (contrib/glare/README.md)."""
