"""The image library: install media (ISO), disk images and exported templates."""
