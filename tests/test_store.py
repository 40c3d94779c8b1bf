import boto3
import pytest

from tests.services import moto_server
from worker.io.store import LocalStore, S3Store, Store, open_store

pytestmark = [pytest.mark.services]


@pytest.fixture(scope="module")
def s3(request):
    with moto_server() as url:
        mp = pytest.MonkeyPatch()
        for k, v in {
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_S3": url,
        }.items():
            mp.setenv(k, v)
        boto3.client("s3", endpoint_url=url).create_bucket(Bucket="docs")
        yield url
        mp.undo()


def _round_trip(store, tmp_path):
    assert isinstance(store, Store)  # the interface the pipeline, the registry and the web app ask for
    src = tmp_path / "in.bin"
    src.write_bytes(b"scan bytes")
    store.put_file("incoming/a.pdf", src)
    store.put_bytes("pages/doc1/0001.png", b"png")
    assert store.exists("incoming/a.pdf") and not store.exists("incoming/nope.pdf")
    assert store.get_bytes("pages/doc1/0001.png") == b"png"
    assert sorted(store.list("incoming/")) == ["incoming/a.pdf"]
    assert sorted(store.list()) == ["incoming/a.pdf", "pages/doc1/0001.png"]
    with store.local_copy("incoming/a.pdf") as p:
        assert p.read_bytes() == b"scan bytes"
    with pytest.raises(FileNotFoundError):
        store.get_bytes("missing")
    store.delete("pages/doc1/0001.png")
    assert not store.exists("pages/doc1/0001.png")
    store.delete("pages/doc1/0001.png")  # deleting what is gone is not an error
    assert not isinstance(object(), Store)


def test_local_store(tmp_path):
    store = open_store(f"file://{tmp_path / 'store'}")
    assert isinstance(store, LocalStore)
    _round_trip(store, tmp_path)
    with pytest.raises(ValueError):
        store.put_bytes("../escape", b"x")


def test_s3_store_through_boto3_against_a_local_server(s3, tmp_path):
    store = open_store("s3://docs/archive")
    assert isinstance(store, S3Store) and store.url == "s3://docs/archive"
    _round_trip(store, tmp_path)
    # The prefix is applied on the bucket side.
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=s3).list_objects_v2(Bucket="docs")["Contents"]]
    assert "archive/incoming/a.pdf" in keys


def test_bad_store_urls():
    with pytest.raises(ValueError):
        open_store("ftp://x/y")
    with pytest.raises(ValueError):
        open_store("s3:///nobucket")
