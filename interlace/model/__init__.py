"""Shared model building: formula -> random terms -> response and design -> model context."""
