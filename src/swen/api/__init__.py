"""The HTTP API: FastAPI app factory ``create_app(settings)``, one router per resource, key auth.

Importing this package is cheap; ``swen.api.app`` pulls in FastAPI.
"""
