"""The web host: Pyramid app (pages and JSON API) and the ASGI shell that adds websockets."""
