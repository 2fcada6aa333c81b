"""Authentication: users, roles, bearer tokens."""
