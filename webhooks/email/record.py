"""From a mail read by the worker (mime.Digest) to the message the inbox records: the
files kept in the media store, inline images pointed at the stored copies."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from inbox.domain.channels import Attachment, InboundMessage
from inbox.storage.media import MediaRejected, MediaStore
from webhooks.email import KIND
from webhooks.email.mime import Digest, File


async def store_files(media: MediaStore, files: list[File]) -> list[Attachment]:
    """Keep each attachment and inline image in the media store (off the event loop); a file
    the store refuses stays listed with the reason."""
    attachments: list[Attachment] = []
    for item in files:
        try:
            path, checked = await asyncio.to_thread(media.save, item.content, item.content_type)
        except MediaRejected as exc:
            attachments.append(Attachment(content_type=item.content_type, size=len(item.content),
                                          filename=item.filename, kind=_kind(item.content_type), error=str(exc)))
            continue
        attachments.append(Attachment(content_type=checked, path=path, size=len(item.content),
                                      filename=item.filename, kind=_kind(checked)))
    return attachments


def _kind(content_type: str) -> str:
    major = content_type.split("/")[0]
    return major if major in ("image", "video", "audio") else "document"


async def to_inbound(inbox_id: int, mail: Digest, raw: bytes, media: MediaStore,
                     null_sender: bool = False) -> InboundMessage:
    """The message to record: files stored, inline images pointed at the stored copies.
    ``null_sender``: it came with MAIL FROM:<> (a mail system's), so it is automatic."""
    files = list(mail.files)
    if mail.keep_original:
        files.append(File(raw, "application/octet-stream", "original.eml"))
    attachments = await store_files(media, files)
    markup = mail.html
    for placeholder, index in mail.inline.items():
        if markup is not None:
            path = attachments[index].path
            markup = markup.replace(placeholder, f"/media/{path}" if path else "about:blank")
    payload: dict[str, Any] = {"subject": mail.subject, "message_id": mail.message_id, "references": mail.references}
    if markup:
        payload["html"] = markup
    if mail.quoted:
        payload["quoted"] = mail.quoted
    automatic = mail.auto_submitted or null_sender
    if automatic:
        payload["auto_submitted"] = True
    if mail.note:
        payload["note"] = mail.note
    return InboundMessage(
        inbox_id=inbox_id, kind=KIND, handle=mail.address, email=mail.address,
        profile_name=mail.name, provider_message_id=mail.message_id, text=mail.text,
        timestamp=mail.timestamp or datetime.now(timezone.utc), attachments=tuple(attachments), payload=payload,
        thread_refs=tuple(mail.thread_refs), automatic=automatic, no_auto_reply=mail.no_auto_reply)
