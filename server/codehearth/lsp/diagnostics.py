"""Review findings as LSP diagnostics, and quick fixes built back from them.

A diagnostic covers whole lines (first line's start to last line's end) and carries, in
its ``data``, the replacement and the text it replaces. Clients send diagnostics back in
codeAction requests (data included, LSP 3.16), so a quick fix needs no server state; and
the fix is offered only while the document still holds the original text there, so an
edit since the review never gets clobbered.
"""

from __future__ import annotations

from lsprotocol import types

from ..assist.review import PlacedFinding
from ..context.documents import DocumentSnapshot

SOURCE = "codehearth"
FIX_TITLE = "codehearth: apply suggested fix"

SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def line_span(snap: DocumentSnapshot, first: int, last: int) -> tuple[types.Range, str]:
    """The range covering lines first..last (0-based, inclusive) and the text there."""
    end_text = snap.line_text(last)
    rng = types.Range(
        start=types.Position(line=first, character=0),
        end=types.Position(line=last, character=utf16_len(end_text)),
    )
    text = "\n".join(snap.line_text(i) for i in range(first, last + 1))
    return rng, text


def to_diagnostic(placed: PlacedFinding, snap: DocumentSnapshot) -> types.Diagnostic | None:
    """A diagnostic for a finding in snap; None when its lines are not in the document, or
    no longer hold what was reviewed (edited meanwhile: the line numbers may be off)."""
    if not 0 <= placed.first <= placed.last < snap.line_count:
        return None
    rng, original = line_span(snap, placed.first, placed.last)
    if original != placed.seen:
        return None
    data: dict[str, object] = {"version": snap.version}
    if placed.replacement is not None and placed.replacement != original:
        data.update(replacement=placed.replacement, original=original)
    return types.Diagnostic(
        range=rng,
        message=placed.finding.message,
        severity=SEVERITY[placed.finding.severity],
        source=SOURCE,
        code="review",
        data=data,
    )


def _field(data: object, name: str) -> object:
    if isinstance(data, dict):
        return data.get(name)
    return getattr(data, name, None)


def quick_fix(
    uri: str, snap: DocumentSnapshot, diagnostic: types.Diagnostic
) -> types.CodeAction | None:
    """The fix a codehearth diagnostic suggests, if it still applies to the document."""
    if diagnostic.source != SOURCE:
        return None
    replacement = _field(diagnostic.data, "replacement")
    original = _field(diagnostic.data, "original")
    if not isinstance(replacement, str) or not isinstance(original, str):
        return None
    first, last = diagnostic.range.start.line, diagnostic.range.end.line
    if not 0 <= first <= last < snap.line_count:
        return None
    rng, current = line_span(snap, first, last)
    if current != original:
        return None  # edited since the review: the fix would clobber the edit
    edit = types.WorkspaceEdit(changes={uri: [types.TextEdit(range=rng, new_text=replacement)]})
    return types.CodeAction(
        title=FIX_TITLE,
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[diagnostic],
        edit=edit,
        is_preferred=True,
    )


def ranges_overlap(a: types.Range, b: types.Range) -> bool:
    a_start, a_end = (a.start.line, a.start.character), (a.end.line, a.end.character)
    b_start, b_end = (b.start.line, b.start.character), (b.end.line, b.end.character)
    return a_start <= b_end and b_start <= a_end
