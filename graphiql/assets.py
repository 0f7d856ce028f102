"""GraphiQL's third-party files: fetched at install time, pinned and integrity-checked.

`python -m graphiql.assets fetch [--dest DIR] [--registry URL]` downloads each npm tarball named
in `assets.lock.json` with the standard library alone (no node or npm), refuses it unless its
sha512 matches the pinned `dist.integrity`, and only then extracts the listed files. A stamp
that names the manifest makes a second run a no-op.

The files go into the Python environment that serves them (`<sys.prefix>/share/taskql-graphiql`,
that is `.venv/share/taskql-graphiql` for `make`): git-ignored with `.venv`, removed with it by
`make clean`, fetched again whenever the environment is rebuilt, and found by the server without
any configuration because it runs on that same interpreter.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MANIFEST_PATH = Path(__file__).with_name("assets.lock.json")
DEFAULT_REGISTRY = "https://registry.npmjs.org/"
STAMP_NAME = ".stamp"
# graphiql's tarball is about 3.7 MB; anything far larger is not what we pinned.
MAX_TARBALL_BYTES = 64 * 1024 * 1024
DOWNLOAD_ATTEMPTS = 3
DOWNLOAD_TIMEOUT_SECONDS = 60.0
FETCH_COMMAND = "python -m graphiql.assets fetch"

_EXACT_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_SHA512_BYTES = 64


class AssetError(Exception):
    """The manifest, a download or a tarball is not what we pinned: nothing is installed."""


@dataclass(frozen=True)
class NpmPackage:
    """One pinned npm tarball and the files we take from it."""

    name: str
    version: str
    tarball: str
    integrity: str
    files: tuple[str, ...]

    @property
    def folder(self) -> str:
        """Where its files live under the destination; also their URL path (versioned)."""
        return f"{self.name}@{self.version}"


def default_destination() -> Path:
    return Path(sys.prefix) / "share" / "taskql-graphiql"


def load_manifest(path: Path = MANIFEST_PATH) -> tuple[NpmPackage, ...]:
    """The pinned packages, refused unless every entry is exact and safe to extract."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    packages = tuple(_package_from_json(entry) for entry in raw["packages"])
    if len({package.name for package in packages}) != len(packages):
        raise AssetError(f"{path.name}: a package is listed twice")
    return packages


def _package_from_json(entry: dict[str, object]) -> NpmPackage:
    name, version = str(entry["name"]), str(entry["version"])
    tarball, integrity = str(entry["tarball"]), str(entry["integrity"])
    files = entry["files"]
    if not isinstance(files, list) or not files:
        raise AssetError(f"{name}: no files listed")
    if not _EXACT_VERSION.match(version):
        raise AssetError(f"{name}: version {version!r} is not an exact x.y.z pin")
    if not (tarball.startswith(DEFAULT_REGISTRY) and tarball.endswith(f"-{version}.tgz")):
        raise AssetError(f"{name}: tarball {tarball!r} is not {version} on {DEFAULT_REGISTRY}")
    _sha512_digest(integrity)
    for file in files:
        safe_relative_path(str(file))
    return NpmPackage(name, version, tarball, integrity, tuple(str(file) for file in files))


def _sha512_digest(integrity: str) -> bytes:
    """The digest of an SRI string such as npm's `dist.integrity`; only sha512 is accepted."""
    algorithm, _, encoded = integrity.partition("-")
    try:
        digest = base64.b64decode(encoded, validate=True)
    except ValueError as error:
        raise AssetError(f"integrity {integrity!r} is not base64") from error
    if algorithm != "sha512" or len(digest) != _SHA512_BYTES:
        raise AssetError(f"integrity {integrity!r} is not a sha512 digest")
    return digest


def safe_relative_path(name: str) -> PurePosixPath:
    """`name` as a path that stays inside the folder it is joined to, or AssetError."""
    path = PurePosixPath(name)
    if not name or "\\" in name or path.is_absolute() or ".." in path.parts:
        raise AssetError(f"unsafe path {name!r}")
    return path


def verify_integrity(data: bytes, *, integrity: str) -> None:
    """Refuse `data` unless its sha512 is the pinned one (checked before anything is unpacked)."""
    expected = _sha512_digest(integrity)
    actual = hashlib.sha512(data).digest()
    if not hmac.compare_digest(actual, expected):
        got = "sha512-" + base64.b64encode(actual).decode()
        raise AssetError(f"integrity mismatch: expected {integrity}, got {got}")


def extract_files(data: bytes, *, package: NpmPackage, into: Path) -> None:
    """Write the listed files of a verified tarball under `into`/<name>@<version>/.

    npm tarballs hold one top folder (`package/`); a member whose path could leave it refuses the
    whole tarball, and only regular files that the manifest names are ever written.
    """
    wanted = {PurePosixPath(file): file for file in package.files}
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            relative = PurePosixPath(*safe_relative_path(member.name).parts[1:])
            if relative not in wanted:
                continue
            file = wanted[relative]
            if not member.isfile() or file in found:
                raise AssetError(f"{package.folder}: {file} is not a single regular file")
            reader = archive.extractfile(member)
            if reader is None:
                raise AssetError(f"{package.folder}: {file} cannot be read")
            found[file] = reader.read()
    missing = sorted(set(package.files) - set(found))
    if missing:
        raise AssetError(f"{package.folder}: tarball lacks {', '.join(missing)}")
    for file, content in found.items():
        target = into / package.folder / safe_relative_path(file)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def manifest_digest(packages: Sequence[NpmPackage]) -> str:
    """What the stamp records: changes with any pin or file list, not with the prose."""
    pins = [[p.name, p.version, p.integrity, sorted(p.files)] for p in packages]
    return hashlib.sha256(json.dumps(pins, sort_keys=True).encode()).hexdigest()


def is_current(dest: Path, *, packages: Sequence[NpmPackage]) -> bool:
    """Whether `dest` holds every listed file, fetched for exactly this manifest."""
    stamp = dest / STAMP_NAME
    if not stamp.is_file() or stamp.read_text(encoding="utf-8").strip() != manifest_digest(
        packages
    ):
        return False
    return all((dest / p.folder / file).is_file() for p in packages for file in p.files)


def tarball_url(package: NpmPackage, *, registry: str) -> str:
    """The pinned tarball on `registry` (a mirror serves the same path; integrity guards it)."""
    return registry.rstrip("/") + "/" + package.tarball.removeprefix(DEFAULT_REGISTRY)


def download(url: str) -> bytes:
    """The body at `url`, retried on network errors, refused above MAX_TARBALL_BYTES."""
    if not url.startswith(("https://", "http://")):
        raise AssetError(f"refusing to download {url!r}: not an http(s) URL")
    # The scheme is checked above (S310); proxies come from the usual *_proxy variables.
    request = urllib.request.Request(url, headers={"User-Agent": "taskql-graphiql-assets"})  # noqa: S310
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_SECONDS) as reply:  # noqa: S310
                body: bytes = reply.read(MAX_TARBALL_BYTES + 1)
        except urllib.error.HTTPError as error:
            raise AssetError(f"{url}: HTTP {error.code}") from error
        except (urllib.error.URLError, OSError) as error:
            if attempt == DOWNLOAD_ATTEMPTS:
                raise AssetError(f"{url}: {error}") from error
            time.sleep(attempt)
            continue
        if len(body) > MAX_TARBALL_BYTES:
            raise AssetError(f"{url}: larger than {MAX_TARBALL_BYTES} bytes")
        return body
    raise AssetError(f"{url}: not downloaded")  # unreachable: the loop returns or raises


def fetch(
    packages: Sequence[NpmPackage],
    *,
    dest: Path,
    registry: str = DEFAULT_REGISTRY,
    get: Callable[[str], bytes] = download,
) -> bool:
    """Install the files into `dest`; False when they were already there. All or nothing:
    every tarball is verified before any is unpacked, and `dest` is replaced in one rename."""
    if is_current(dest, packages=packages):
        return False
    verified = []
    for package in packages:
        data = get(tarball_url(package, registry=registry))
        try:
            verify_integrity(data, integrity=package.integrity)
        except AssetError as error:
            raise AssetError(f"{package.folder}: {error}; nothing was installed") from error
        verified.append((package, data))
    _refuse_foreign_directory(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        for package, data in verified:
            extract_files(data, package=package, into=staging)
        (staging / STAMP_NAME).write_text(manifest_digest(packages) + "\n", encoding="utf-8")
        try:
            _replace_directory(dest, staging)
        except OSError:
            # A fetch running beside this one (two `make run` at once) may have won the race;
            # its files are the same pinned ones.
            if not is_current(dest, packages=packages):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


def _refuse_foreign_directory(dest: Path) -> None:
    # `dest` is replaced whole: never delete a directory that this command did not make.
    if dest.exists() and not (dest / STAMP_NAME).is_file() and any(dest.iterdir()):
        raise AssetError(f"{dest} is not empty and holds no {STAMP_NAME}: choose another --dest")


def _replace_directory(dest: Path, staging: Path) -> None:
    retired = dest.with_name(f".{dest.name}-old-{os.getpid()}")
    if dest.exists():
        dest.rename(retired)
    staging.rename(dest)
    shutil.rmtree(retired, ignore_errors=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m graphiql.assets",
        description="Install GraphiQL's pinned npm files (integrity-checked) for this server.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_parser = commands.add_parser("fetch", help="download, verify and extract the files")
    fetch_parser.add_argument(
        "--dest", type=Path, default=None, help="target directory (default: in this environment)"
    )
    fetch_parser.add_argument(
        "--registry",
        default=None,
        help="npm registry or mirror (default: $npm_config_registry, else the public registry)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    dest: Path = arguments.dest or default_destination()
    # An install-time tool, not the server: it follows npm's own variable for a mirror, as
    # npm would, and settings.py stays the server's only reader of the environment.
    registry: str = (
        arguments.registry
        or os.environ.get("npm_config_registry")  # noqa: SIM112 -- npm's own spelling
        or os.environ.get("NPM_CONFIG_REGISTRY")
        or DEFAULT_REGISTRY
    )
    try:
        fetched = fetch(load_manifest(), dest=dest, registry=registry)
    except AssetError as error:
        sys.stderr.write(f"graphiql assets: refused: {error}\n")
        return 1
    except OSError as error:
        sys.stderr.write(f"graphiql assets: cannot write {dest}: {error}\n")
        return 1
    state = "installed (sha512 verified)" if fetched else "already up to date"
    sys.stdout.write(f"graphiql assets: {state} in {dest}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
