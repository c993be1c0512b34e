"""Inference and deployment: the model applied to a user's images and video.

``predictor``        :class:`Predictor`: anomaly score, segmentation, thresholded mask
``predict_files``    ``pebal predict``: inputs (files, folders, globs, video) to an output folder
``output_folder``    the output folder's journal: resume, refusal, ``--overwrite``
``render``           heat maps, overlays, segmentation colours, colour bars
``video``            frame-by-frame prediction of a clip
``video_encode``     H.264 MP4 writing (imageio-ffmpeg; mp4v fallback), temporary name then rename
``npy_stream``       a (T, H, W) ``.npy`` written frame by frame
``gallery``          the HTML page of a prediction folder
``calibrate``        thresholds by rule: a false-alarm budget on clean images, or labelled rules
``calibrate_files``  ``pebal calibrate``: which data a folder holds, the calibrated checkpoint file
``onnx_export``      one ONNX graph from RGB to score and segmentation
``score_export``     per-frame score maps for the SMIYC and Fishyscapes servers
"""
