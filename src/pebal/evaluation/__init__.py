"""Evaluation: one pass over a data set, the report, and the demo.

``evaluate``         every model once per batch, every score, streaming metrics, mIoU
``report``           JSON, markdown tables, curves and example figures of an evaluation
``demo``             the main job: fine-tune, control, evaluate, report on the embedded benchmark
``colour_baseline``  a per-pixel colour lookup, the floor a segmentation model must beat
"""
