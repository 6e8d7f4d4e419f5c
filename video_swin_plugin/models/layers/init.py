"""Weight initialisation shared by the transformer modules (the Swin / ViT scheme)."""
from torch import nn


def init_linear_and_norm(m: nn.Module) -> None:
    """Truncated-normal (std 0.02) Linear weights with zero bias; LayerNorm as identity.

    Use with ``module.apply``.
    """
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
