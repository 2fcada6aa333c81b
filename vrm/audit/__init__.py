"""The audit trail: who changed what."""
