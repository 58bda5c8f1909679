import pytest

from tests.support.postgres import PostgresCluster

pytestmark = pytest.mark.postgres


def test_cluster_creates_database_and_runs_sql(postgres_cluster: PostgresCluster) -> None:
    name = postgres_cluster.unique_name("support_smoke")
    url = postgres_cluster.create_database(name)

    assert url == f"postgresql+asyncpg://postgres@127.0.0.1:{postgres_cluster.port}/{name}"
    assert postgres_cluster.sql(name, "select 1") == [(1,)]
    assert postgres_cluster.sql(name, "select current_database()") == [(name,)]
