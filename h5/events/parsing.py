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
    return data


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
    return _element_fields(root)


def _element_fields(element: Element) -> dict[str, Any]:
    """Map each child tag to its trimmed text, or to a dict when it has children.

    Weixin's samples put spaces around CDATA sections, so text is trimmed. A tag that
    repeats becomes a list of its values.
    """
    fields: dict[str, Any] = {}
    for child in element:
        value: Any = _element_fields(child) if len(child) else (child.text or "").strip()
        if child.tag not in fields:
            fields[child.tag] = value
        elif isinstance(fields[child.tag], list):
            fields[child.tag].append(value)
        else:
            fields[child.tag] = [fields[child.tag], value]
    return fields
