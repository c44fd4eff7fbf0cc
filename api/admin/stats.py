"""Anonymous statistics for support groups (to be written)."""

from fastapi import APIRouter

router = APIRouter(tags=["admin"], include_in_schema=False)
