"""Virtual machines."""
