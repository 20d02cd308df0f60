"""What a training checkpoint keeps besides the weights: progress, the RNG and Adam's moments
stored by parameter name (so a checkpoint outlives a change in parameter order)."""

from __future__ import annotations

import torch

MOMENTS = ("step", "exp_avg", "exp_avg_sq")


def progress_tensors(
    opt: torch.optim.Optimizer,
    named: list[tuple[str, torch.nn.Parameter]],
    step: int,
    seconds: float,
    gen: torch.Generator,
) -> dict[str, torch.Tensor]:
    """Step, seconds, RNG state and each parameter's optimiser state as `optim.NAME.KEY`."""
    out = {"step": torch.tensor(step), "seconds": torch.tensor(seconds), "rng": gen.get_state()}
    for name, p in named:
        for k, v in opt.state.get(p, {}).items():
            out[f"optim.{name}.{k}"] = v.detach().cpu().clone()
    return out


def restore_moments(
    opt: torch.optim.Optimizer,
    named: list[tuple[str, torch.nn.Parameter]],
    extra: dict[str, torch.Tensor],
) -> bool:
    """Load the moments `progress_tensors` stored; False when the file has none by name."""
    state = opt.state_dict()
    for i, (name, _) in enumerate(named):
        if f"optim.{name}.exp_avg" in extra:
            state["state"][i] = {k: extra[f"optim.{name}.{k}"] for k in MOMENTS}
    opt.load_state_dict(state)
    return bool(state["state"])
