"""StreamSafe-RL offline learning loop: rewards with PySpark, offline PPO (BPPO) with PyTorch, held-out evaluation
with off-policy estimates and the real clamp, ONNX export. ``python -m streamsafe_rl --help`` lists the steps."""

__version__ = "0.1.0"
