"""VM consoles: one-time tickets and the websocket relay from the browser to the VM's node."""
