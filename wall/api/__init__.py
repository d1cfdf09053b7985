"""HTTP API routers of the wall service (mounted by ``wall.app.create_app``)."""
