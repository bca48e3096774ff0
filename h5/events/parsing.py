"""Read a push body, XML or JSON, into a dict of Weixin's field names.

XML goes through defusedxml with DTDs, entities and external references forbidden, and
any ``<!DOCTYPE`` or ``<!ENTITY`` is rejected before the parser starts. So no entity is
ever expanded and no file or URL named in a body is ever read.
"""

from __future__ import annotations

import json
import re
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)

# Weixin's pushes nest two or three levels deep. A cap well above that stops a body of
# thousands of nested elements from exhausting the recursion that reads it.
MAX_DEPTH = 16


class PushFormatError(ValueError):
    """A push body that is not a well-formed XML or JSON message, or that declares a DTD or entity."""


def parse_message(body: bytes) -> dict[str, Any]:
    """Return the fields of an XML ``<xml>…</xml>`` or JSON object push body."""
    stripped = body.strip()
    if not stripped:
        raise PushFormatError("the body is empty; expected an XML or JSON message")
    if stripped.startswith(b"{"):
        return _parse_json(stripped)
    return _parse_xml(stripped)


def _parse_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PushFormatError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PushFormatError("the JSON body must be an object")
    _check_depth(data, 1)
    return data


def _check_depth(value: Any, depth: int) -> None:
    """Raise ``PushFormatError`` when JSON ``value`` nests deeper than ``MAX_DEPTH``."""
    if depth > MAX_DEPTH:
        raise PushFormatError(f"the body is nested more than {MAX_DEPTH} levels deep; pushes are shallow")
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for child in value:
            _check_depth(child, depth + 1)


def _parse_xml(body: bytes) -> dict[str, Any]:
    # Reject declarations before parsing, so even a parser bug cannot expand or fetch them.
    if _DECLARATION.search(body):
        raise PushFormatError("the XML declares a DTD or entity, which pushes never contain")
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise PushFormatError(f"the XML is forbidden: {exc}") from None
    except ParseError as exc:
        raise PushFormatError(f"the body is not well-formed XML: {exc}") from None
    return _element_fields(root, 1)


def _element_fields(element: Element, depth: int) -> dict[str, Any]:
    """Map each child tag to its trimmed text, or to a dict when it has children.

    Weixin's samples put spaces around CDATA sections, so text is trimmed. A tag that
    repeats becomes a list of its values.
    """
    if depth > MAX_DEPTH:
        raise PushFormatError(f"the XML is nested more than {MAX_DEPTH} levels deep; pushes are shallow")
    fields: dict[str, Any] = {}
    for child in element:
        value: Any = _element_fields(child, depth + 1) if len(child) else (child.text or "").strip()
        if child.tag not in fields:
            fields[child.tag] = value
        elif isinstance(fields[child.tag], list):
            fields[child.tag].append(value)
        else:
            fields[child.tag] = [fields[child.tag], value]
    return fields
