"""Range checks on a composed config, run before anything is built.

Hydra already rejects unknown top-level keys (struct mode) and :mod:`rpaf.builders` names the key
when a ``_target_`` receives an unknown keyword. This module adds the value ranges the paper's
maths needs, so that a bad sweep value fails at start with the key named, not after an hour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rpaf.builders import ConfigError


@dataclass(frozen=True)
class Rule:
    """One range rule: ``key`` (dotted) must satisfy ``ok``; ``expect`` says what is valid."""

    key: str
    ok: Callable[[Any], bool]
    expect: str


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


RULES: tuple[Rule, ...] = (
    Rule("gelr.alpha", lambda v: _num(v) and v >= 0, "a number >= 0 (paper: 0.4)"),
    Rule("gelr.beta", lambda v: _num(v) and v >= 0, "a number >= 0 (paper: 0.6)"),
    Rule("gelr.rho1", lambda v: _num(v) and v > 0, "a number > 0 (paper: 1)"),
    Rule("gelr.rho2", lambda v: _num(v) and v > 0, "a number > 0 (paper: 1)"),
    Rule("gelr.theta", lambda v: _num(v) and 0 <= v < 1, "a truncation rate in [0, 1)"),
    Rule("loss.lambda1", lambda v: _num(v) and v >= 0, "a number >= 0 (paper: 0.7)"),
    Rule("loss.lambda2", lambda v: _num(v) and v >= 0, "a number >= 0 (paper: 0.3)"),
    Rule("loss.rho1", lambda v: _num(v) and v > 0, "a number > 0 (paper: 1)"),
    Rule("loss.rho2", lambda v: _num(v) and v > 0, "a number > 0 (paper: 1)"),
    Rule("model.ratio", lambda v: _num(v) and 0 < v <= 1, "a downsampling ratio in (0, 1]"),
    Rule(
        "model.dilations",
        lambda v: isinstance(v, (list, tuple)) and len(v) > 0
        and all(isinstance(d, int) and d >= 1 for d in v),
        "a non-empty list of integers >= 1 (paper: [1, 2, 4])",
    ),
    Rule("optim.lr", lambda v: _num(v) and v > 0, "a learning rate > 0 (paper: 1e-3)"),
    Rule("data.batch_size", lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    Rule("trainer.max_epochs", lambda v: isinstance(v, int) and v >= -1, "an integer >= -1"),
)


def check_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` naming the first key whose value is out of range.

    Keys that are absent (e.g. no ``gelr`` group) are not checked.
    """
    problems = []
    for rule in RULES:
        value = OmegaConf.select(cfg, rule.key, default=None)
        if value is None:
            continue
        if isinstance(value, DictConfig) or OmegaConf.is_list(value):
            value = OmegaConf.to_container(value, resolve=True)
        if not rule.ok(value):
            problems.append(f"{rule.key}={value!r} is out of range: expected {rule.expect}")
    if cfg.get("seed") is not None and not isinstance(cfg.seed, int):
        problems.append(f"seed={cfg.seed!r} must be an integer (or null for no seeding)")
    mix = cfg.get("init_weights_mix")
    if mix is not None:
        if not cfg.get("init_weights"):
            problems.append(
                f"init_weights_mix={mix!r} needs init_weights=PATH (the network to mix the "
                "trained weights with); set init_weights or init_weights_mix=null")
        elif not isinstance(mix, (int, float)) or isinstance(mix, bool) or not 0 <= mix <= 1:
            problems.append(f"init_weights_mix={mix!r} is out of range: expected a number in "
                            "[0, 1] (the weight of the trained network)")
        if not cfg.get("train", True):
            problems.append(f"init_weights_mix={mix!r} needs train=true: it mixes the weights "
                            "a training run ends with")
    if (cfg.get("init_weights") and cfg.get("ckpt_path") and cfg.get("train", True)
            and mix is None):
        problems.append(
            f"init_weights={cfg.init_weights!r} and ckpt_path={cfg.ckpt_path!r} are both set: "
            "ckpt_path resumes a run (weights, optimiser, schedule, GELR state), init_weights "
            "starts a new run from a checkpoint's weights; set only one (to resume a fine-tuning "
            "run such as experiment=cpu_mini_natural_ft, add init_weights=null; with "
            "init_weights_mix, init_weights names the mix partner of the resumed run)"
        )
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
