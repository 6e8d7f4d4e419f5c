"""Necks between the backbone and the head (plain PyTorch)."""
