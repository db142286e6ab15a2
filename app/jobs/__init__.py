"""RQ entry points (``tasks``) and the doorbell that enqueues them (``queue``).

Only this package and ``worker.py`` know RQ's API.
"""
