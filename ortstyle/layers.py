"""VGG19's layer names, shared by the export (PyTorch) and engine (ONNX Runtime) sides."""

# Names of torchvision's `vgg19().features` modules, in order, up to relu5_1 (index 29).
VGG19_LAYERS = (
    "conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1",
    "conv2_1", "relu2_1", "conv2_2", "relu2_2", "pool2",
    "conv3_1", "relu3_1", "conv3_2", "relu3_2", "conv3_3", "relu3_3", "conv3_4", "relu3_4", "pool3",
    "conv4_1", "relu4_1", "conv4_2", "relu4_2", "conv4_3", "relu4_3", "conv4_4", "relu4_4", "pool4",
    "conv5_1", "relu5_1",
)  # fmt: skip

# Every ReLU output is a graph output of the exported model: any of them may carry a loss.
FEATURE_LAYERS = tuple(name for name in VGG19_LAYERS if name.startswith("relu"))

# The defaults of Gatys et al. (2015): content at relu4_2, style at the first ReLU of each block.
DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

# The network halves the image four times before relu5_1, so each side needs 2**4 pixels.
MIN_SIDE_PX = 16

# ImageNet statistics that torchvision's VGG weights were trained with (RGB, [0, 1] pixels).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def check_layer_names(names, kind: str) -> tuple[str, ...]:
    """Return `names` as a tuple, or raise ValueError naming the unknown one and the valid ones."""
    names = tuple(names)
    if not names:
        raise ValueError(
            f"{kind} layers: at least one is needed; valid: {', '.join(FEATURE_LAYERS)}"
        )
    for name in names:
        if name not in FEATURE_LAYERS:
            raise ValueError(
                f"{kind} layer {name!r} does not exist; valid: {', '.join(FEATURE_LAYERS)}"
            )
    return names
