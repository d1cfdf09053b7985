"""Shared video walls: layouts, server-side wall state (tiles, pins, tours, alarm pop-up), presets."""
