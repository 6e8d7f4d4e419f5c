"""Metrics of the plugin (registered in the plugin scope)."""
from .staging import cohen_kappa, confusion_matrix, per_class_f1, staging_scores
from .staging_metric import StagingMetric

__all__ = ['StagingMetric', 'cohen_kappa', 'confusion_matrix', 'per_class_f1', 'staging_scores']
