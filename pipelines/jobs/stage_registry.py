"""The recipe stages this version implements, and how a stage's options become its composite.

`pipelines.jobs.recipe` parses a recipe and checks it here (every stage built once, so bad options fail before a
job starts); `pipelines.jobs.curate` builds the job's stages here. Both import this module and it imports
neither, so recipe parsing and the job do not depend on each other. `RecipeError` lives here, the lowest of
the three, and `pipelines.jobs.recipe` re-exports it.

Importing this module is cheap (no Beam, no pyarrow): a stage's module is imported when the stage is built, so a
recipe that fails before that (bad YAML, an unknown stage) costs no more than reading it.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping

from filters.stage_options import OptionError

if TYPE_CHECKING:
    import apache_beam as beam


class RecipeError(ValueError):
    pass


def _filter_stage(module: str, cls: str) -> Callable[[str, Dict[str, Any]], beam.PTransform]:
    """A builder for a stage that runs one filters.base.DocumentFilter through ApplyFilter."""
    def build(name: str, opts: Dict[str, Any]) -> beam.PTransform:
        from pipelines.transforms.stages import ApplyFilter

        return ApplyFilter(name, getattr(importlib.import_module(module), cls)(**opts))
    return build


def _composite_stage(module: str, cls: str) -> Callable[[str, Dict[str, Any]], beam.PTransform]:
    """A builder for a stage that is its own composite with outputs kept, rejected, errors."""
    def build(name: str, opts: Dict[str, Any]) -> beam.PTransform:
        return getattr(importlib.import_module(module), cls)(**opts)
    return build


# Recipe stage -> builder. A stage's options are the keyword arguments of its class. Adding a stage is one
# line here (plus its name in pipelines.jobs.recipe.KNOWN_STAGES if it is new to the design).
STAGE_BUILDERS: Dict[str, Callable[[str, Dict[str, Any]], beam.PTransform]] = {
    "extract": _composite_stage("pipelines.transforms.extract", "ExtractText"),
    "url": _filter_stage("filters.url", "UrlFilter"),
    "language": _composite_stage("pipelines.transforms.language", "FilterLanguage"),
    "quality": _filter_stage("filters.quality", "QualityFilter"),
    "classifier": _filter_stage("filters.classifier", "QualityClassifierFilter"),
    "code": _filter_stage("filters.code_rules", "CodeFilter"),
    "pii": _filter_stage("filters.pii", "PIIFilter"),
    "decontaminate": _composite_stage("pipelines.transforms.decontaminate", "Decontaminate"),
    "dedup_exact": _composite_stage("pipelines.transforms.dedup", "DedupExact"),
    "dedup_minhash": _composite_stage("pipelines.transforms.dedup", "DedupMinhash"),
    "dedup_lines": _composite_stage("pipelines.transforms.dedup", "DedupLines"),
}


def build_stage(name: str, options: Mapping[str, Any]) -> beam.PTransform:
    """The composite that runs recipe stage `name` with `options` (the implementing class's kwargs)."""
    builder = STAGE_BUILDERS.get(name)
    if builder is None:
        raise RecipeError(f"stage {name!r} has no implementation; implemented: {', '.join(STAGE_BUILDERS)}")
    return builder(name, dict(options))


def validate_recipe(recipe) -> None:
    """Build each stage of `recipe` (a pipelines.jobs.recipe.Recipe) once: bad options raise RecipeError here."""
    for name, opts in recipe.stages:
        try:
            build_stage(name, opts)
        except RecipeError:
            raise
        except OptionError as exc:  # it names the option, its value and what is allowed
            raise RecipeError(f"recipe {recipe.name}: stage {name!r}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise RecipeError(f"recipe {recipe.name}: stage {name!r} has bad options {dict(opts)}: {exc}") from exc
    if "language" in recipe.stage_names:
        from filters.models import lid_model_path

        lid_model_path(recipe.options("language").get("model_path"))
