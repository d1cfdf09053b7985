"""Accounts and access control: who is asking and what their role may do (``principal``), passwords, sessions,
login throttling, grants and the audit log. No web imports here.

The HTTP side (the principal of a request, which camera they may see) is ``wall.access``; the routes are in
``wall.api``.
"""
