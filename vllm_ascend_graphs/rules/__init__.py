"""The decision rules: the request, the model, the modes and the capture sizes (pure functions)."""
