"""The web dashboard: sign in with a token, organisation cards, each connection's Streaming Status."""

from __future__ import annotations

from fastapi import APIRouter

from pipepulse.dashboard import (
    acknowledgement,
    alerts,
    incidents,
    pages,
    platform_alerts,
    platform_incidents,
    sign_in,
    silences,
)

router = APIRouter(include_in_schema=False)
router.include_router(sign_in.router)
router.include_router(pages.router)
router.include_router(alerts.router)
router.include_router(incidents.router)
router.include_router(silences.router)
router.include_router(acknowledgement.router)
router.include_router(platform_incidents.router)
router.include_router(platform_alerts.router)
