# The FAM tiny config plus the distributed tests' probe (tests/dist_probe.py) and a timeout
# that turns a hung collective into an error.
_base_ = ['../../configs/recognition/swin_fam/swin_tiny_fam_sowsleep_synthetic_tiny.py']
custom_imports = dict(imports=['tests.dist_probe'], allow_failed_imports=False)
custom_hooks = [dict(type='LoadedSamplesHook')]
env_cfg = dict(dist_cfg=dict(backend='nccl', timeout=120))
