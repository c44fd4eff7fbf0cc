"""The admin JSON API (contract paths): entries, versions, publish, revert, the wage import."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/admin", tags=["admin"])
