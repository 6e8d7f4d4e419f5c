"""--cfg-options keys are checked against the config and the modules it builds: an unknown key
path is an error naming it and what was expected, in the API and in the Runner tools."""
import pytest
from mmengine.config import Config

from video_swin_plugin.engine.config_check import UnknownConfigKeyError, check_cfg_options

from .helpers import SWIN_T_K400, run_tool


@pytest.mark.parametrize('key,named', [
    ('model.backbone.embed_dims', "'model.backbone.embed_dims'.*SwinTransformer3D takes no"),
    ('lod_from', "'lod_from'.*top level"),
    ('model.cls_head.dropout', "'model.cls_head.dropout'.*I3DHead takes no argument 'dropout'"),
    ('test_dataloader.dataset.pipeline.12.clip_len', "pipeline.12.clip_len'.*list of 7"),
    ('optim_wrapper.optimizer.lr.x', "'optim_wrapper.optimizer.lr.x'.*is a float"),
])
def test_unknown_cfg_options_key_named(key, named):
    cfg = Config.fromfile(SWIN_T_K400)
    with pytest.raises(UnknownConfigKeyError, match=named):
        check_cfg_options(cfg, {key: 1})


def test_known_and_addable_cfg_options_pass():
    cfg = Config.fromfile(SWIN_T_K400)
    check_cfg_options(cfg, {
        'model.backbone.use_checkpoint': True,  # an argument the config does not set
        'model.backbone.embed_dim': 16, 'load_from': 'x.pth', 'randomness.seed': 0,
        'train_dataloader.pin_memory': True, 'test_dataloader.dataset.pipeline.1.num_clips': 1,
        'optim_wrapper.paramwise_cfg.custom_keys_rule': 'product', 'work_dir': 'w'})


def test_tools_reject_unknown_cfg_options_key(tmp_path):
    with pytest.raises(UnknownConfigKeyError, match='model.backbone.embed_dims'):
        run_tool('train', [SWIN_T_K400, '--work-dir', tmp_path, '--cfg-options',
                           'model.backbone.embed_dims=16'])
    with pytest.raises(UnknownConfigKeyError, match='model.backbone.embed_dims'):
        run_tool('test', [SWIN_T_K400, tmp_path / 'x.pth', '--cfg-options',
                          'model.backbone.embed_dims=16'])
