"""Necks between the backbone and the head (plain PyTorch)."""
from .fam import FAMNeck
from .gru import GRUNeck

__all__ = ['FAMNeck', 'GRUNeck']
