"""ortstyle: neural style transfer with gradients computed by ONNX Runtime."""

__version__ = "0.1.0"
