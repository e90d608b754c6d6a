"""Recipes: which curate stages run, in which order, with which settings.

A recipe is YAML whose top-level keys are stage names; a stage that is absent does not run. Each stage's
mapping holds the keyword arguments of the class that implements it, so the YAML reads like the code it
configures. `load_recipe` turns the YAML into a frozen `Recipe` and builds every stage once up front, so a
misspelt stage or option stops the job before it starts with a message that says what to change.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

import yaml

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
DEFAULT_RECIPE = RECIPES_DIR / "default.yaml"

# Every stage key DESIGN.md names, in the order a chain normally runs them.
KNOWN_STAGES = ("extract", "url", "language", "quality", "classifier", "code", "pii",
                "dedup_exact", "dedup_minhash", "dedup_lines")
DEDUP_STAGES = ("dedup_exact", "dedup_minhash", "dedup_lines")


class RecipeError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Recipe:
    stages: Tuple[Tuple[str, Mapping[str, Any]], ...]
    name: str = "custom"
    seed: int = 0
    inputs: Tuple[str, ...] = ()
    # Keep at most this many rejected rows per (stage, reason) in rejected/ (None: all). Counts stay complete.
    rejected_sample_per_reason: Optional[int] = None

    @property
    def stage_names(self) -> Tuple[str, ...]:
        return tuple(name for name, _ in self.stages)

    def options(self, stage: str) -> Dict[str, Any]:
        for name, opts in self.stages:
            if name == stage:
                return dict(opts)
        raise KeyError(stage)

    def to_yaml(self) -> str:
        body: Dict[str, Any] = {"name": self.name, "seed": self.seed}
        if self.inputs:
            body["inputs"] = list(self.inputs)
        if self.rejected_sample_per_reason is not None:
            body["rejected"] = {"sample_per_reason": self.rejected_sample_per_reason}
        body.update({name: dict(opts) for name, opts in self.stages})
        return yaml.safe_dump(body, sort_keys=False)

    def to_json(self) -> Dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "inputs": list(self.inputs),
                "rejected_sample_per_reason": self.rejected_sample_per_reason, "stages": {n: dict(o) for n, o in self.stages}}


def parse_recipe(data: Mapping[str, Any], name: str = "custom") -> Recipe:
    if not isinstance(data, Mapping):
        raise RecipeError(f"recipe {name}: expected a mapping of stage names to options, got {type(data).__name__}")
    data = dict(data)
    recipe_name = str(data.pop("name", name))
    seed = data.pop("seed", 0)
    inputs = data.pop("inputs", None) or []
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise RecipeError(f"recipe {recipe_name}: inputs must be a list of input specs, got {inputs!r}")
    if not isinstance(seed, int):
        raise RecipeError(f"recipe {recipe_name}: seed must be an integer, got {seed!r}")
    rejected_opts = data.pop("rejected", None) or {}
    if not isinstance(rejected_opts, Mapping) or set(rejected_opts) - {"sample_per_reason"}:
        raise RecipeError(f"recipe {recipe_name}: `rejected` takes only `sample_per_reason: N`, got {rejected_opts!r}")
    sample = rejected_opts.get("sample_per_reason")
    if sample is not None and (not isinstance(sample, int) or sample < 0):
        raise RecipeError(f"recipe {recipe_name}: rejected.sample_per_reason must be a non-negative integer, got {sample!r}")
    stages = []
    for key, opts in data.items():
        if key not in KNOWN_STAGES:
            raise RecipeError(f"recipe {recipe_name}: unknown stage {key!r}; stages are {', '.join(KNOWN_STAGES)}")
        from pipelines.curate import STAGE_BUILDERS  # the stages this version implements

        if key not in STAGE_BUILDERS:
            raise RecipeError(f"recipe {recipe_name}: stage {key!r} is not available in this version of Winnow; "
                              f"remove it or use one of {', '.join(STAGE_BUILDERS)}")
        if opts is None:
            opts = {}
        if not isinstance(opts, Mapping):
            raise RecipeError(f"recipe {recipe_name}: options of {key!r} must be a mapping, got {opts!r}")
        stages.append((key, dict(opts)))
    names = [n for n, _ in stages]
    if "extract" not in names:
        raise RecipeError(f"recipe {recipe_name}: the 'extract' stage is required (it turns input records into documents)")
    if names[0] != "extract":
        raise RecipeError(f"recipe {recipe_name}: 'extract' must come first, got order {names}")
    seen_dedup = False
    for n in names:
        if n in DEDUP_STAGES:
            seen_dedup = True
        elif seen_dedup:
            raise RecipeError(f"recipe {recipe_name}: filter stage {n!r} comes after deduplication; put dedup stages last")
    recipe = Recipe(stages=tuple(stages), name=recipe_name, seed=seed, inputs=tuple(inputs),
                    rejected_sample_per_reason=sample)
    from pipelines.curate import validate_recipe  # builds each stage once: bad options fail here

    validate_recipe(recipe)
    return recipe


def load_recipe(path: str | os.PathLike | None = None) -> Recipe:
    path = Path(path) if path else DEFAULT_RECIPE
    if not path.is_file():
        raise RecipeError(f"recipe file {path} not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe {path} is not valid YAML: {exc}") from exc
    return parse_recipe(data or {}, name=path.stem)
