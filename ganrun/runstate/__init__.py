"""What keeps a run alive and visible: checkpoints, preemption signals, status.json, TensorBoard, the recorded
overrides."""
