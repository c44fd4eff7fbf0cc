"""Injected faults for tests (monkeypatched in the test, never a seam in the code)."""

from __future__ import annotations


def crash_first_turn(monkeypatch, reason: str = "simulated crash after the message was stored") -> list[str]:
    """Make the engine's first turn raise after the message is stored; later turns run normally.
    Returns the list of texts of the turns that crashed (at most one)."""
    from bot import engine as engine_module

    real_dispatch = engine_module.dispatch
    crashes: list[str] = []

    def crash_once(turn) -> None:
        if not crashes:
            crashes.append(turn.text)
            raise RuntimeError(reason)
        real_dispatch(turn)

    monkeypatch.setattr(engine_module, "dispatch", crash_once)
    return crashes
