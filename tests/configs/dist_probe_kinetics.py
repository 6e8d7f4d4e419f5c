# tiny_swin_synthetic.py plus the distributed tests' probe (tests/dist_probe.py) and a timeout
# that turns a hung collective into an error.
_base_ = ['./tiny_swin_synthetic.py']
custom_imports = dict(imports=['tests.dist_probe'], allow_failed_imports=False)
custom_hooks = [dict(type='LoadedSamplesHook')]
env_cfg = dict(dist_cfg=dict(backend='nccl', timeout=120))
