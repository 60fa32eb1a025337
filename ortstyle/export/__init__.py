"""The PyTorch side: build torchvision's VGG19 and export it to ONNX. Needs torch."""
