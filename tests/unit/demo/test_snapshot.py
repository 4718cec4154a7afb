"""The prepared demo's emulator: its world survives a pickle whole, and its simulated time
goes on from the moment it was kept (src/nmrx/demo/run.py)."""

from __future__ import annotations

from datetime import timedelta

from nmrx.demo.run import dump_world, load_world
from numerai_emulator import World


def test_a_kept_world_comes_back_with_its_accounts_keys_and_time() -> None:
    world = World(42)
    world.create_account("keeper")
    world.advance(days=3)
    kept_at = world.now()
    restored = load_world(dump_world(world))
    assert restored.accounts.keys() == world.accounts.keys()
    assert {k: v.token for k, v in restored.keys.items()} == {
        k: v.token for k, v in world.keys.items()
    }
    assert kept_at <= restored.now() < kept_at + timedelta(minutes=1)
    with restored.lock:  # a fresh lock, usable at once
        restored.advance(to="next_close")
    assert restored.now() > kept_at
