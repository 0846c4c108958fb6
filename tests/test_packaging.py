"""The desktop build: the self-check, the Linux desktop files, the icons, and the frozen bundle.

The fast tests run everywhere and guard what a packager edits by hand (the .desktop file, the
AppStream metadata, the icon script, the ICU trimming rules). The ``packaging`` tests build the
real bundle with ``packaging/build.sh`` into temporary folders (never ``dist/`` or ``build/`` of
the checkout) and run the frozen program: the only way to know that PyInstaller found every
module imported by name, every Qt plugin and every data file. They take a minute or two and
run by default (CI included); deselect them locally with ``-m "not packaging"``.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from position_sync.app.paths import cli_command
from position_sync.self_check import ccxt_exchange_ids, named_imports

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
DESKTOP_FILE = PACKAGING / "linux" / "position-sync.desktop"
METAINFO = PACKAGING / "linux" / "io.github.position_sync.PositionSync.metainfo.xml"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
SIZE_BUDGET = 200_000_000  # bytes on disk of the unpacked bundle (200 MB since the ccxt exchanges)
BUILD_TIMEOUT = 30 * 60  # a cold build on two cores takes a few minutes
RUN_TIMEOUT = 180


def _load(name: str) -> ModuleType:
    """A module from packaging/ (a folder of scripts, not a package: its name is PyPI's ``packaging``)."""
    spec = importlib.util.spec_from_file_location(f"_packaging_{name}", PACKAGING / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _offscreen_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", **extra}


# -- fast: always run --------------------------------------------------------------------------


def test_self_check_passes_from_the_checkout() -> None:
    result = subprocess.run(
        [*cli_command(), "--self-check"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env=_offscreen_env(),
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-check passed" in result.stdout
    assert "FAILED" not in result.stdout


def _desktop_entry() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(DESKTOP_FILE, encoding="utf-8")
    return parser


def test_desktop_file_has_the_keys_a_menu_needs() -> None:
    entry = _desktop_entry()["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Position Sync"
    assert entry["Exec"] == "position-sync"  # install.sh makes it absolute when it installs
    assert entry["TryExec"] == "position-sync"
    assert entry["Icon"] == "position-sync"  # make_icons.ICON_NAME
    assert entry["Terminal"] == "false"
    assert entry["Categories"] == "Office;Finance;"
    assert entry["Comment"]
    # The window sets QGuiApplication.setDesktopFileName("position-sync"): the Wayland app id.
    assert DESKTOP_FILE.stem == "position-sync"
    assert entry["StartupWMClass"] == "position-sync"
    for action in entry["Actions"].rstrip(";").split(";"):
        assert _desktop_entry()[f"Desktop Action {action}"]["Exec"].startswith("position-sync ")


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_file_validates() -> None:
    result = subprocess.run(["desktop-file-validate", str(DESKTOP_FILE)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_metainfo_names_the_app_and_this_version() -> None:
    root = ET.parse(METAINFO).getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == "io.github.position_sync.PositionSync"
    assert root.findtext("name") == "Position Sync"
    assert root.findtext("summary")
    assert root.findtext("metadata_license") and root.findtext("project_license") == "MIT"
    launchable = root.find("launchable")
    assert launchable is not None and launchable.get("type") == "desktop-id"
    assert launchable.text == DESKTOP_FILE.name
    assert root.findtext("icon") == "position-sync"
    releases = root.findall("releases/release")
    assert releases, "the metainfo lists no release"
    assert releases[0].get("version") == VERSION, "add a <release> for the version in pyproject.toml"


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream not installed")
def test_metainfo_validates() -> None:
    result = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(METAINFO)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_make_icons_renders_every_size(tmp_path: Path) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QImage

    make_icons = _load("make_icons")
    written = make_icons.make_icons(tmp_path)
    assert len(written) == len(make_icons.SIZES) == 8
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        path = tmp_path / "hicolor" / f"{size}x{size}" / "apps" / "position-sync.png"
        assert path in written
        image = QImage(str(path))
        assert (image.width(), image.height()) == (size, size), path
        assert image.hasAlphaChannel()
        colours = {image.pixel(x, y) for x in range(size) for y in range(size)}
        opaque = [x for x in range(size) if image.pixelColor(x, size // 2).alpha() == 255]
        assert len(colours) >= 3 and opaque, f"{path} is blank"
        assert image.pixelColor(0, 0).alpha() == 0, "the rounded corner should stay transparent"
    assert (tmp_path / "hicolor" / "scalable" / "apps" / "position-sync.svg").is_file()


def _package(items: list[tuple[str, bytes]]) -> bytes:
    """A minimal ICU common data package ("CmnD"), laid out the way icupkg writes one."""
    header = bytearray(32)
    struct.pack_into("<H", header, 0, len(header))
    header[2:4] = b"\xda\x27"
    struct.pack_into("<HH", header, 4, 20, 0)  # UDataInfo size, reserved
    header[8:12] = bytes([0, 0, 2, 0])  # little-endian, ASCII, sizeof(UChar), reserved
    header[12:16] = b"CmnD"
    header[16:20] = bytes([1, 0, 0, 0])
    names = b"".join(n.encode() + b"\0" for n, _ in items)
    table_size = 4 + 8 * len(items)
    data_at = table_size + len(names)
    data_at += -(len(header) + data_at) % 16
    table = bytearray(struct.pack("<I", len(items)))
    body = bytearray()
    name_at = table_size
    for name, data in items:
        table += struct.pack("<II", name_at, data_at + len(body))
        name_at += len(name) + 1
        body += data + b"\0" * (-len(data) % 16)
    gap = b"\0" * (data_at - table_size - len(names))
    return bytes(header) + bytes(table) + names + gap + bytes(body)


def test_icu_trimming_keeps_root_english_and_shared_data() -> None:
    tools = _load("bundle_tools")
    keep = tools.keep_icu_item
    for name in ("root.res", "en.res", "en_IN.res", "pool.res", "res_index.res", "zoneinfo64.res",
                 "coll/root.res", "coll/ucadata.icu", "zone/en_GB.res", "cnvalias.icu", "brkitr/word.brk",
                 "windows-1252-2000.cnv", "supplementalData.res"):  # fmt: skip
        assert keep(f"icudt73l/{name}", 1000), name
    for name in ("de.res", "de_.res", "coll/de__PHONEBOOK.res", "zone/sr_Latn_BA.res", "es_419.res",
                 "brkitr/thaidict.dict", "translit/root.res", "confusables.cfu"):  # fmt: skip
        assert not keep(f"icudt73l/{name}", 1000), name
    assert not keep("icudt73l/gb18030.cnv", 200_000)


def test_icu_package_rebuild_keeps_chosen_items_intact() -> None:
    tools = _load("bundle_tools")
    items = [
        ("icudt73l/a.cnv", b"A" * 40_000),
        ("icudt73l/big.cnv", b"B" * 70_000),
        ("icudt73l/de.res", b"german"),
        ("icudt73l/en.res", b"english!" * 3),
        ("icudt73l/small-on-big.cnv", b"extension of icudt73l/big base table big"),
        ("icudt73l/zoneinfo64.res", b"zones" * 7),
    ]
    rebuilt = tools.rebuild_package(_package(items), tools.keep_icu_item)
    header_size, kept = tools._items(rebuilt)
    assert header_size == 32
    names = [name for name, _ in kept]
    # de.res is another locale; big.cnv is a large code page; small-on-big.cnv names its dropped base.
    assert names == ["icudt73l/a.cnv", "icudt73l/en.res", "icudt73l/zoneinfo64.res"]
    original = dict(items)
    for name, data in kept:
        assert data.rstrip(b"\0") == original[name].rstrip(b"\0")
    count = struct.unpack_from("<I", rebuilt, header_size)[0]
    offsets = [struct.unpack_from("<II", rebuilt, header_size + 4 + 8 * i)[1] for i in range(count)]
    assert all((header_size + offset) % 16 == 0 for offset in offsets), "ICU items must be 16-byte aligned"


def test_qtopengl_stand_in_fails_only_when_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))  # the hook installs a finder
    hook = _load("pyi_rth_qtopengl")
    finder = hook._Finder()
    assert finder.find_spec("PySide6.QtWidgets", None) is None
    spec = finder.find_spec("PySide6.QtOpenGL", None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    assert module.__name__ == "PySide6.QtOpenGL"
    with pytest.raises(AttributeError, match="not in the Position Sync desktop build"):
        _ = module.QOpenGLBuffer
    assert not hasattr(module, "QOpenGLTexture")


def _covered(name: str, excludes: tuple[str, ...]) -> bool:
    return any(name == e or name.startswith(e + ".") for e in excludes)


def test_lean_ccxt_keeps_one_exchange_and_excludes_every_other() -> None:
    lean = _load("lean_ccxt")
    selection = lean.select(["position_sync.brokers.simulated", "ccxt.async_support.binanceusdm"], ROOT)
    # binanceusdm is a binance: the parent class and both abstract APIs come with it.
    assert {
        "ccxt.async_support.binanceusdm",
        "ccxt.async_support.binance",
        "ccxt.abstract.binanceusdm",
        "ccxt.abstract.binance",
        "ccxt.async_support.base.exchange",
        "ccxt.base.exchange",
        "ccxt.base.errors",
    } <= selection.kept
    for other in ("ccxt.kraken", "ccxt.binance", "ccxt.async_support.kraken", "ccxt.async_support.bybit",
                  "ccxt.abstract.kraken", "ccxt.pro.binance", "ccxt.test", "ccxt.static_dependencies.msgpack"):  # fmt: skip
        assert other not in selection.kept and _covered(other, selection.excludes), other
    installed = lean.installed_modules()
    assert len(installed) > 500  # ccxt 4.5 has ~750 modules; a broken walk would prove nothing
    assert not [m for m in selection.kept if _covered(m, selection.excludes)]
    assert not [m for m in installed if m not in selection.kept and not _covered(m, selection.excludes)]
    # Without a ccxt exchange registered, none of ccxt is shipped.
    assert lean.select(["position_sync.brokers.simulated"], ROOT).excludes == ("ccxt",)


def test_client_extras_a_broker_names_are_not_excluded() -> None:
    lean = _load("lean_ccxt")
    extras = ["uvloop", "coincurve", "zlib_ng"]
    assert lean.unless_named(extras, ["ccxt.async_support.bybit"]) == extras
    assert lean.unless_named(extras, ["coincurve", "zlib_ng.zlib_ng"]) == ["uvloop"]


# -- slow: the real frozen bundle ---------------------------------------------------------------


@dataclass(frozen=True)
class Build:
    dist: Path
    bundle: Path
    tarball: Path
    log: str


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Build]:
    """One build for all the packaging tests, in temporary folders; the checkout stays clean."""
    if not sys.platform.startswith("linux"):
        pytest.skip("packaging/build.sh builds the Linux bundle")
    before = {name: (ROOT / name).exists() for name in ("dist", "build")}
    base = tmp_path_factory.mktemp("bundle")
    dist, work = base / "dist", base / "work"
    result = subprocess.run(
        [str(PACKAGING / "build.sh"), "--dist", str(dist), "--work", str(work)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        env={**os.environ, "PYTHON": sys.executable},
        cwd=ROOT,
        check=False,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    for name, existed in before.items():
        assert existed or not (ROOT / name).exists(), f"the build wrote {name}/ into the checkout"
    arch = os.uname().machine
    yield Build(dist, dist / "position-sync", dist / f"position-sync-{VERSION}-linux-{arch}.tar.gz", log)
    shutil.rmtree(base, ignore_errors=True)  # ~350 MB with the work folder


def _run(build: Build, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(build.bundle / "position-sync"), *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env={**os.environ, **env},
        cwd=build.dist,
        check=False,
    )


@pytest.mark.packaging
def test_frozen_version_is_the_package_version(build: Build) -> None:
    result = _run(build, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"position-sync {VERSION}"


@pytest.mark.packaging
def test_frozen_self_check_passes(build: Build) -> None:
    # No QT_QPA_PLATFORM from the test environment: the self-check must choose offscreen itself.
    env = {key: value for key, value in os.environ.items() if key != "QT_QPA_PLATFORM"}
    result = subprocess.run(
        [str(build.bundle / "position-sync"), "--self-check"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env=env,
        cwd=build.dist,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "frozen build in" in result.stdout
    assert "self-check passed" in result.stdout
    # Each exchange's class built through ccxt_import from the lean bundle, not merely imported.
    for exchange_id in ccxt_exchange_ids(named_imports()):
        assert f"{exchange_id} (ccxt.async_support.{exchange_id})" in result.stdout, exchange_id


@pytest.mark.packaging
def test_frozen_bundle_fits_the_size_budget(build: Build) -> None:
    size = _load("bundle_tools").disk_usage(build.bundle)
    assert size < SIZE_BUDGET, (
        f"the bundle takes {size / 1e6:.1f} MB on disk, over {SIZE_BUDGET / 1e6:.0f} MB"
    )


def _bundled_modules(build: Build) -> set[str]:
    """The Python modules in the frozen program's archive (PYZ), read the way its bootloader does."""
    from PyInstaller.archive.readers import CArchiveReader

    archive = CArchiveReader(str(build.bundle / "position-sync")).open_embedded_archive("PYZ.pyz")
    return set(archive.toc)


@pytest.mark.packaging
def test_frozen_bundle_ships_only_the_registered_exchanges(build: Build) -> None:
    modules = _bundled_modules(build)
    named = named_imports()
    ids = ccxt_exchange_ids(named)
    assert "binanceusdm" in ids and "bybit" in ids, ids
    for exchange_id in ids:
        assert f"ccxt.async_support.{exchange_id}" in modules, exchange_id
        assert f"ccxt.abstract.{exchange_id}" in modules, exchange_id
    for other in ("ccxt.async_support.kraken", "ccxt.kraken", "ccxt.binance", "ccxt.abstract.kraken",
                  "ccxt.pro", "ccxt.pro.binance", "ccxt.test"):  # fmt: skip
        assert other not in modules, other
    # Nothing but what lean_ccxt allowed (the exchanges' import closure and ccxt's base packages;
    # PyInstaller takes those of them its analysis reaches), and at most a few dozen modules.
    shipped = {m for m in modules if m == "ccxt" or m.startswith("ccxt.")}
    assert shipped <= set(_load("lean_ccxt").select(named, ROOT).kept), shipped
    assert {"ccxt.base.exchange", "ccxt.async_support.base.exchange", "ccxt.base.errors"} <= shipped
    assert len(shipped) < 60, len(shipped)
    # The client extras the read-only adapters do not need; ccxt's JSON parser stays.
    for extra in ("uvloop", "coincurve", "zlib_ng", "aiohttp_fast_zlib", "pydantic", "pydantic_core"):
        assert extra not in modules, extra
        assert not (build.bundle / "_internal" / extra).exists(), extra
    assert {"aiohttp", "yarl", "orjson", "certifi"} <= modules


@pytest.mark.packaging
def test_tarball_holds_the_bundle_and_its_desktop_files(build: Build) -> None:
    with tarfile.open(build.tarball) as tar:
        names = set(tar.getnames())
    for name in (
        "position-sync/position-sync",
        "position-sync/install.sh",
        "position-sync/share/applications/position-sync.desktop",
        f"position-sync/share/metainfo/{METAINFO.name}",
        "position-sync/share/icons/hicolor/512x512/apps/position-sync.png",
        "position-sync/_internal/resources/icons/app.svg",
        "position-sync/_internal/app/store/migrations/env.py",
    ):
        assert name in names, name


@pytest.mark.packaging
def test_install_and_uninstall_for_a_user(build: Build, tmp_path: Path) -> None:
    home, data = tmp_path / "home", tmp_path / "data"
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(data)}
    install = [str(build.bundle / "install.sh")]
    subprocess.run(install, env=env, check=True, capture_output=True, timeout=RUN_TIMEOUT)
    opt = home / ".local" / "opt" / "position-sync"
    link = home / ".local" / "bin" / "position-sync"
    desktop = data / "applications" / "position-sync.desktop"
    assert link.resolve() == (opt / "position-sync").resolve()
    assert f"Exec={opt}/position-sync\n" in desktop.read_text()
    assert (data / "icons" / "hicolor" / "48x48" / "apps" / "position-sync.png").is_file()
    assert (data / "metainfo" / METAINFO.name).is_file()
    version = subprocess.run([str(link), "--version"], capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert version.stdout.strip() == f"position-sync {VERSION}"

    subprocess.run([*install, "--uninstall"], env=env, check=True, capture_output=True, timeout=RUN_TIMEOUT)
    assert not opt.exists() and not link.is_symlink() and not desktop.exists()
    assert not list((data / "icons").rglob("position-sync.*"))
