"""Load control: admission of database work, the event loop's lateness, heartbeat shedding."""
