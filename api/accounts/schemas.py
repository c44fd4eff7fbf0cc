"""JSON of the account administration API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AccountRead(BaseModel):
    id: int
    email: str
    display_name: str
    role: str
    languages: list[str]
    support_group: str | None
    capacity: int
    active: bool


class AccountCreate(BaseModel):
    email: str = Field(max_length=254)
    password: str = Field(min_length=10, max_length=1000)
    role: str = Field(pattern="^(volunteer|admin)$")
    languages: list[str]
    name: str = Field(min_length=1, max_length=64)
    support_group: str | None = Field(default=None, max_length=128)
    capacity: int = Field(default=3, ge=1, le=50)


class AccountList(BaseModel):
    data: list[AccountRead]
    count: int
