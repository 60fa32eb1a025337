"""Optimisers over the image's pixels: L-BFGS-B (scipy) and Adam, with progress records.

Pixels stay in [0, 1] without clamping inside a step: L-BFGS-B treats the range as box
constraints in its own line search and curvature updates, so the loss never jumps
when a step would leave the range. Adam projects after each step, which is sound for
a first-order method.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize

from ortstyle.engine.losses import LossParts

LBFGS_HISTORY = 20  # curvature pairs kept; more costs memory and gains little here
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


class NonFiniteLoss(Exception):
    """The loss or its gradient became NaN or infinite; the last good image is kept."""


class _BudgetSpent(Exception):
    """Raised inside the objective to end scipy's loop after the last allowed evaluation."""


@dataclass(frozen=True)
class Iterate:
    """A progress record handed to the callback after every evaluation."""

    evaluation: int  # 1-based, counted over the whole run including resumed ones
    total: int
    parts: LossParts
    image: np.ndarray  # (1, 3, H, W) float32 in [0, 1], the image just evaluated
    state: "OptimizerState | None" = None  # the live state, for checkpoints
    scale: int = 1  # which coarse-to-fine pass, 1-based
    scales: int = 1

    @property
    def loss(self) -> float:
        return self.parts.total


@dataclass
class OptimizerState:
    """What a checkpoint keeps to continue a run: Adam's moments, evaluations done."""

    kind: str
    scale: int = 1  # the coarse-to-fine pass this state belongs to, 1-based
    evaluations: int = 0
    adam_step: int = 0
    adam_m: np.ndarray | None = None
    adam_v: np.ndarray | None = None
    history: list = field(default_factory=list)  # total loss of each evaluation


class Tracker:
    """Wraps `evaluate(image) -> (LossParts, grad)`: counts, keeps the best image, reports."""

    def __init__(
        self,
        evaluate: Callable,
        shape: tuple,
        total: int,
        state: OptimizerState,
        callback: Callable | None = None,
        target_loss: float | None = None,
    ):
        self.evaluate, self.shape, self.total = evaluate, shape, total
        self.state, self.callback = state, callback
        self.target_loss = target_loss  # stop once the loss is at or below this
        self.best_loss, self.best_image = np.inf, None
        self.last_good = None

    def __call__(self, pixels: np.ndarray):
        reached = self.target_loss is not None and self.best_loss <= self.target_loss
        reached = reached and self.state.evaluations > 0
        if self.state.evaluations >= self.total or reached:
            raise _BudgetSpent
        image = pixels.reshape(self.shape).astype(np.float32)
        parts, grad = self.evaluate(image)
        if not (np.isfinite(parts.total) and np.all(np.isfinite(grad))):
            raise NonFiniteLoss(
                f"the loss became {parts.total} at evaluation {self.state.evaluations + 1}"
            )
        self.state.evaluations += 1
        self.state.history.append(parts.total)
        self.last_good = image
        if parts.total < self.best_loss:
            self.best_loss, self.best_image = parts.total, image
        if self.callback is not None:
            self.callback(Iterate(self.state.evaluations, self.total, parts, image, self.state))
        return parts.total, grad

    def image(self) -> np.ndarray:
        """The best image evaluated so far (the last good one if none was better)."""
        return self.best_image if self.best_image is not None else self.last_good


def run_lbfgs(tracker: Tracker, start: np.ndarray) -> None:
    """Minimise with L-BFGS-B inside [0, 1] until the tracker's budget is spent or it converges."""

    def objective(x):
        loss, grad = tracker(x)
        return loss, grad.astype(np.float64).ravel()

    try:
        scipy.optimize.minimize(
            objective,
            start.astype(np.float64).ravel(),
            jac=True,
            method="L-BFGS-B",
            bounds=scipy.optimize.Bounds(0.0, 1.0),
            # Tolerances of zero: stop on the evaluation budget, not on a small relative
            # decrease, which the normalised style loss reaches long before it looks done.
            options={
                "maxcor": LBFGS_HISTORY,
                "maxfun": 10**9,
                "maxiter": 10**9,
                "ftol": 0.0,
                "gtol": 0.0,
            },
        )
    except _BudgetSpent:
        pass


def run_adam(tracker: Tracker, start: np.ndarray, learning_rate: float) -> None:
    """Projected Adam on the pixels, continuing from the tracker's state when resumed."""
    state = tracker.state
    x = start.astype(np.float32).copy()
    if state.adam_m is None:
        state.adam_m, state.adam_v = np.zeros_like(x), np.zeros_like(x)
    beta1, beta2 = ADAM_BETAS
    while True:
        try:
            _, grad = tracker(x)
        except _BudgetSpent:
            return
        state.adam_step += 1
        state.adam_m = beta1 * state.adam_m + (1 - beta1) * grad
        state.adam_v = beta2 * state.adam_v + (1 - beta2) * grad * grad
        m_hat = state.adam_m / (1 - beta1**state.adam_step)
        v_hat = state.adam_v / (1 - beta2**state.adam_step)
        x = np.clip(x - learning_rate * m_hat / (np.sqrt(v_hat) + ADAM_EPS), 0.0, 1.0)
