"""UN/EDIFACT syntax over pydifact: an interchange read into messages whose segments keep their number,
and errors that name the segment (tag, number in the message, reason). Pure: no database.

pydifact tokenises and parses; this module adds what a customs gateway must check and pydifact leaves
to its caller: the envelope (UNB ... UNZ with the message count), each message's UNH/UNT pair (same
reference, UNT's segment count), a last segment that is terminated (a truncated interchange is refused,
not cut short silently), and one exception type for any failure of the parser on hostile input.
Segment numbers count as UNT counts them: UNH is segment 1 of its message. Segments outside a message
(UNA, UNB, UNZ) are numbered within the interchange.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydifact.control.characters import Characters
from pydifact.exceptions import MissingImplementationWarning
from pydifact.parser import Parser
from pydifact.segmentcollection import Interchange
from pydifact.segments import Segment

# pydifact warns on every segment that it has no directory to validate it against; the message modules
# here check what they read themselves.
warnings.filterwarnings("ignore", category=MissingImplementationWarning)
warnings.filterwarnings("ignore", category=SyntaxWarning, module=r"pydifact\.")

MEDIA_TYPE = "application/EDIFACT"
SYNTAX = ("UNOW", 4)  # what this gateway writes: UTF-8 (ISO 10646), syntax version 4
MAX_LENGTH = 5_000_000  # characters of one interchange


@dataclass(frozen=True, slots=True)
class SegmentError:
    """What is wrong, where: the segment's tag and number, and the document field it carries if any."""

    tag: str
    position: int
    reason: str
    message: str | None = None  # the message reference (UNH 0062), None outside a message
    pointer: str | None = None  # JSON pointer into the document the segment maps to

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tag": self.tag, "position": self.position, "reason": self.reason}
        if self.message is not None:
            out["message"] = self.message
        if self.pointer is not None:
            out["pointer"] = self.pointer
        return out

    def __str__(self) -> str:
        return f"segment {self.tag} (number {self.position}): {self.reason}"


class EdifactError(Exception):
    """One or more segment errors; nothing was read."""

    def __init__(self, errors: Sequence[SegmentError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = list(errors)


@dataclass(frozen=True, slots=True)
class Located:
    """A segment and its number in its message."""

    position: int
    segment: Segment

    @property
    def tag(self) -> str:
        return str(self.segment.tag)

    def value(self, element: int, component: int = 0) -> str:
        """Element `element` (0 is the first after the tag), component `component`; '' when absent."""
        elements = self.segment.elements
        if element >= len(elements):
            return ""
        item = elements[element]
        if isinstance(item, list):
            return str(item[component]) if component < len(item) and item[component] is not None else ""
        return str(item) if component == 0 and item is not None else ""

    def components(self, element: int) -> list[str]:
        elements = self.segment.elements
        if element >= len(elements):
            return []
        item = elements[element]
        return [str(part or "") for part in item] if isinstance(item, list) else [str(item or "")]

    def error(self, reason: str, message: str | None = None, pointer: str | None = None) -> SegmentError:
        return SegmentError(self.tag, self.position, reason, message, pointer)


@dataclass
class ParsedMessage:
    reference: str
    type: str  # e.g. CUSDEC
    version: str  # e.g. D:96B:UN
    segments: list[Located] = field(default_factory=list)  # between UNH and UNT, exclusive

    def fail(self, located: Located, reason: str, pointer: str | None = None) -> SegmentError:
        return located.error(reason, self.reference, pointer)


@dataclass
class ParsedInterchange:
    sender: str
    recipient: str
    control_reference: str
    messages: list[ParsedMessage]


_TAG = re.compile(r"[A-Z0-9]{3}")


def _raw_tags(text: str, characters: Characters) -> list[str]:
    """The tag of each raw segment (honouring the release character): only to name a segment that
    pydifact could not parse."""
    tags: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == characters.escape_character:
            escaped = True
        elif char == characters.segment_terminator:
            tags.append("".join(current).strip()[:3])
            current = []
        else:
            current.append(char)
    if "".join(current).strip():
        tags.append("".join(current).strip()[:3])
    return tags


def _segments(text: str) -> list[Segment]:
    """pydifact's segments, or an EdifactError naming the segment it failed on."""
    if len(text) > MAX_LENGTH:
        raise EdifactError([SegmentError("UNB", 1, f"the interchange exceeds {MAX_LENGTH} characters")])
    body = text.strip()
    if not body:
        raise EdifactError([SegmentError("UNB", 1, "the interchange is empty: expected UNB ... UNZ")])
    characters = Characters()  # type: ignore[no-untyped-call]  # pydifact leaves it unannotated
    if body.startswith("UNA"):
        try:
            characters = Characters.from_str(body[:9])
        except Exception as error:
            raise EdifactError([SegmentError("UNA", 1, f"not a service string advice: {error}")]) from None
    releases = len(body[:-1]) - len(body[:-1].rstrip(characters.escape_character))
    unterminated = body[-1] != characters.segment_terminator or releases % 2 == 1
    offset = 1 if body.startswith("UNA") else 0
    if unterminated:
        raw = _raw_tags(body[9:] if offset else body, characters)
        tag = (raw[-1] if raw else "") or "UNB"
        raise EdifactError(
            [
                SegmentError(
                    tag,
                    max(1, len(raw) + offset),
                    "the segment is not terminated: the interchange is cut short",
                )
            ]
        )
    parsed: list[Segment] = []
    try:
        for segment in Parser().parse(body):
            parsed.append(segment)
    except Exception as error:  # pydifact raises several types on hostile input; all mean "unreadable"
        index = len(parsed)  # UNA included, like `offset`
        raw = _raw_tags(body[9:] if offset else body, characters)
        tag = raw[index - offset] if 0 <= index - offset < len(raw) else "UNB"
        reason = str(error).removeprefix("EDIFACT Syntax Error: ") or type(error).__name__
        raise EdifactError([SegmentError(tag[:3] or "?", index + 1, f"cannot be read: {reason}")]) from None
    return parsed


def parse(text: str, expected: Sequence[str] = ()) -> ParsedInterchange:
    """The interchange's messages; `expected` limits the message types accepted."""
    segments = [segment for segment in _segments(text) if segment.tag != "UNA"]
    errors: list[SegmentError] = []
    for number, segment in enumerate(segments, start=1):
        if not isinstance(segment.tag, str) or not _TAG.fullmatch(segment.tag):
            raise EdifactError([SegmentError(str(segment.tag)[:3], number, "is not a segment tag")])
    if not segments:
        raise EdifactError([SegmentError("UNB", 1, "the interchange has no UNB after its UNA")])
    first = Located(1, segments[0])
    if first.tag != "UNB":
        raise EdifactError([first.error("the interchange must begin with UNB (after an optional UNA)")])
    last = Located(len(segments), segments[-1])
    if last.tag != "UNZ":
        raise EdifactError([last.error("the interchange must end with UNZ")])
    control = first.value(4)
    interchange = ParsedInterchange(first.value(1), first.value(2), control, [])
    if not control:
        errors.append(first.error("the interchange control reference (element 5) is missing"))
    current: ParsedMessage | None = None
    for number, segment in enumerate(segments[1:-1], start=2):
        if segment.tag == "UNH":
            located = Located(1, segment)
            if current is not None:
                errors.append(located.error("a message begins before the previous one ended with UNT"))
            identifier = located.components(1)
            current = ParsedMessage(
                located.value(0), identifier[0] if identifier else "", ":".join(identifier[1:])
            )
            if not current.reference or not current.type:
                errors.append(located.error("expected UNH+reference+TYPE:D:96B:UN"))
            elif expected and current.type not in expected:
                errors.append(
                    located.error(
                        f"message type {current.type!r} is not accepted here: {', '.join(expected)}"
                    )
                )
        elif current is None:
            errors.append(
                Located(number, segment).error("segment outside a message (before UNH or after UNT)")
            )
        elif segment.tag == "UNT":
            located = Located(len(current.segments) + 2, segment)
            if located.value(0) != str(located.position):
                errors.append(
                    located.error(
                        f"UNT counts {located.value(0) or 'nothing'} segments; "
                        f"the message has {located.position}",
                        current.reference,
                    )
                )
            if located.value(1) != current.reference:
                errors.append(
                    located.error(f"UNT reference {located.value(1)!r} is not UNH's {current.reference!r}")
                )
            interchange.messages.append(current)
            current = None
        else:
            current.segments.append(Located(len(current.segments) + 2, segment))
    if current is not None:
        errors.append(last.error(f"message {current.reference} has no UNT"))
    if not interchange.messages and not errors:
        errors.append(last.error("the interchange holds no message"))
    if last.value(0) != str(len(interchange.messages)):
        errors.append(
            last.error(f"UNZ counts {last.value(0)!r} messages; there are {len(interchange.messages)}")
        )
    if last.value(1) != control:
        errors.append(last.error(f"UNZ reference {last.value(1)!r} is not UNB's {control!r}"))
    if errors:
        raise EdifactError(errors)
    return interchange


def serialize(
    messages: Sequence[tuple[str, Sequence[str], Sequence[Segment]]],
    *,
    sender: str,
    recipient: str,
    control_reference: str,
    at: datetime,
) -> str:
    """An interchange (with UNA) of messages given as (reference, identifier, body segments)."""
    interchange = Interchange(
        sender,
        recipient,
        control_reference,
        SYNTAX,
        timestamp=at,
        characters=Characters(decimal_point="."),  # type: ignore[no-untyped-call]
    )
    interchange.has_una_segment = True
    for reference, identifier, body in messages:
        interchange.add_segment(Segment("UNH", reference, list(identifier)))
        for segment in body:
            interchange.add_segment(segment)
        interchange.add_segment(Segment("UNT", str(len(body) + 2), reference))
    return interchange.serialize()


def chunks(text: str, size: int) -> list[str]:
    """Text cut into pieces of at most `size` characters (EDIFACT text components are short)."""
    return [text[start : start + size] for start in range(0, len(text), size)] or [""]
