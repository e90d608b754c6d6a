"""Types and ranges of stage options, checked when a stage is built, so a bad recipe stops before the job.

A recipe stage's options are the keyword arguments of the class that implements it. Each option's type is
its annotation in that class's signature (or dataclass field); its range is declared in the same annotation
with `typing.Annotated`, e.g. `min_score: Annotated[float, Range(0, 1)] = 0.0` or the alias `Fraction`.
`@checked_options` on a class (or dataclass, or function) checks every argument against those annotations
before the body runs and raises `OptionError`, one line naming the option, its value and what is allowed.
Nothing is coerced: YAML's `"0.5"` is a string, and a string threshold compared with a float score would
otherwise fail on every document at run time (an error row each, exit 0) instead of once, up front.

Supported annotations: `Any`, `bool`, `int` (not bool), `float` (int or float, not bool), `str`,
`Optional`/`Union`, `Literal`, `List`/`Sequence`/`Iterable`/`Tuple` (a list or tuple, never a bare string:
`languages: en` would otherwise be read as the letters e and n), `Dict`/`Mapping`, and `Annotated[T, c...]`
with constraints `Range`, `OneOf` and `FastTextModelFile`.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import functools
import inspect
import math
import os
import reprlib
import typing
from typing import Annotated, Any, Callable, Optional, Tuple

from schemas.yaml_files import number_as_text_hint
from filters.fasttext_files import fasttext_model_labels, model_problem  # noqa: F401 (re-exported)

# The `source` values readers give documents (pipelines/ingest/inputs.py SOURCE_*): a filter's `sources` naming
# anything else would silently apply to nothing.
DOCUMENT_SOURCES = ("web", "text", "code")
# A bad value is quoted in the message, abridged: an option can hold a huge (or alias-expanded) structure.
_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxlist, _SHOWN.maxdict, _SHOWN.maxstring, _SHOWN.maxother = 3, 8, 8, 80, 80


class OptionError(TypeError, ValueError):
    """A stage option that is unknown, missing, of the wrong type or out of range. Both a TypeError (what
    Python raises for an unknown or missing keyword) and a ValueError (a value out of range), so callers that
    catch either keep working. `options`: for an unknown option, the names that are options there."""

    def __init__(self, option: str, message: str, options: Tuple[str, ...] = ()):
        super().__init__(f"option {option!r} {message}")
        self.option, self.message, self.options = option, message, tuple(options)

    def within(self, parent: str) -> "OptionError":
        """The same error for an option nested in `parent` (quality's rule sets): `gopher.min_doc_words`."""
        return OptionError(f"{parent}.{self.option}", self.message)


@dataclasses.dataclass(frozen=True)
class Range:
    """low <= value <= high (either bound None: unbounded); `low_open`/`high_open` make a bound strict."""
    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False
    high_open: bool = False

    def accepts(self, value) -> bool:
        if isinstance(value, float) and math.isnan(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return True

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"within {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return "any value"


@dataclasses.dataclass(frozen=True)
class OneOf:
    values: Tuple[Any, ...]
    names_value = True  # its description replaces the type's ("one of 'a', 'b'", not "a string one of ...")

    def __init__(self, *values: Any):
        object.__setattr__(self, "values", tuple(values))

    def accepts(self, value) -> bool:
        return value in self.values

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


def _why_not_a_file(path: str) -> str:
    if not os.path.exists(path):
        return "no such file"
    return "" if os.path.isfile(path) else "not a regular file"


@dataclasses.dataclass(frozen=True)
class ExistingFile:
    """A local regular file (list files the stage reads when it is built)."""
    names_value = True

    def accepts(self, value) -> bool:
        return os.path.isfile(value)

    def describe(self) -> str:
        return "the path of an existing file"

    def explain(self, value) -> str:
        return _why_not_a_file(value)


@dataclasses.dataclass(frozen=True)
class FastTextModelFile:
    """A local fastText model file that loads whole (filters/fasttext_files.py: loaded once in a child process,
    with time and memory limits, and cached): a missing, foreign, damaged or cut-short model fails at recipe
    load with its path, not as a crash or a hang of the job."""
    names_value = True

    def accepts(self, value) -> bool:
        return model_problem(value) is None

    def describe(self) -> str:
        return "the path of a fastText model file (.bin or .ftz)"

    def explain(self, value) -> str:
        return _why_not_a_file(value) or model_problem(value) or ""


@dataclasses.dataclass(frozen=True)
class NonEmpty:
    """At least one item: an empty list that would mean "all" (a filter's `sources`) or nothing is refused."""

    def accepts(self, value) -> bool:
        return len(value) > 0

    def describe(self) -> str:
        return "(at least one; leave the option out for the default)"


# Aliases for the ranges most options have, so signatures stay readable.
Fraction = Annotated[float, Range(0, 1)]
NonNegative = Annotated[float, Range(0)]
Positive = Annotated[float, Range(0, low_open=True)]
NonNegativeInt = Annotated[int, Range(0)]
PositiveInt = Annotated[int, Range(1)]
Sources = Optional[Annotated[typing.List[Annotated[str, OneOf(*DOCUMENT_SOURCES)]], NonEmpty()]]
ModelPath = Annotated[str, FastTextModelFile()]
ListFile = Annotated[str, ExistingFile()]

_PLURALS = {str: "strings", int: "integers", float: "numbers", bool: "booleans"}
_SEQUENCES = (list, tuple)
_ITERABLES = (list, tuple, set, frozenset)


def _type_name(value) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            tuple: "a list", dict: "a mapping", type(None): "null"}.get(type(value), type(value).__name__)


def describe(tp) -> str:
    """What an annotation allows, in words."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return "any value"
    if tp is type(None):
        return "null"
    if origin is Annotated:
        constraints = [c for c in args[1:] if hasattr(c, "describe")]
        if any(getattr(c, "names_value", False) for c in constraints):
            return " and ".join(c.describe() for c in constraints)
        return " ".join([describe(args[0])] + [c.describe() for c in constraints])
    if origin is typing.Union:
        return " or ".join(describe(a) for a in args if a is not type(None)) + (
            " or null" if type(None) in args else "")
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple, collections.abc.Sequence, collections.abc.Iterable, set, frozenset):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return "[" + ", ".join(describe(a) for a in args) + "]"
        if not args or args[0] is Any:
            return "a list"
        return f"a list of {_PLURALS[args[0]]}" if args[0] in _PLURALS else f"a list, each {describe(args[0])}"
    if origin in (dict, collections.abc.Mapping):
        if not args or args[1] is Any:
            return "a mapping of options"
        return f"a mapping of {describe(args[0])} to {describe(args[1])}"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, getattr(tp, "__name__", str(tp)))


def _matches(tp, value) -> bool:
    """Whether `value` has type `tp` and meets the constraints inside it."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return True
    if tp is type(None):
        return value is None
    if origin is Annotated:
        return _matches(args[0], value) and all(c.accepts(value) for c in args[1:] if hasattr(c, "accepts"))
    if origin is typing.Union:
        return any(_matches(a, value) for a in args)
    if origin is typing.Literal:
        return value in args
    if origin is tuple:
        if not isinstance(value, _SEQUENCES):
            return False
        if args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(_matches(a, v) for a, v in zip(args, value))
        return all(_matches(args[0], v) for v in value) if args else True
    if origin in (list, collections.abc.Sequence):
        return isinstance(value, _SEQUENCES) and (not args or all(_matches(args[0], v) for v in value))
    if origin in (collections.abc.Iterable, set, frozenset):
        return isinstance(value, _ITERABLES) and (not args or all(_matches(args[0], v) for v in value))
    if origin in (dict, collections.abc.Mapping):
        return isinstance(value, collections.abc.Mapping) and (not args or all(
            _matches(args[0], k) and _matches(args[1], v) for k, v in value.items()))
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(tp, type):
        return isinstance(value, tp)
    raise TypeError(f"stage_options cannot check the annotation {tp!r}")


def _file_constraint(tp):
    """The file constraint of a path option (possibly Optional), which can say why a path fails."""
    for arg in (tp,) + typing.get_args(tp):
        if typing.get_origin(arg) is Annotated:
            for c in typing.get_args(arg)[1:]:
                if hasattr(c, "explain"):
                    return c
    return None


def check_option(name: str, tp, value) -> None:
    """Raise OptionError unless `value` fits annotation `tp`."""
    if _matches(tp, value):
        return
    message = f"= {_SHOWN.repr(value)} ({_type_name(value)}) is not allowed: expected {describe(tp)}"
    path_check = _file_constraint(tp)
    if path_check is not None and isinstance(value, str):
        message += f" ({path_check.explain(value)})"
    message += number_as_text_hint(value)
    if _holds_yaml_boolean(value) and "string" in describe(tp):
        message += ("; YAML reads unquoted yes, no, on, off, y and n as booleans: quote the word (e.g. 'no', "
                    "Norwegian)")
    raise OptionError(name, message)


def _holds_yaml_boolean(value) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, (list, tuple)):
        return any(isinstance(v, bool) for v in value)
    if isinstance(value, collections.abc.Mapping):
        return any(isinstance(k, bool) for k in value)
    return False


def _unknown_option(option: str, named) -> OptionError:
    return OptionError(option, f"is not an option here; options are {', '.join(named)}", options=tuple(named))


def checked_options(target):
    """Decorator: check a class's (or dataclass's, or function's) arguments against their annotations.

    Unknown and missing options become OptionError too, so a misspelt option names itself and the options
    there are. Defaults are checked as well: a default out of its own declared range is a bug worth a loud
    failure. Parameters without an annotation (self, cls) and **kwargs (checked where they are forwarded)
    are skipped."""
    is_class = isinstance(target, type)
    func = target.__init__ if is_class else target
    signature = inspect.signature(func)
    params = signature.parameters
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
             and n not in ("self", "cls")]
    state = {}

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if "hints" not in state:  # resolved on first use: annotations may name things defined later
            # a dataclass's field annotations live on the class; its generated __init__ has none to resolve
            source = target if is_class and dataclasses.is_dataclass(target) else func
            state["hints"] = typing.get_type_hints(source, include_extras=True)
        hints = state["hints"]
        if not accepts_any:
            unknown = sorted(set(kwargs) - set(named))
            if unknown:
                raise _unknown_option(unknown[0], named)
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            missing = [n for n in named if n not in kwargs and params[n].default is inspect.Parameter.empty]
            if missing:
                raise OptionError(missing[0], f"is required ({describe(hints.get(missing[0], Any))})") from exc
            raise
        bound.apply_defaults()
        for name, value in bound.arguments.items():
            if name in hints and params[name].kind not in (inspect.Parameter.VAR_KEYWORD,
                                                            inspect.Parameter.VAR_POSITIONAL):
                check_option(name, hints[name], value)
        try:  # **kwargs are checked where they are forwarded; a name unknown there is not one of ours either
            return func(*args, **kwargs)
        except OptionError as exc:
            if exc.options and exc.option in kwargs and exc.option not in named:
                raise _unknown_option(exc.option, named + [n for n in exc.options if n not in named]) from None
            raise

    wrapper.__checked_options__ = True
    if is_class:
        target.__init__ = wrapper
        return target
    return wrapper


def option_defaults(target: Callable) -> dict:
    """The default of every named option of a class, dataclass or function (what `{}` in a recipe gives)."""
    func = target.__init__ if isinstance(target, type) else target
    return {n: p.default for n, p in inspect.signature(func).parameters.items()
            if n not in ("self", "cls") and p.default is not inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
