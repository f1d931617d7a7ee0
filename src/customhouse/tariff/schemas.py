"""The tariff file (YAML, docs/tariff-format.md): pydantic models of its records, the YAML reader that
names file, line and field for every error, and the conversion to the in-memory `Tariff`.

The whole file is validated before anything is stored. YAML floats are read as Decimal (from their
text, never through float), and each pydantic error location is walked down the composed YAML node
tree to the line of the offending value (or of its enclosing mapping when the field is missing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from customhouse.money import Rounding
from customhouse.problems import field_message
from customhouse.reference import codes
from customhouse.tariff import measures
from customhouse.tariff.selection import Group, Measure, Quota, Role, Tariff


def _country(value: str) -> str:
    if value not in codes.countries():
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code, e.g. 'CN'")
    return value


def _unit(value: str) -> str:
    if value not in measures.UNITS:
        raise ValueError(
            f"{value!r} is not a unit duties are computed in: one of {', '.join(measures.UNITS)}"
        )
    return value


HS_PREFIX = re.compile(r"[0-9]{2}(?:[0-9]{2}){0,4}")


def _hs(value: str) -> str:
    if value == "*":
        return value
    if not HS_PREFIX.fullmatch(value):
        raise ValueError(f"{value!r} is not a tariff line: 2, 4, 6, 8 or 10 digits, or '*' for every good")
    known = codes.hs_descriptions()
    for length in (2, 4, 6):
        if len(value) >= length and value[:length] not in known:
            raise ValueError(f"{value[:length]!r} is not in the HS 2022 nomenclature")
    return value


Country = Annotated[str, AfterValidator(_country)]
Unit = Annotated[str, AfterValidator(_unit)]
Rate = Annotated[Decimal, Field(ge=0, le=1000)]
Amount = Annotated[Decimal, Field(ge=0)]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SpecificRecord(Record):
    amount: Amount
    unit: Unit


class DutyRecord(Record):
    """A duty: `ad_valorem` and/or `specific` (both: compound), or an `alternative`."""

    ad_valorem: Rate | None = None
    specific: SpecificRecord | None = None
    alternative: AlternativeRecord | None = None

    @model_validator(mode="after")
    def _one_form(self) -> DutyRecord:
        if self.alternative is not None and (self.ad_valorem is not None or self.specific is not None):
            raise ValueError("give either `alternative` or `ad_valorem`/`specific`, not both")
        if self.alternative is None and self.ad_valorem is None and self.specific is None:
            raise ValueError("a duty needs `ad_valorem`, `specific` (or both) or `alternative`")
        return self

    def duty(self) -> measures.Duty:
        if self.alternative is not None:
            first, second = (option.duty() for option in self.alternative.options)
            return measures.Alternative(
                first, second, self.alternative.choose, self.alternative.minimum, self.alternative.maximum
            )
        ad_valorem = None if self.ad_valorem is None else measures.AdValorem(self.ad_valorem)
        specific = (
            None if self.specific is None else measures.Specific(self.specific.amount, self.specific.unit)
        )
        if ad_valorem and specific:
            return measures.Compound(ad_valorem, specific)
        duty = ad_valorem or specific
        assert duty is not None  # _one_form
        return duty


class AlternativeRecord(Record):
    choose: measures.Choose = measures.Choose.HIGHER
    options: Annotated[list[DutyRecord], Field(min_length=2, max_length=2)]
    minimum: Amount | None = None
    maximum: Amount | None = None

    @model_validator(mode="after")
    def _bounds(self) -> AlternativeRecord:
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError("`minimum` is above `maximum`")
        return self


DutyRecord.model_rebuild()


class MeasureRecord(DutyRecord):
    id: Identifier
    type: Role
    valid_from: date
    valid_to: date | None = None
    origins: list[Country] = []
    excluded_origins: list[Country] = []
    group: Identifier | None = None
    exporter: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    quota: Identifier | None = None

    @model_validator(mode="after")
    def _fits_its_type(self) -> MeasureRecord:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("`valid_to` is before `valid_from`")
        if self.type is Role.PREFERENTIAL and not self.group:
            raise ValueError("a preferential measure names its origin `group`")
        if self.group and self.type not in (Role.PREFERENTIAL, Role.QUOTA):
            raise ValueError("`group` is for preferential and quota measures only")
        if (self.type is Role.QUOTA) != bool(self.quota):
            raise ValueError("a quota measure, and only a quota measure, names its `quota`")
        if self.exporter and self.type not in (Role.ANTI_DUMPING, Role.COUNTERVAILING):
            raise ValueError("`exporter` is for anti-dumping and countervailing measures only")
        if self.type in (Role.ANTI_DUMPING, Role.COUNTERVAILING) and not self.origins:
            raise ValueError("anti-dumping and countervailing measures name their `origins`")
        if self.type is Role.VAT and (self.ad_valorem is None or self.specific or self.alternative):
            raise ValueError("VAT is `ad_valorem` only")
        return self


class LineRecord(Record):
    hs: Annotated[str, AfterValidator(_hs)]
    description: str | None = None
    measures: Annotated[list[MeasureRecord], Field(min_length=1)]


class GroupRecord(Record):
    id: Identifier
    kind: Literal["fta", "gsp"]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    countries: Annotated[list[Country], Field(min_length=1)]


class QuotaRecord(Record):
    id: Identifier
    description: str = ""
    volume: Annotated[Decimal, Field(gt=0, decimal_places=3)]
    unit: Unit
    valid_from: date
    valid_to: date

    @model_validator(mode="after")
    def _period(self) -> QuotaRecord:
        if self.valid_to < self.valid_from:
            raise ValueError("`valid_to` is before `valid_from`")
        return self


class TariffFile(Record):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    country: Country
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    rounding: Rounding = Rounding.HALF_UP
    places: Annotated[int, Field(ge=0, le=4)] = 0
    groups: list[GroupRecord] = []
    quotas: list[QuotaRecord] = []
    lines: Annotated[list[LineRecord], Field(min_length=1)]


@dataclass(frozen=True, slots=True)
class FileError:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class TariffFileError(ValueError):
    def __init__(self, errors: list[FileError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(error) for error in errors))


class _Loader(yaml.SafeLoader):
    """Safe YAML whose floats are Decimals read from their text."""


def _decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    text = str(loader.construct_scalar(node)).replace("_", "")
    try:
        return Decimal(text)
    except InvalidOperation:
        return loader.construct_yaml_float(node)


_Loader.add_constructor("tag:yaml.org,2002:float", _decimal)


def _field(location: tuple[str | int, ...]) -> str:
    out = ""
    for part in location:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


def _line(node: yaml.Node | None, location: tuple[str | int, ...]) -> int:
    """The 1-based line of the node at `location`, or of the deepest node on the way there."""
    if node is None:
        return 1
    for part in location:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            child = next((value for key, value in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1


def parse(text: str, *, file: str = "<tariff>") -> TariffFile:
    """Parse and validate a whole tariff file; every error names the file, line and field."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise TariffFileError(
            [FileError(file, (mark.line + 1) if mark else 1, "(file)", f"not YAML: {error.problem}")]
        ) from None
    try:
        parsed = TariffFile.model_validate(data)
    except ValidationError as error:
        raise TariffFileError(
            [
                FileError(file, _line(node, tuple(e["loc"])), _field(tuple(e["loc"])), field_message(e))
                for e in error.errors()
            ]
        ) from None
    problems = [
        FileError(file, _line(node, loc), _field(loc), message) for loc, message in _references(parsed)
    ]
    if problems:
        raise TariffFileError(problems)
    return parsed


def read(path: Path) -> TariffFile:
    return parse(path.read_text(encoding="utf-8"), file=str(path))


def _references(parsed: TariffFile) -> list[tuple[tuple[str | int, ...], str]]:
    """Rules across records: unique ids, known groups and quotas, one measure per slot at a time."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    groups = {group.id for group in parsed.groups}
    quotas = {quota.id for quota in parsed.quotas}
    named: list[tuple[str, list[str]]] = [
        ("groups", [group.id for group in parsed.groups]),
        ("quotas", [quota.id for quota in parsed.quotas]),
    ]
    for kind, names in named:
        for number, name in enumerate(names):
            if name in names[:number]:
                problems.append(((kind, number, "id"), f"{name!r} is given twice"))
    ids: set[str] = set()
    hs_seen: set[str] = set()
    for line_number, line in enumerate(parsed.lines):
        if line.hs in hs_seen:
            problems.append((("lines", line_number, "hs"), f"line {line.hs!r} is given twice"))
        hs_seen.add(line.hs)
        taken: list[MeasureRecord] = []
        for number, record in enumerate(line.measures):
            where: tuple[str | int, ...] = ("lines", line_number, "measures", number)
            if record.id in ids:
                problems.append(((*where, "id"), f"measure id {record.id!r} is given twice"))
            ids.add(record.id)
            if record.group and record.group not in groups:
                problems.append(((*where, "group"), f"no group {record.group!r} in `groups`"))
            if record.quota and record.quota not in quotas:
                problems.append(((*where, "quota"), f"no quota {record.quota!r} in `quotas`"))
            for other in taken:
                if _clash(record, other):
                    problems.append(
                        ((*where, "valid_from"), f"overlaps measure {other.id!r} of the same slot")
                    )
            taken.append(record)
    return problems


def _clash(a: MeasureRecord, b: MeasureRecord) -> bool:
    """Two measures of one line that would both fill the same slot for some origin on some day."""
    if (a.type, a.group, a.quota, a.exporter) != (b.type, b.group, b.quota, b.exporter):
        return False
    origins_meet = not a.origins or not b.origins or bool(set(a.origins) & set(b.origins))
    return origins_meet and _overlap(a, b)


def _overlap(a: MeasureRecord, b: MeasureRecord) -> bool:
    end_a, end_b = a.valid_to or date.max, b.valid_to or date.max
    return a.valid_from <= end_b and b.valid_from <= end_a


def to_tariff(parsed: TariffFile) -> Tariff:
    """The in-memory tariff the selection and assessment read."""
    lines: dict[str, list[Measure]] = {}
    for line in parsed.lines:
        prefix = "" if line.hs == "*" else line.hs
        lines[prefix] = [to_measure(record, prefix) for record in line.measures]
    return Tariff(
        name=parsed.name,
        currency=parsed.currency,
        rounding=parsed.rounding,
        places=parsed.places,
        groups={g.id: Group(g.id, g.kind, g.name, frozenset(g.countries)) for g in parsed.groups},
        quotas={
            q.id: Quota(q.id, q.volume, q.unit, q.valid_from, q.valid_to, q.description)
            for q in parsed.quotas
        },
        lines=lines,
    )


def to_measure(record: MeasureRecord, prefix: str) -> Measure:
    return Measure(
        id=record.id,
        role=record.type,
        hs=prefix,
        duty=record.duty(),
        valid_from=record.valid_from,
        valid_to=record.valid_to,
        origins=frozenset(record.origins),
        excluded_origins=frozenset(record.excluded_origins),
        group=record.group,
        exporter=record.exporter,
        quota=record.quota,
    )


def duty_record(duty: measures.Duty) -> dict[str, Any]:
    """A duty as the file writes it (for storage as JSON and for `show`)."""
    if isinstance(duty, measures.AdValorem):
        return {"ad_valorem": str(duty.percent)}
    if isinstance(duty, measures.Specific):
        return {"specific": {"amount": str(duty.amount), "unit": duty.unit}}
    if isinstance(duty, measures.Compound):
        return duty_record(duty.ad_valorem) | duty_record(duty.specific)
    alternative: dict[str, Any] = {
        "choose": str(duty.choose),
        "options": [duty_record(duty.first), duty_record(duty.second)],
    }
    if duty.minimum is not None:
        alternative["minimum"] = str(duty.minimum)
    if duty.maximum is not None:
        alternative["maximum"] = str(duty.maximum)
    return {"alternative": alternative}


def duty_from_record(data: dict[str, Any]) -> measures.Duty:
    return DutyRecord.model_validate(data).duty()


def duty_text(duty: measures.Duty, currency: str) -> str:
    """A duty as people write it: '8%', '8% + 300 KRW/l', 'higher of (8%; 500 KRW/kg), min 100 KRW'."""
    if isinstance(duty, measures.AdValorem):
        return f"{measures.number(duty.percent)}%"
    if isinstance(duty, measures.Specific):
        return f"{measures.number(duty.amount)} {currency}/{measures.SHORT.get(duty.unit, duty.unit)}"
    if isinstance(duty, measures.Compound):
        return f"{duty_text(duty.ad_valorem, currency)} + {duty_text(duty.specific, currency)}"
    text = f"{duty.choose} of ({duty_text(duty.first, currency)}; {duty_text(duty.second, currency)})"
    if duty.minimum is not None:
        text += f", min {measures.number(duty.minimum)} {currency}"
    if duty.maximum is not None:
        text += f", max {measures.number(duty.maximum)} {currency}"
    return text
