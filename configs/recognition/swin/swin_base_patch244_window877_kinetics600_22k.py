# Swin-B, ImageNet-22K pretrained, Kinetics-600, 30 epochs.
# Official: 84.0 / 96.5 (4 clips x 3 crops).
# The Kinetics-400 22K recipe with 600 classes and the Kinetics-600 data.
_base_ = ['./swin_base_patch244_window877_kinetics400_22k.py']
data_root = 'data/kinetics600/train'
data_root_val = 'data/kinetics600/val'
ann_file_train = 'data/kinetics600/kinetics600_train_list.txt'
ann_file_val = 'data/kinetics600/kinetics600_val_list.txt'
ann_file_test = 'data/kinetics600/kinetics600_val_list.txt'
label_map = None  # no Kinetics-600 class list ships with the plugin; pass --label-map
model = dict(cls_head=dict(num_classes=600))
train_dataloader = dict(dataset=dict(ann_file=ann_file_train, data_prefix=dict(video=data_root)))
val_dataloader = dict(dataset=dict(ann_file=ann_file_val, data_prefix=dict(video=data_root_val)))
test_dataloader = dict(dataset=dict(ann_file=ann_file_test, data_prefix=dict(video=data_root_val)))
