"""Escalation: an unacknowledged alarm climbs its policy's steps, even across a restart.

policy.py     what is due now: pure functions of (policy, progress, start, now)
policies.py   the configured policies, and which one an alarm or a trouble follows
engine.py     inside the pipeline: the hooks that store deadlines, the command that fires steps
scheduler.py  the part that wakes when a stored deadline comes
"""
