"""Open311 GeoReport v2: our service list, its attributes, and checking what a client sends.

Our ticket code is the `service_request_id`; a service code is the ticket's category hint.
Loaded by a function from `data/open311_services.json`, never at import.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backbone.privacy import echo

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}


class Open311InputError(ValueError):
    """What an Open311 client sent does not fit the service's definition."""


@dataclass(frozen=True)
class Service:
    code: str
    name: str
    group: str
    description: str
    keywords: str
    attributes: tuple[dict[str, Any], ...]

    def summary(self) -> dict[str, Any]:
        return {"service_code": self.code, "service_name": self.name,
                "description": self.description, "metadata": bool(self.attributes),
                "type": "realtime", "keywords": self.keywords, "group": self.group}

    def definition(self) -> dict[str, Any]:
        return {"service_code": self.code, "attributes": [
            {"variable": True, "code": a["code"], "datatype": a["datatype"],
             "required": bool(a.get("required")),
             "datatype_description": a.get("datatype_description", ""),
             "order": a.get("order", i + 1), "description": a.get("description", ""),
             "values": list(a.get("values", []))}
            for i, a in enumerate(self.attributes)]}

    def check_attributes(self, given: dict[str, list[str]]) -> dict[str, str]:
        """Validate `attribute[code]` values; return them as readable text per attribute."""
        known = {a["code"]: a for a in self.attributes}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise Open311InputError(f"service {self.code} has no attribute(s) {', '.join(unknown)}")
        out: dict[str, str] = {}
        for code, attr in known.items():
            values = [v for v in given.get(code, []) if v.strip()]
            if not values:
                if attr.get("required"):
                    raise Open311InputError(f"attribute[{code}] is required for service {self.code}")
                continue
            out[code] = _checked(self.code, attr, values)
        return out


def _checked(service: str, attr: dict[str, Any], values: list[str]) -> str:
    code, kind = attr["code"], attr["datatype"]
    if kind != "multivaluelist" and len(values) > 1:
        raise Open311InputError(f"attribute[{code}] takes one value")
    if kind in ("singlevaluelist", "multivaluelist"):
        keys = {v["key"]: v["name"] for v in attr.get("values", [])}
        bad = [v for v in values if v not in keys]
        if bad:
            raise Open311InputError(f"attribute[{code}] value {echo(bad[0])} is not one of "
                                    f"{', '.join(keys)}")
        return "、".join(keys[v] for v in values)
    if kind == "number":
        try:
            float(values[0])
        except ValueError:
            raise Open311InputError(f"attribute[{code}] must be a number") from None
    if len(values[0]) > 200:
        raise Open311InputError(f"attribute[{code}] is longer than 200 characters")
    return values[0]


@dataclass(frozen=True)
class ServiceCatalogue:
    services: tuple[Service, ...]

    def get(self, code: str) -> Service | None:
        return next((s for s in self.services if s.code == code), None)

    def name_of(self, code: str | None) -> str:
        service = self.get(code or "")
        return service.name if service else (code or "")


def load_catalogue(path: Path | None = None) -> ServiceCatalogue:
    raw = json.loads((path or DATA_DIR / "open311_services.json").read_text(encoding="utf-8"))
    services = []
    for s in raw["services"]:
        for a in s.get("attributes", []):
            if a["datatype"] not in DATATYPES:
                raise ValueError(f"{s['service_code']}.{a['code']}: unknown datatype {a['datatype']}")
        services.append(Service(s["service_code"], s["service_name"], s.get("group", ""),
                                s.get("description", ""), s.get("keywords", ""),
                                tuple(s.get("attributes", []))))
    return ServiceCatalogue(tuple(services))
