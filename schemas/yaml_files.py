"""YAML for the files users write (recipes, mixtures): a safe loader that refuses a key given twice in one
mapping. PyYAML keeps the last of two equal keys without a word, so a recipe with `language:` twice ran with
the second stage's options only, and the first's were lost."""
from __future__ import annotations

import math

import yaml
from yaml.nodes import MappingNode

MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(ValueError):
    """A mapping repeats a key; the message names it and its line."""


class UniqueKeySafeLoader(yaml.SafeLoader):
    """yaml.SafeLoader that raises DuplicateKeyError where a mapping repeats a key (merge keys, `<<: *anchor`,
    may still be overridden by the mapping's own keys, as YAML intends)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: SafeLoader's own error says so
                    continue
                if first is not None:
                    raise DuplicateKeyError(f"the key {key!r} appears twice in one mapping (lines {first} and "
                                            f"{key_node.start_mark.line + 1}); YAML would keep only the second: "
                                            f"merge the two into one")
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def load_unique_keys(text: str):
    """The YAML document of `text`, refusing repeated keys (DuplicateKeyError)."""
    return yaml.load(text, Loader=UniqueKeySafeLoader)  # noqa: S506 (a SafeLoader subclass)


def yaml_float(text: str) -> str:
    """A number written with an exponent (`1e-3`, `1.0e2`) as YAML 1.1 reads it as a float: a dot in the
    mantissa and a sign on the exponent (`1.0e-3`, `1.0e+2`)."""
    mantissa, exponent = text.strip().lower().split("e", 1)
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{exponent if exponent[:1] in ('+', '-') else '+' + exponent}"


def number_as_text_hint(value: object) -> str:
    """For a string that reads as a number: how to write it so that YAML reads a number ("; YAML reads 1e-3 as
    text: write 1.0e-3", or "; write the number without quotes"); "" for anything else."""
    if not isinstance(value, str):
        return ""
    try:
        number = float(value)
    except ValueError:
        return ""
    if not math.isfinite(number):
        if "e" in value.lower():  # 1e309: unquoted, or written 1.0e+309, it is infinity
            return f"; {value} is beyond the range of a number (it reads as infinity): write a smaller one"
        return "; YAML writes infinity .inf" if "inf" in value.lower() else ""
    if "e" in value.lower():  # YAML 1.1: an exponent needs a dot and a sign
        return f"; YAML reads {value} as text: write {yaml_float(value)}"
    return "; write the number without quotes"
