"""Labels: the admin's list, the labels of a page of conversations in one read, and
finding labels by id or name (what the API and the search accept).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, func, select

from inbox.domain.records import Label, LabelRef
from inbox.domain.serialize import label_dict, label_ref
from inbox.domain.tables import CONVERSATION_LABELS, LABELS


def by_name(label: LabelRef | Label) -> tuple[str, str]:
    """The order labels are shown in everywhere: by name, ignoring case."""
    return (label["name"].casefold(), label["name"])


def list_labels(conn: Connection) -> list[Label]:
    return sorted((label_dict(r) for r in conn.execute(select(LABELS))), key=by_name)


def get_label(conn: Connection, label_id: int) -> Label | None:
    row = conn.execute(select(LABELS).where(LABELS.c.id == label_id)).first()
    return label_dict(row) if row is not None else None


def label_uses(conn: Connection) -> dict[int, int]:
    """How many conversations carry each label (a label on none is left out)."""
    rows = conn.execute(select(CONVERSATION_LABELS.c.label_id, func.count()).group_by(CONVERSATION_LABELS.c.label_id))
    return {r[0]: r[1] for r in rows}


def labels_of(conn: Connection, conversation_ids: Iterable[int]) -> dict[int, list[LabelRef]]:
    """Each conversation's labels, sorted by name: one read for a whole page (every
    conversation asked for is a key, with [] when it has none)."""
    ids = list(dict.fromkeys(conversation_ids))
    out: dict[int, list[LabelRef]] = {cid: [] for cid in ids}
    if not ids:
        return out
    rows = conn.execute(select(CONVERSATION_LABELS.c.conversation_id, LABELS.c.id, LABELS.c.name, LABELS.c.colour)
                        .join(LABELS, LABELS.c.id == CONVERSATION_LABELS.c.label_id)
                        .where(CONVERSATION_LABELS.c.conversation_id.in_(ids)))
    for row in rows:
        out[row.conversation_id].append(label_ref(dict(row._mapping)))
    for labels in out.values():
        labels.sort(key=by_name)
    return out


def find_labels(conn: Connection, refs: Sequence[int | str], *,
                ids: bool = True) -> tuple[list[LabelRef], list[int | str]]:
    """(the labels found, the references that name none). A reference is an id (an int,
    or a string of digits that is a label's id, unless ``ids`` is False) or a name,
    ignoring case. Labels are few (an admin defines them): all are read."""
    found: dict[int, LabelRef] = {}
    unknown: list[int | str] = []
    if not refs:
        return [], []
    rows = conn.execute(select(LABELS.c.id, LABELS.c.name, LABELS.c.colour))
    everything = {r.id: label_ref(dict(r._mapping)) for r in rows}
    names = {label["name"].casefold(): label for label in everything.values()}
    for ref in refs:
        label = None
        if isinstance(ref, int):
            label = everything.get(ref)
        else:
            text = ref.strip()
            if ids and text.isdecimal() and text.isascii():
                label = everything.get(int(text))
            label = label or names.get(text.casefold())
        if label is None:
            unknown.append(ref)
        else:
            found[label["id"]] = label
    return sorted(found.values(), key=by_name), unknown
