"""The real-time decision service: FastAPI on uvicorn, policy, audit trail, API keys, hot reload.

Start it with ``creditflow serve MODEL_DIR --policy policy.yaml``; see docs/service.md.
"""

from creditflow.service.config import ServiceConfig

__all__ = ["ServiceConfig", "create_app", "serve"]


def __getattr__(name: str):  # lazy: importing creditflow.service does not pull in FastAPI
    if name == "create_app":
        from creditflow.service.app import create_app

        return create_app
    if name == "serve":
        from creditflow.service.server import serve

        return serve
    raise AttributeError(name)
