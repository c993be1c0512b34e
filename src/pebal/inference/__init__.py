"""Inference and deployment: the model applied to a user's images and video.

``predictor``       :class:`Predictor`: anomaly score, segmentation, thresholded mask
``predict_files``   ``pebal predict``: inputs (files, folders, globs, video) to an output folder
``render``          heat maps, overlays, segmentation colours, colour bars
``video``           frame-by-frame prediction of a clip
``gallery``         the HTML page of a prediction folder
``calibrate``       a threshold chosen by a rule, stored with the checkpoint
``onnx_export``     one ONNX graph from RGB to score and segmentation
``score_export``    per-frame score maps for the SMIYC and Fishyscapes servers
"""
