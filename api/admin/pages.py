"""The admin pages (`/admin`)."""

from fastapi import APIRouter

router = APIRouter(tags=["admin"], include_in_schema=False)
