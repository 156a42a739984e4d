"""The SMSmobileAPI routers, in the order the application includes them."""

from __future__ import annotations

from fastapi import APIRouter

from textgate.dialects.smsmobileapi import gateway, inbox, public, routes, soap

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    routes.router,
    inbox.router,
    inbox.conversation_router,
    gateway.router,
    gateway.oauth_router,
    public.router,
    soap.router,
)
