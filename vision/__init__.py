"""Detectors, tracking, zones and rules: sampled frames in, event candidates out (no HTTP, no SQL)."""

import os

# The service never phones home: onnxruntime (≥ 1.32) otherwise keeps a telemetry device id under $HOME and
# may try to send usage events. Set before any onnxruntime import; a deployment may not override it to "0".
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
