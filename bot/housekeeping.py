"""Housekeeping: the hourly sweep (and `privacybot purge`) over drafts,
downloads, ID proofs, orphans and the customers to forget.

It sits above the conversation and the requests because it asks both: the
engine for stale drafts, the retention rules for everything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.conversation.engine import Engine
from bot.requests.retention import (
    drop_old_compliance_records,
    forget_deleted_customers,
    purge_expired_downloads,
    purge_id_proofs,
    purge_orphans,
)
from bot.services import Services
from bot.staff.chats import purge_chat_files


@dataclass(frozen=True)
class PurgeReport:
    drafts: int
    id_proofs: int
    orphans: int = 0
    forgotten: int = 0
    chat_files: int = 0


HOUSEKEEPING_LEASE = "housekeeping"


async def purge_in_turn(
    services: Services, engine: Engine, instance: str, every: timedelta
) -> PurgeReport | None:
    """The hourly round, by one of the instances serving the database: the
    one that holds the housekeeping lease (taken for ``every``, renewed by
    its holder each round, passed on when a holder stops renewing it).
    None when another instance has it."""
    if not await services.hold_lease(HOUSEKEEPING_LEASE, instance, every):
        return None
    return await purge(services, engine)


async def purge(services: Services, engine: Engine) -> PurgeReport:
    """One round of housekeeping: what retention and forgetting allow to go, goes."""
    drafts = await engine.discard_stale_drafts()
    await purge_expired_downloads(services)
    await drop_old_compliance_records(services)
    async with services.store.transaction() as tx:  # the per-mailbox code limit looks back 1 h
        await tx.drop_code_mails(services.clock() - timedelta(days=1))
    return PurgeReport(
        drafts=drafts,
        id_proofs=await purge_id_proofs(services),
        orphans=await purge_orphans(services),
        forgotten=await forget_deleted_customers(services),
        chat_files=await purge_chat_files(services),
    )
