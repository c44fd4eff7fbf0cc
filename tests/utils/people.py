"""Volunteer and admin accounts for tests, with their bearer tokens."""

from __future__ import annotations

from api.accounts import service as accounts

PASSWORD = "correct horse battery"


def create_people(session, **people: tuple[str, list[str], str]) -> dict:
    """`create_people(session, lan=("volunteer", ["vi"], "Lan"), …)`: accounts `<key>@example.org`, committed."""
    made = {key: accounts.create(session=session, email=f"{key}@example.org", password=PASSWORD, role=role,
                                 languages=languages, name=name)
            for key, (role, languages, name) in people.items()}
    session.commit()
    return made


async def bearer_headers(client, people: dict) -> dict[str, dict[str, str]]:
    """An `Authorization` header per account, from `POST /auth/token`."""
    headers = {}
    for key, account in people.items():
        response = await client.post("/auth/token", json={"email": account.email, "password": PASSWORD})
        assert response.status_code == 200 and response.json()["token_type"] == "bearer"
        headers[key] = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return headers


async def sign_in(client, email: str) -> None:
    """Sign a client in like a browser (the inbox's form): it keeps the session cookie."""
    response = await client.post("/inbox/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303 and "inbox_session" in client.cookies
