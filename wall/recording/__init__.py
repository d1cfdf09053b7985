"""Recording (录像) and playback on the control plane: the segment index, retention, the timeline, and the plans
playback and export follow. No FastAPI here (the routes are ``wall/api/playback.py``); the recorders themselves
run with the cameras (``streams.recorder``, through the runtime)."""
