"""Placement: which host a VM goes to (filters, then weights), claimed atomically."""
