"""Registers the plain-PyTorch models in the plugin's MODELS registry (imports mmaction)."""
from ..registry import MODELS
from .backbones.swin3d import SwinTransformer3D
from .necks.fam import FAMNeck
from .necks.gru import GRUNeck

MODELS.register_module(module=SwinTransformer3D)
MODELS.register_module(module=FAMNeck)
MODELS.register_module(module=GRUNeck)
