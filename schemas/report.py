"""`report.json`: what each curate stage did.

Per stage: `in`, `kept`, `dropped` by reason, `errors`, and seconds spent, with the invariant
`in == kept + sum(dropped) + errors` (checked by `StageCounts.balanced`).
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, List, Optional

REPORT_FORMAT = "winnow.report/1"


@dataclasses.dataclass
class StageCounts:
    name: str
    in_: int = 0
    kept: int = 0
    dropped: Dict[str, int] = dataclasses.field(default_factory=dict)
    errors: int = 0
    seconds: float = 0.0

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @property
    def balanced(self) -> bool:
        return self.in_ == self.kept + self.dropped_total + self.errors

    def to_json(self) -> Dict[str, Any]:
        return {"name": self.name, "in": self.in_, "kept": self.kept, "dropped": dict(sorted(self.dropped.items())),
                "errors": self.errors, "seconds": round(self.seconds, 3)}

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "StageCounts":
        return cls(name=d["name"], in_=d["in"], kept=d["kept"], dropped=dict(d.get("dropped", {})),
                   errors=d.get("errors", 0), seconds=d.get("seconds", 0.0))


@dataclasses.dataclass
class Report:
    stages: List[StageCounts]
    inputs: List[str]
    recipe: Dict[str, Any]
    versions: Dict[str, str]
    outputs: Dict[str, int] = dataclasses.field(default_factory=dict)
    wall_seconds: Optional[float] = None
    format: str = REPORT_FORMAT
    # where the wall time went (curate: pipelines/transforms/counters.py `job_timings`); None: not measured
    timings: Optional[Dict[str, Optional[float]]] = None

    def stage(self, name: str) -> StageCounts:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no stage {name!r} in report; stages are {[s.name for s in self.stages]}")

    def to_json(self) -> Dict[str, Any]:
        timings = {} if self.timings is None else {"timings": dict(self.timings)}
        return {"format": self.format, "inputs": self.inputs, "stages": [s.to_json() for s in self.stages],
                "outputs": self.outputs, "wall_seconds": self.wall_seconds, **timings, "recipe": self.recipe,
                "versions": self.versions}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Report":
        if d.get("format") != REPORT_FORMAT:
            raise ValueError(f"report format {d.get('format')!r} is not {REPORT_FORMAT!r}")
        return cls(stages=[StageCounts.from_json(s) for s in d["stages"]], inputs=d.get("inputs", []),
                   recipe=d.get("recipe", {}), versions=d.get("versions", {}), outputs=d.get("outputs", {}),
                   wall_seconds=d.get("wall_seconds"), timings=d.get("timings"))

    @classmethod
    def load(cls, path: str) -> "Report":
        with open(path, encoding="utf-8") as f:
            return cls.from_json(json.load(f))
