"""Recipes: which curate stages run, in which order, with which settings.

A recipe is YAML whose top-level keys are stage names; a stage that is absent does not run. Each stage's
mapping holds the keyword arguments of the class that implements it, so the YAML reads like the code it
configures. `load_recipe` turns the YAML into a frozen `Recipe` and builds every stage once up front, so a
misspelt stage, an option of the wrong type or out of its range (declared beside the option in the class,
filters/stage_options.py) or a missing model stops the job before it starts, with one line that names the
stage, the option, the value and what is allowed.

`extract` is needed only for web archives (it turns HTML into text): a recipe for JSONL, Parquet or code
inputs may start with any stage (`check_inputs_need_no_extract` refuses archive inputs to such a recipe).

The YAML is read with a loader that bounds what aliases can expand to: nested anchors ("billion laughs")
make a few hundred bytes stand for billions of values, which any later walk of the options (checking,
printing, writing recipe.yaml) would materialise. A recipe is a few hundred values; past `MAX_RECIPE_VALUES`
after expansion, or past `MAX_RECIPE_BYTES` on disk, it is refused.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from pipelines.ingest.inputs import ARCHIVE
from pipelines.jobs.stage_registry import STAGE_BUILDERS, RecipeError, validate_recipe
from schemas.yaml_files import DuplicateKeyError, UniqueKeySafeLoader

RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"
DEFAULT_RECIPE = RECIPES_DIR / "default.yaml"

# Every stage key DESIGN.md names, in the order a chain normally runs them.
KNOWN_STAGES = ("extract", "url", "language", "quality", "classifier", "code", "pii", "decontaminate",
                "dedup_exact", "dedup_minhash", "dedup_lines")
DEDUP_STAGES = ("dedup_exact", "dedup_minhash", "dedup_lines")
# Bounds on a recipe file: the shipped recipes are ~2 KB and ~60 values; long lists belong in list files
# (url's domains_file and the like).
MAX_RECIPE_BYTES = 1 << 20
MAX_RECIPE_VALUES = 100_000


def _expanded_values(root: Node, limit: int) -> int:
    """The number of YAML values `root` stands for once every alias is expanded; RecipeError past `limit`
    or on a recursive alias. Each node is sized once (aliases share their node), so this takes time in
    the size of the file, not of the expansion."""
    sizes: Dict[int, int] = {}
    active = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise RecipeError("an alias refers to the node that contains it (a recursive alias); "
                              "write the value out instead")
        active.add(key)
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = ()
        total = 1
        for child in children:
            total += size(child)
            if total > limit:
                raise RecipeError(f"its YAML aliases expand to more than {limit:,} values (nested anchors, "
                                  f"a 'billion laughs'); write the options out, or use anchors that are not nested")
        active.discard(key)
        sizes[key] = total
        return total

    return size(root)


class BoundedSafeLoader(UniqueKeySafeLoader):
    """A safe loader that refuses a repeated key and a document whose aliases expand beyond MAX_RECIPE_VALUES
    values."""

    max_values = MAX_RECIPE_VALUES

    def compose_document(self):
        node = super().compose_document()
        if node is not None:
            _expanded_values(node, self.max_values)
        return node


def read_recipe_yaml(text: str, name: str = "custom") -> Any:
    """The YAML document of a recipe, with bounded alias expansion; RecipeError names the recipe."""
    try:
        return yaml.load(text, Loader=BoundedSafeLoader)  # noqa: S506 (a SafeLoader subclass)
    except (RecipeError, DuplicateKeyError) as exc:
        raise RecipeError(f"recipe {name}: {exc}") from None
    except RecursionError:
        raise RecipeError(f"recipe {name}: the YAML nests too deeply to be a recipe") from None
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe {name} is not valid YAML: {exc}") from exc


@dataclasses.dataclass(frozen=True)
class Recipe:
    stages: Tuple[Tuple[str, Mapping[str, Any]], ...]
    name: str = "custom"
    seed: int = 0
    inputs: Tuple[str, ...] = ()
    # Keep at most this many rejected rows per (stage, reason) in rejected/ (None: all). Counts stay complete.
    rejected_sample_per_reason: Optional[int] = None
    # `winnow run --recipe`: tokenize the curated documents as this mixture (a mixture file's mapping, see
    # tokenizer/mixture.py; a source without `input` reads the run's curated documents). Curate ignores it.
    mixture: Optional[Mapping[str, Any]] = None

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
        if self.mixture is not None:
            body["mixture"] = dict(self.mixture)
        body.update({name: dict(opts) for name, opts in self.stages})
        return yaml.safe_dump(body, sort_keys=False)

    def to_json(self) -> Dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "inputs": list(self.inputs),
                "rejected_sample_per_reason": self.rejected_sample_per_reason,
                **({"mixture": dict(self.mixture)} if self.mixture is not None else {}),
                "stages": {n: dict(o) for n, o in self.stages}}


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
    if isinstance(seed, bool) or not isinstance(seed, int):  # YAML's true is a bool, and bool is an int
        raise RecipeError(f"recipe {recipe_name}: seed must be an integer, got {seed!r}; write a number "
                          f"(e.g. `seed: 0`), or leave `seed` out for 0")
    rejected_opts = data.pop("rejected", None) or {}
    if not isinstance(rejected_opts, Mapping) or set(rejected_opts) - {"sample_per_reason"}:
        raise RecipeError(f"recipe {recipe_name}: `rejected` takes only `sample_per_reason: N`, got {rejected_opts!r}")
    sample = rejected_opts.get("sample_per_reason")
    if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int) or sample < 0):
        raise RecipeError(f"recipe {recipe_name}: rejected.sample_per_reason must be a non-negative integer, got "
                          f"{sample!r}; write a number of rows (0 keeps none), or null to keep every rejected row")
    mixture = data.pop("mixture", None)
    if mixture is not None:
        mixture = run_mixture(mixture, f"recipe {recipe_name}: mixture")
    stages = []
    for key, opts in data.items():
        if key not in KNOWN_STAGES:
            raise RecipeError(f"recipe {recipe_name}: unknown stage {key!r}; stages are {', '.join(KNOWN_STAGES)}")
        if key not in STAGE_BUILDERS:  # the stages this version implements
            raise RecipeError(f"recipe {recipe_name}: stage {key!r} is not available in this version of Winnow; "
                              f"remove it or use one of {', '.join(STAGE_BUILDERS)}")
        if opts is None:
            opts = {}
        if not isinstance(opts, Mapping):
            raise RecipeError(f"recipe {recipe_name}: options of {key!r} must be a mapping, got {opts!r}")
        stages.append((key, dict(opts)))
    names = [n for n, _ in stages]
    if "extract" in names and names[0] != "extract":
        raise RecipeError(f"recipe {recipe_name}: 'extract' must come first (it turns input records into "
                          f"documents), got order {names}")
    seen_dedup = False
    for n in names:
        if n in DEDUP_STAGES:
            seen_dedup = True
        elif seen_dedup:
            raise RecipeError(f"recipe {recipe_name}: filter stage {n!r} comes after deduplication; put dedup stages last")
    recipe = Recipe(stages=tuple(stages), name=recipe_name, seed=seed, inputs=tuple(inputs),
                    rejected_sample_per_reason=sample, mixture=mixture)
    validate_recipe(recipe)  # builds each stage once: bad options fail here
    return recipe


# Where a `mixture:` source without `input` reads: the run's curated documents, OUT/curated (the mixture is
# written to OUT/mixture.yaml, and its relative inputs are read against that file's directory).
RUN_CURATED = "curated"


def run_mixture(mixture: Any, where: str) -> Dict[str, Any]:
    """A recipe's `mixture:` with every source's `input` filled in (default RUN_CURATED), checked as a mixture
    file is (tokenizer.mixture.parse_mixture): a bad mixture stops the recipe here, before any job."""
    from tokenizer.mixture import MixtureError, parse_mixture

    if not isinstance(mixture, Mapping) or not isinstance(mixture.get("sources"), list):
        raise RecipeError(f"{where}: expected {{sources: [{{name, weight or epochs, source (optional), input "
                          f"(optional, default the run's curated documents)}}, ...], total_tokens: N (optional)}}, "
                          f"got {mixture!r}")
    filled = dict(mixture)
    filled["sources"] = [{"input": RUN_CURATED, **entry} if isinstance(entry, Mapping) else entry
                         for entry in mixture["sources"]]
    for entry in filled["sources"]:  # a relative path means what the recipe's `inputs:` do: from where the run starts
        path = entry.get("input") if isinstance(entry, dict) else None
        if (isinstance(path, str) and path != RUN_CURATED and "://" not in path and not path.startswith("code:")
                and not os.path.isabs(path)):
            entry["input"] = os.path.abspath(path)
    try:
        # the run's curated documents carry only the sources Winnow's readers give
        parse_mixture(yaml.safe_dump(filled), where, curated_inputs=(RUN_CURATED,))
    except MixtureError as exc:
        raise RecipeError(str(exc)) from None
    _check_mixture_inputs(filled["sources"], where)
    return filled


def _check_mixture_inputs(sources: List[Dict[str, Any]], where: str) -> None:
    """A local `input` of a mixture source that holds no documents stops the recipe here: found when the
    mixture was tokenized, it lost the curate and tokenizer training that ran before."""
    from schemas.io import document_patterns

    for entry in sources:
        path = entry.get("input")
        if not isinstance(path, str) or path == RUN_CURATED or "://" in path:
            continue
        if path.startswith("code:"):
            raise RecipeError(f"{where}: source {entry.get('name')!r}: input {path!r} is a source tree; a mixture "
                              f"reads documents (JSONL, Parquet, a curate output): put the tree in the recipe's "
                              f"`inputs:` and leave this source's `input` out (the run's curated documents)")
        try:
            document_patterns(path)
        except FileNotFoundError as exc:
            raise RecipeError(f"{where}: source {entry.get('name')!r}: {exc}") from None


def load_recipe(path: str | os.PathLike | None = None) -> Recipe:
    path = Path(path) if path else DEFAULT_RECIPE
    if not path.exists():
        raise RecipeError(f"recipe file {path} not found")
    if not path.is_file():  # a FIFO would block the read, /dev/zero would never end it
        raise RecipeError(f"recipe {path} is not a regular file")
    with open(path, "rb") as f:
        raw = f.read(MAX_RECIPE_BYTES + 1)
    if len(raw) > MAX_RECIPE_BYTES:
        raise RecipeError(f"recipe {path} is over {MAX_RECIPE_BYTES // 1024} KiB; recipes are small "
                          f"(put long lists in list files)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeError(f"recipe {path} is not UTF-8 text: {exc}") from None
    return parse_recipe(read_recipe_yaml(text, path.stem) or {}, name=path.stem)


def check_inputs_need_no_extract(recipe: Recipe, input_files: Iterable[Any]) -> None:
    """Refuse web archive inputs (`InputFile`s of kind archive) to a recipe without an `extract` stage: their
    records are HTML, which only `extract` turns into text, and every one would otherwise be an error row."""
    if "extract" in recipe.stage_names:
        return
    archives = [f.path for f in input_files if f.kind == ARCHIVE]
    if archives:
        more = f" and {len(archives) - 1} more" if len(archives) > 1 else ""
        raise RecipeError(f"recipe {recipe.name} has no `extract` stage, which web archive input {archives[0]}{more} "
                          f"needs (its records are HTML): add `extract: {{}}` as the recipe's first stage")
