"""mmaction2 recognizers of the plugin (registered in the plugin scope)."""
from .sequence import SequenceRecognizer3D

__all__ = ['SequenceRecognizer3D']
