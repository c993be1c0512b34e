"""Training: fine-tuning the final block with PEBAL (single process or ``torchrun``), the
AnomalyMix training set, the energy margins, and pretraining of the small inlier model.

``finetune``        the fine-tuning loop, resumable checkpoints, torchrun / DDP
``training_set``    the inlier data set + outlier source + AnomalyMix that a config describes
``margins``         the energy margins (fixed, or derived from the pretrained model's energies)
``pretrain``        training the small DeepLabv3+ on the embedded benchmark
``model_card``      the shipped model's card
"""
