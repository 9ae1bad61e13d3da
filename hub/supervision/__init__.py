"""Supervision: which buttons cannot be trusted right now (offline, low battery, clock skew).

decide.py    pure decisions: one button's liveness and troubles, from (state, now)
policy.py    how each button is watched: its profile, its registry entry, the config
watcher.py   the background part that reviews every button and commits the changes
"""

from hub.supervision.watcher import Supervisor

__all__ = ["Supervisor"]
