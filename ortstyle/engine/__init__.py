"""The ONNX Runtime side: gradients, losses, optimisation. Never imports torch."""
