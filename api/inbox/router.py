"""The volunteer inbox pages (`/inbox`): server-rendered, Jinja2 autoescape."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["inbox"], include_in_schema=False)
