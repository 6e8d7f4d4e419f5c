"""Necks between the backbone and the head (plain PyTorch)."""
from .fam import FAMNeck

__all__ = ['FAMNeck']
