"""Plain CRUD of contacts, canned replies, support hours and accounts with sqladmin (to be written)."""


def mount(app, services) -> None:
    """Mount the CRUD views on `app` at /admin/db."""
