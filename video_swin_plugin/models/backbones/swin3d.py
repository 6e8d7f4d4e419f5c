"""Video Swin Transformer backbone (Liu et al., "Video Swin Transformer", CVPR 2022).

Argument names, defaults and state-dict keys are those of the official release, so its
checkpoints (``swin_*_patch244_window877_*.pth``) load strictly with no conversion. Plain
PyTorch: nothing here imports mmengine or mmaction. Inside the backbone features stay
channels-last ``Tensor[B, D, H, W, C]``; outputs are ``Tensor[B, C, D, H, W]``.
"""
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..layers.attention import WindowAttention3D
from ..layers.drop import DropPath
from ..layers.init import init_linear_and_norm
from ..layers.mlp import Mlp
from ..layers.stage_indices import take_indices
from ..layers.window_ops import WindowPlan, window_plan

# embed_dim, depths, num_heads of the published models.
ARCH_SETTINGS = {
    'tiny': (96, (2, 2, 6, 2), (3, 6, 12, 24)),
    'small': (96, (2, 2, 18, 2), (3, 6, 12, 24)),
    'base': (128, (2, 2, 18, 2), (4, 8, 16, 32)),
    'large': (192, (2, 2, 18, 2), (6, 12, 24, 48)),
}


class SwinTransformerBlock3D(nn.Module):
    """(Shifted) window attention then MLP, each in a pre-norm residual branch."""

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 *,
                 window_size: Sequence[int] = (2, 7, 7),
                 shift_size: Sequence[int] = (0, 0, 0),
                 mlp_ratio: float = 4.0,
                 qkv_bias: bool = True,
                 qk_scale: Optional[float] = None,
                 drop: float = 0.0,
                 attn_drop: float = 0.0,
                 drop_path: float = 0.0,
                 act_layer: Callable = nn.GELU,
                 norm_layer: Callable = nn.LayerNorm,
                 fused_attention: bool = True,
                 official_shrunk_bias: bool = False) -> None:
        super().__init__()
        self.window_size = tuple(window_size)
        self.shift_size = tuple(shift_size)
        if not all(0 <= s < w for s, w in zip(self.shift_size, self.window_size)):
            raise ValueError(f'shift_size {self.shift_size} must lie in [0, window_size '
                             f'{self.window_size})')
        self.norm1 = norm_layer(dim)
        self.attn = WindowAttention3D(dim, self.window_size, num_heads, qkv_bias=qkv_bias,
                                      qk_scale=qk_scale, attn_drop=attn_drop, proj_drop=drop,
                                      fused=fused_attention,
                                      official_shrunk_bias=official_shrunk_bias)
        self.drop_path = DropPath(drop_path)
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=act_layer, drop=drop)

    def _attention_branch(self, x: torch.Tensor, plan: WindowPlan,
                          recompute: bool) -> torch.Tensor:
        return self.drop_path(self.attn(self.norm1(x), plan, recompute))

    def _mlp_branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop_path(self.mlp(self.norm2(x)))

    def forward(self, x: torch.Tensor, plan: WindowPlan, recompute: bool = True,
                use_checkpoint: bool = False) -> torch.Tensor:
        """x (Tensor[B, D, H, W, C]); ``plan`` is the stage's :class:`WindowPlan` for this
        block's shift; ``recompute`` keeps no attention matrices for backward (see
        :class:`WindowAttention3D`);
        ``use_checkpoint`` checkpoints the attention and MLP branches separately (as the
        original does), so backward holds one branch's activations at a time."""
        if use_checkpoint:
            # non-reentrant: parameters get gradients even when x needs none (frozen stages)
            x = x + checkpoint(self._attention_branch, x, plan, recompute, use_reentrant=False)
            return x + checkpoint(self._mlp_branch, x, use_reentrant=False)
        x = x + self._attention_branch(x, plan, recompute)
        return x + self._mlp_branch(x)


class PatchMerging(nn.Module):
    """Merge 2x2 spatial neighbours: ``Tensor[B, D, H, W, C] -> Tensor[B, D, H/2, W/2, 2C]``."""

    def __init__(self, dim: int, norm_layer: Callable = nn.LayerNorm) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = norm_layer(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, D, H, W, C = x.shape
        if H % 2 or W % 2:
            x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
            H, W = H + H % 2, W + W % 2
        # the original's order of the four neighbours (h, w): (0,0), (1,0), (0,1), (1,1), i.e.
        # w-offset major; one permute-copy instead of four strided slices and a cat
        x = x.view(B, D, H // 2, 2, W // 2, 2, C).permute(0, 1, 2, 4, 5, 3, 6)
        x = x.reshape(B, D, H // 2, W // 2, 4 * C)  # B, D, H/2, W/2, 4C
        return self.reduction(self.norm(x))


class BasicLayer(nn.Module):
    """One stage: ``depth`` blocks alternating plain and shifted windows, then downsampling.

    How tokens go into windows (padding, cyclic shift, shift masks) depends only on the
    input size, so it is planned once per stage (:meth:`window_plans`) for all its blocks.
    """

    def __init__(self,
                 dim: int,
                 depth: int,
                 num_heads: int,
                 *,
                 window_size: Sequence[int] = (1, 7, 7),
                 mlp_ratio: float = 4.0,
                 qkv_bias: bool = False,
                 qk_scale: Optional[float] = None,
                 drop: float = 0.0,
                 attn_drop: float = 0.0,
                 drop_path: Union[float, Sequence[float]] = 0.0,
                 norm_layer: Callable = nn.LayerNorm,
                 downsample: Optional[Callable] = None,
                 use_checkpoint: bool = False,
                 fused_attention: bool = True,
                 official_shrunk_bias: bool = False) -> None:
        super().__init__()
        self.window_size = tuple(window_size)
        self.shift_size = tuple(w // 2 for w in self.window_size)
        self.use_checkpoint = use_checkpoint
        if isinstance(drop_path, (int, float)):
            drop_path = [drop_path] * depth
        self.blocks = nn.ModuleList([
            SwinTransformerBlock3D(
                dim, num_heads, window_size=self.window_size,
                shift_size=(0, 0, 0) if i % 2 == 0 else self.shift_size, mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias, qk_scale=qk_scale, drop=drop, attn_drop=attn_drop,
                drop_path=drop_path[i], norm_layer=norm_layer, fused_attention=fused_attention,
                official_shrunk_bias=official_shrunk_bias) for i in range(depth)
        ])
        self.downsample = (downsample(dim, norm_layer=norm_layer)
                           if downsample is not None else None)
        # shifted (bool) -> (key, WindowPlan) for the last input seen, key as in window_plans
        self._plans = {}

    def window_plans(self, x: torch.Tensor) -> Tuple[WindowPlan, WindowPlan]:
        """The (plain, shifted) :class:`WindowPlan` for ``x (Tensor[B, D, H, W, C])``.

        They depend only on the input's size, so they are kept per stage for the last size
        seen (a per-module cache, not a global one); they hold no parameters.
        """
        B, D, H, W = x.shape[:4]
        explicit = any(not blk.attn.fused for blk in self.blocks)
        plans = []
        for shift in ((0, 0, 0), self.shift_size):
            key = (shift != (0, 0, 0), B, D, H, W, x.device, explicit)
            plan = self._plans.get(key[0])
            if plan is None or plan[0] != key:
                plan = (key, window_plan(B, (D, H, W), self.window_size, shift, x.device,
                                         explicit_mask=explicit))
                if not torch.compiler.is_compiling():
                    self._plans[key[0]] = plan
            plans.append(plan[1])
        return plans[0], plans[1]

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """x (Tensor[B, D, H, W, C]) -> (stage output, downsampled input of the next stage)."""
        plans = self.window_plans(x)
        checkpointed = self.use_checkpoint and torch.is_grad_enabled()
        for i, blk in enumerate(self.blocks):
            x = blk(x, plans[i % 2], use_checkpoint=checkpointed)
        return x, (self.downsample(x) if self.downsample is not None else x)


class PatchEmbed3D(nn.Module):
    """Cut a video into 3D patches: ``Tensor[B, C, T, H, W] -> Tensor[B, T', H', W', C]``
    (C = ``embed_dim``)."""

    def __init__(self, *, patch_size: Sequence[int] = (2, 4, 4), in_chans: int = 3,
                 embed_dim: int = 96, norm_layer: Optional[Callable] = None) -> None:
        super().__init__()
        self.patch_size = tuple(patch_size)
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=self.patch_size,
                              stride=self.patch_size)
        self.norm = norm_layer(embed_dim) if norm_layer is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pt, ph, pw = self.patch_size
        T, H, W = x.shape[2:]
        # pad the far end of each axis to whole patches (same as the original's three pads)
        x = F.pad(x, (0, (pw - W % pw) % pw, 0, (ph - H % ph) % ph, 0, (pt - T % pt) % pt))
        x = self.proj(x).permute(0, 2, 3, 4, 1)  # B, T', H', W', C
        return self.norm(x) if self.norm is not None else x


class SwinTransformer3D(nn.Module):
    """Video Swin Transformer backbone with the official arguments.

    Args:
        pretrained (str, optional): Checkpoint loaded by :meth:`init_weights`. Defaults to None.
        pretrained2d (bool): ``pretrained`` is an ImageNet 2D Swin to inflate; otherwise a 3D
            checkpoint (official layout, ``backbone.`` prefix allowed) loaded strictly.
            Defaults to True, as in the original.
        patch_size (Sequence[int]): Patch size (T, H, W). Defaults to (4, 4, 4).
        in_chans (int): Input channels. Defaults to 3.
        embed_dim (int): Channels after patch embedding. Defaults to 96.
        depths (Sequence[int]): Blocks per stage. Defaults to (2, 2, 6, 2).
        num_heads (Sequence[int]): Heads per stage. Defaults to (3, 6, 12, 24).
        window_size (Sequence[int]): Window (T, H, W). Defaults to (2, 7, 7).
        mlp_ratio (float): MLP hidden size over embed size. Defaults to 4.
        qkv_bias (bool): Bias in qkv projections. Defaults to True.
        qk_scale (float, optional): Overrides head_dim ** -0.5. Defaults to None.
        drop_rate (float): Dropout rate. Defaults to 0.
        attn_drop_rate (float): Attention dropout rate. Defaults to 0.
        drop_path_rate (float): Stochastic depth, rising linearly to this. Defaults to 0.2.
        norm_layer (callable): Norm layer class. Defaults to ``nn.LayerNorm``.
        patch_norm (bool): Norm after patch embedding. Defaults to False.
        frozen_stages (int): Freeze the patch embedding (0) and stages 1..n (n). -1 freezes
            nothing. Defaults to -1.
        use_checkpoint (bool): Gradient checkpointing per block. Defaults to False.
        arch (str, optional): 'tiny', 'small', 'base' or 'large'; when given it sets
            embed_dim, depths and num_heads. Defaults to None.
        out_indices (int or Sequence[int]): Stages to output. An int gives one tensor, a
            sequence a tuple; negative counts from the end. The last stage's norm is the
            official ``norm``, others ``norm{i}``. Defaults to -1 (the last stage).
        fused_attention (bool): ``scaled_dot_product_attention`` (True) or the explicit path.
            Defaults to True.
        official_shrunk_bias (bool): Reproduce the original's relative-position bias when
            a stage is smaller than the window in H or W (which the original gets wrong).
            Defaults to False.
    """

    def __init__(self,
                 *,
                 pretrained: Optional[str] = None,
                 pretrained2d: bool = True,
                 patch_size: Sequence[int] = (4, 4, 4),
                 in_chans: int = 3,
                 embed_dim: int = 96,
                 depths: Sequence[int] = (2, 2, 6, 2),
                 num_heads: Sequence[int] = (3, 6, 12, 24),
                 window_size: Sequence[int] = (2, 7, 7),
                 mlp_ratio: float = 4.0,
                 qkv_bias: bool = True,
                 qk_scale: Optional[float] = None,
                 drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.2,
                 norm_layer: Callable = nn.LayerNorm,
                 patch_norm: bool = False,
                 frozen_stages: int = -1,
                 use_checkpoint: bool = False,
                 arch: Optional[str] = None,
                 out_indices: Union[int, Sequence[int]] = -1,
                 fused_attention: bool = True,
                 official_shrunk_bias: bool = False) -> None:
        super().__init__()
        if arch is not None:
            if arch not in ARCH_SETTINGS:
                raise ValueError(f'arch must be one of {sorted(ARCH_SETTINGS)}, got {arch!r}')
            embed_dim, depths, num_heads = ARCH_SETTINGS[arch]
        if len(depths) != len(num_heads):
            raise ValueError(f'depths {tuple(depths)} and num_heads {tuple(num_heads)} must '
                             'have one entry per stage')
        self.num_layers = len(depths)
        self.single_output = isinstance(out_indices, int)
        indices = (out_indices, ) if self.single_output else tuple(out_indices)
        if not all(-self.num_layers <= i < self.num_layers for i in indices):
            raise ValueError(f'out_indices {out_indices} must lie in [-{self.num_layers}, '
                             f'{self.num_layers}) for {self.num_layers} stages')
        self.out_indices = tuple(i % self.num_layers for i in indices)
        self.pretrained = pretrained
        self.pretrained2d = pretrained2d
        self.patch_size = tuple(patch_size)
        self.in_chans = in_chans
        self.embed_dim = embed_dim
        self.window_size = tuple(window_size)
        self.frozen_stages = frozen_stages
        self.num_features = [int(embed_dim * 2**i) for i in range(self.num_layers)]

        self.patch_embed = PatchEmbed3D(patch_size=self.patch_size, in_chans=in_chans,
                                        embed_dim=embed_dim,
                                        norm_layer=norm_layer if patch_norm else None)
        self.pos_drop = nn.Dropout(p=drop_rate)
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()  # stochastic depth decay
        self.layers = nn.ModuleList()
        for i, (depth, heads) in enumerate(zip(depths, num_heads)):
            start = sum(depths[:i])
            self.layers.append(
                BasicLayer(self.num_features[i], depth, heads, window_size=self.window_size,
                           mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, qk_scale=qk_scale,
                           drop=drop_rate, attn_drop=attn_drop_rate,
                           drop_path=dpr[start:start + depth], norm_layer=norm_layer,
                           downsample=PatchMerging if i < self.num_layers - 1 else None,
                           use_checkpoint=use_checkpoint, fused_attention=fused_attention,
                           official_shrunk_bias=official_shrunk_bias))
        for i in self.out_indices:
            # the last stage's norm keeps the official name so official files load strictly
            self.add_module(self._norm_name(i), norm_layer(self.num_features[i]))
        self.apply(init_linear_and_norm)
        self._freeze_stages()

    def _norm_name(self, stage: int) -> str:
        return 'norm' if stage == self.num_layers - 1 else f'norm{stage}'

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0:
            self.patch_embed.eval()
            for p in self.patch_embed.parameters():
                p.requires_grad = False
        if self.frozen_stages >= 1:
            self.pos_drop.eval()
            for layer in self.layers[:self.frozen_stages]:
                layer.eval()
                for p in layer.parameters():
                    p.requires_grad = False

    def train(self, mode: bool = True) -> 'SwinTransformer3D':
        super().train(mode)
        self._freeze_stages()
        return self

    def init_weights(self, pretrained: Optional[str] = None) -> None:
        """Load ``pretrained`` (or the constructor's), inflating a 2D Swin if ``pretrained2d``."""
        from ..convert import inflate_2d_swin, load_backbone_weights  # avoids an import cycle
        from ...checkpoint import load_weights
        path = pretrained or self.pretrained
        if not path:
            return
        state_dict = load_weights(path)
        if self.pretrained2d:
            state_dict = inflate_2d_swin(state_dict, self)
        load_backbone_weights(self, state_dict, strict=True, source=path)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 5:
            raise ValueError(f'SwinTransformer3D expects a 5-D input (B, C, T, H, W), got '
                             f'{x.ndim}-D of shape {tuple(x.shape)}')
        if x.shape[1] != self.in_chans:
            raise ValueError(f'SwinTransformer3D expects {self.in_chans} input channels '
                             f'(in_chans) at dim 1, got {x.shape[1]} in shape {tuple(x.shape)}')

    def forward_intermediates(self,
                              x: torch.Tensor,
                              indices: Union[None, int, Sequence[int]] = None,
                              norm: bool = True,
                              stop_early: bool = True) -> List[torch.Tensor]:
        """The outputs of the stages ``indices``, in stage order (the shape of timm's
        ``forward_intermediates``, intermediates only).

        Args:
            x (Tensor[B, C, T, H, W]): Input clips.
            indices (int or Sequence[int], optional): None takes every stage, an int n the
                last n stages, a sequence those stages (negative counts from the end).
                Defaults to None.
            norm (bool): Pass each output through its stage's output norm where the backbone
                has one (the stages of ``out_indices``); other stages come out raw.
                Defaults to True.
            stop_early (bool): Run no stage after the last one taken. Defaults to True.

        Returns:
            List[Tensor[B, C_i, T', H_i, W_i]]: one per stage taken.
        """
        take = take_indices(self.num_layers, indices)
        self._check_input(x)
        x = self.pos_drop(self.patch_embed(x))  # B, D, H, W, C
        last = max(take) if stop_early else self.num_layers - 1
        outs = []
        for i, layer in enumerate(self.layers[:last + 1]):
            out, x = layer(x)
            if i in take:
                if norm and i in self.out_indices:
                    out = getattr(self, self._norm_name(i))(out)
                outs.append(out.permute(0, 4, 1, 2, 3).contiguous())  # B, C, D, H, W
        return outs

    def forward(self, x: torch.Tensor) -> Union[torch.Tensor, Tuple[torch.Tensor, ...]]:
        """x (Tensor[B, C, T, H, W]) -> Tensor[B, C', T', H', W'] per stage of ``out_indices``
        (one tensor for an int ``out_indices``, else a tuple), through their norms."""
        outs = self.forward_intermediates(x, self.out_indices)
        return outs[0] if self.single_output else tuple(outs)
