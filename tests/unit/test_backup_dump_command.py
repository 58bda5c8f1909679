"""The pg_dump command `pamnode backup` prints for a node on PostgreSQL."""

from pamnode.app.backup import pg_dump_command
from pamnode.app.settings import Settings


def test_the_dump_command_names_the_database_in_libpq_terms_without_its_password():
    url = "postgresql+asyncpg://pam:S3cret-pw@db.example:5433/pam nodes"
    assert pg_dump_command(Settings(database_url=url)) == (
        "pg_dump --format=custom --file pamnode.dump 'postgresql://pam@db.example:5433/pam nodes'"
    )
