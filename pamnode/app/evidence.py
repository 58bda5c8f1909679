"""What `pamnode audit verify` checks on the node's machine: the audit trail's hash chain in
the database, and every recording in the data directory against its session's SHA-256."""

from dataclasses import dataclass

from pamnode.app.settings import Settings
from pamnode.audit.verify import ChainReport, verify_chain
from pamnode.db.engine import make_engine, make_sessionmaker
from pamnode.sessions.recording_check import RecordingReport, verify_recordings


@dataclass(frozen=True)
class Evidence:
    chain: ChainReport
    recordings: RecordingReport

    @property
    def intact(self) -> bool:
        return self.chain.broken is None and not self.recordings.problems


async def verify(settings: Settings) -> Evidence:
    engine = make_engine(settings.resolved_database_url, 1, 30.0)
    try:
        async with make_sessionmaker(engine)() as db:
            chain = await verify_chain(db)
            recordings = await verify_recordings(db, settings.data_dir / "recordings")
    finally:
        await engine.dispose()
    return Evidence(chain, recordings)
