"""Accounts and access control: passwords, sessions, login throttling, grants and the audit log.

The HTTP side (who is asking, which camera they may see) is ``wall.access``; the routes are in ``wall.api``.
"""
