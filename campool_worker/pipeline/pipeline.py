"""Moved to `campool_worker.pipeline.camera_pipeline`. A re-export kept only until
campool_gui/pool/audit.py imports the new module; delete it then (issue #10)."""
from campool_worker.pipeline.camera_pipeline import CameraPipeline, Crossing, FrameResult, load_detector

__all__ = ["CameraPipeline", "Crossing", "FrameResult", "load_detector"]
