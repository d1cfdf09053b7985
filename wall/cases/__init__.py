"""The case loop: raise from vision events, operators' review, delivery to the city's platform, video check."""
