"""A researcher's own networks and loss, trained by ganrun from outside its tree (docs/own_parts.md)."""
