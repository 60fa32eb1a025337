"""The one exception type that carries a user-facing message."""


class OrtStyleError(Exception):
    """A mistake in what the user asked for, or a fault they can act on.

    The CLI prints the message as one line and exits non-zero; nothing else
    about it is shown, so the message must name the value and what is allowed.
    """
