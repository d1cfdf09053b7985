"""Shared video walls: the wall's state and its pure transitions (tiles, pins, tours, alarm pop-up, presets), the
per-user views, and the service that locks, saves, audits and pushes them. Layouts and configured walls are
settings: :mod:`wall.hall_settings`."""
