"""GraphiQL's npm files: pinned, verified before unpacking, extracted safely (no network)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from graphiql.assets import (
    DEFAULT_REGISTRY,
    STAMP_NAME,
    AssetError,
    NpmPackage,
    download,
    fetch,
    is_current,
    load_manifest,
    tarball_url,
)
from graphiql.page import VENDOR_SCRIPTS, VENDOR_STYLESHEETS

INDEX_JS = b"console.log('demo');\n"


def tarball(members: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    """A gzipped tar like npm's, with the given regular files and symbolic links."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def demo_package(data: bytes, *, files: tuple[str, ...] = ("index.js",)) -> NpmPackage:
    return NpmPackage(
        name="demo",
        version="1.0.0",
        tarball=f"{DEFAULT_REGISTRY}demo/-/demo-1.0.0.tgz",
        integrity=integrity_of(data),
        files=files,
    )


def serving(data: bytes) -> tuple[list[str], Callable[[str], bytes]]:
    """A stand-in for the registry that records the URLs asked for."""
    asked: list[str] = []

    def get(url: str) -> bytes:
        asked.append(url)
        return data

    return asked, get


def test_fetch_extracts_only_the_listed_files_and_stamps(tmp_path: Path) -> None:
    data = tarball({"package/index.js": INDEX_JS, "package/other.js": b"x", "package/README": b""})
    package = demo_package(data)
    dest = tmp_path / "assets"
    asked, get = serving(data)

    assert fetch([package], dest=dest, get=get) is True

    assert asked == [package.tarball]
    assert (dest / "demo@1.0.0" / "index.js").read_bytes() == INDEX_JS
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert files == [STAMP_NAME, "demo@1.0.0/index.js"]
    assert is_current(dest, packages=[package])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["assets"]  # no staging left behind


def test_a_second_fetch_is_a_no_op(tmp_path: Path) -> None:
    data = tarball({"package/index.js": INDEX_JS})
    package = demo_package(data)
    _, get = serving(data)
    fetch([package], dest=tmp_path, get=get)

    def no_network(url: str) -> bytes:
        raise AssertionError(f"downloaded {url} again")

    assert fetch([package], dest=tmp_path, get=no_network) is False


def test_a_changed_manifest_or_a_missing_file_fetches_again(tmp_path: Path) -> None:
    data = tarball({"package/index.js": INDEX_JS, "package/style.css": b"a{}"})
    package = demo_package(data)
    _, get = serving(data)
    fetch([package], dest=tmp_path, get=get)

    more = demo_package(data, files=("index.js", "style.css"))
    assert not is_current(tmp_path, packages=[more])
    assert fetch([more], dest=tmp_path, get=get) is True
    (tmp_path / "demo@1.0.0" / "style.css").unlink()
    assert not is_current(tmp_path, packages=[more])


def test_a_tampered_tarball_is_refused_before_anything_is_extracted(tmp_path: Path) -> None:
    genuine = tarball({"package/index.js": INDEX_JS})
    tampered = tarball({"package/index.js": b"alert('owned');\n"})
    package = demo_package(genuine)
    _, get = serving(tampered)
    dest = tmp_path / "assets"

    with pytest.raises(AssetError, match=r"integrity mismatch.*nothing was installed"):
        fetch([package], dest=dest, get=get)

    assert list(tmp_path.iterdir()) == []


def test_one_bad_tarball_installs_none_of_them(tmp_path: Path) -> None:
    good = tarball({"package/index.js": INDEX_JS})
    other = NpmPackage(
        name="other",
        version="2.0.0",
        tarball=f"{DEFAULT_REGISTRY}other/-/other-2.0.0.tgz",
        integrity=integrity_of(b"what was pinned"),
        files=("a.js",),
    )

    def get(url: str) -> bytes:
        return good if "demo" in url else b"not what was pinned"

    with pytest.raises(AssetError, match=r"other@2\.0\.0: integrity mismatch"):
        fetch([demo_package(good), other], dest=tmp_path / "assets", get=get)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "member",
    ["package/../../evil.js", "/etc/evil.js", "package/..\\..\\evil.js", "../index.js"],
)
def test_path_traversal_entries_refuse_the_tarball(tmp_path: Path, member: str) -> None:
    data = tarball({"package/index.js": INDEX_JS, member: b"evil"})
    dest = tmp_path / "dest" / "assets"
    _, get = serving(data)

    with pytest.raises(AssetError, match="unsafe path"):
        fetch([demo_package(data)], dest=dest, get=get)

    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == []


def test_a_listed_file_that_is_a_link_is_refused(tmp_path: Path) -> None:
    data = tarball({}, symlinks={"package/index.js": "/etc/passwd"})
    _, get = serving(data)
    with pytest.raises(AssetError, match="not a single regular file"):
        fetch([demo_package(data)], dest=tmp_path / "assets", get=get)
    assert list(tmp_path.iterdir()) == []


def test_a_listed_file_missing_from_the_tarball_is_refused(tmp_path: Path) -> None:
    data = tarball({"package/other.js": b""})
    _, get = serving(data)
    with pytest.raises(AssetError, match=r"tarball lacks index\.js"):
        fetch([demo_package(data)], dest=tmp_path / "assets", get=get)


def test_a_directory_it_did_not_make_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    data = tarball({"package/index.js": INDEX_JS})
    _, get = serving(data)
    with pytest.raises(AssetError, match="choose another --dest"):
        fetch([demo_package(data)], dest=tmp_path, get=get)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_the_manifest_pins_exact_versions_and_sha512_integrity() -> None:
    packages = {package.name: package for package in load_manifest()}

    versions = {name: package.version for name, package in packages.items()}
    assert versions == {
        "react": "18.2.0",
        "react-dom": "18.2.0",
        "graphiql": "3.8.3",
        "@graphiql/plugin-explorer": "1.0.2",
    }
    for name, package in packages.items():
        assert package.integrity.startswith("sha512-")
        assert len(base64.b64decode(package.integrity.removeprefix("sha512-"))) == 64
        basename = name.rsplit("/", 1)[-1]
        assert package.tarball == f"{DEFAULT_REGISTRY}{name}/-/{basename}-{package.version}.tgz"


def test_every_file_the_page_loads_is_in_the_manifest() -> None:
    listed = {(package.name, file) for package in load_manifest() for file in package.files}
    assert set(VENDOR_SCRIPTS) | set(VENDOR_STYLESHEETS) <= listed


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": "^3.8.3"}, "not an exact"),
        ({"integrity": "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk="}, "not a sha512"),
        ({"tarball": "https://example.test/graphiql-3.8.3.tgz"}, "is not 3.8.3 on"),
        ({"files": ["../../etc/passwd"]}, "unsafe path"),
        ({"files": []}, "no files listed"),
    ],
)
def test_a_loose_or_unsafe_manifest_is_refused(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    entry: dict[str, object] = {
        "name": "graphiql",
        "version": "3.8.3",
        "tarball": f"{DEFAULT_REGISTRY}graphiql/-/graphiql-3.8.3.tgz",
        "integrity": integrity_of(b"x"),
        "files": ["graphiql.min.js"],
    }
    manifest = tmp_path / "assets.lock.json"
    manifest.write_text(json.dumps({"packages": [{**entry, **change}]}))
    with pytest.raises(AssetError, match=message):
        load_manifest(manifest)


def test_a_mirror_serves_the_same_tarball_path() -> None:
    package = demo_package(b"")
    mirror = tarball_url(package, registry="http://127.0.0.1:4873/npm/")
    assert mirror == "http://127.0.0.1:4873/npm/demo/-/demo-1.0.0.tgz"
    assert tarball_url(package, registry=DEFAULT_REGISTRY) == package.tarball


def test_only_http_urls_are_downloaded() -> None:
    with pytest.raises(AssetError, match="not an http"):
        download("file:///etc/passwd")
