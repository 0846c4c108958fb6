"""Size work for the Linux one-folder build, called from ``position-sync.spec``.

PyInstaller's defaults give a ~265 MB folder for this app; the budget is 150 MB. Excluding the
Qt modules nobody imports is not enough with PySide6-Essentials (it ships few extras), so three
more things happen here, each with a reason the app can afford it:

* **Orphaned libraries.** Dropping a Qt plugin (the GTK 3 platform theme, say) does not drop the
  GTK, Cairo and Pango libraries PyInstaller collected for it; :func:`orphaned_libraries` finds
  the shared libraries no kept binary needs any more. Shipping a build machine's GTK stack is a
  liability anyway: it would meet the user's own GTK through the system's theme modules.
* **Debug symbols.** pyenv's ``libpython`` and ``lib-dynload`` modules and some wheels' Cython
  modules carry their symbol tables (~40 MB). :func:`strip_copy` strips copies of them, but never
  a library an auditwheel repair placed in a ``*.libs`` folder: those were rewritten by patchelf
  and ``strip`` corrupts them (numpy's OpenBLAS then fails to load).
* **ICU data.** Qt links ICU, whose data library holds 32 MB of locale data for ~860 locales,
  dictionaries for Thai/CJK word breaking, transliterators and East Asian code pages. Qt uses
  ICU only for collation, locale-aware case mapping, time-zone names and legacy text codecs (the
  only ICU functions ``libQt6Core`` imports); the app's interface is English. :func:`small_icu_data` keeps root and English, the locale-
  independent data and the single-byte code pages (like Node.js's "small-icu" build); any other
  locale falls back to root data, which ICU reports as a warning, not an error.

Only the standard library is used (the ELF reading is a few ``struct`` calls), plus ``strip``
and a C compiler when they are there; without them the step is skipped and says so.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

# (name in the bundle, source path, typecode): PyInstaller's TOC entries.
Entry = tuple[str, str, str]

_ELF_MAGIC = b"\x7fELF"
_SHT_SYMTAB = 2
_SHT_DYNSYM = 11
_SHT_DYNAMIC = 6
_DT_NEEDED = 1


@dataclass(frozen=True)
class _Section:
    name: str
    type: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int


def _sections(data: bytes) -> list[_Section] | None:
    """Section headers of a 64-bit little-endian ELF file; None for anything else."""
    if data[:4] != _ELF_MAGIC or data[4] != 2 or data[5] != 1:
        return None
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    if shoff == 0 or shnum == 0:
        return None
    raw = []
    for i in range(shnum):
        name, kind, _flags, addr, offset, size, link, _info, _align, entsize = struct.unpack_from(
            "<IIQQQQIIQQ", data, shoff + i * shentsize
        )
        raw.append((name, kind, addr, offset, size, link, entsize))
    names_at = raw[shstrndx][3]

    def name_of(index: int) -> str:
        start = names_at + index
        return data[start : data.index(b"\0", start)].decode("ascii", "replace")

    return [_Section(name_of(r[0]), *r[1:]) for r in raw]


def _read_elf(path: Path) -> tuple[bytes, list[_Section]] | None:
    try:
        with path.open("rb") as handle:
            if handle.read(4) != _ELF_MAGIC:
                return None
            data = _ELF_MAGIC + handle.read()
    except OSError:
        return None
    sections = _sections(data)
    return (data, sections) if sections is not None else None


def _string(data: bytes, table: _Section, index: int) -> str:
    start = table.offset + index
    return data[start : data.index(b"\0", start)].decode("ascii", "replace")


def needed_libraries(path: Path) -> list[str]:
    """The ``DT_NEEDED`` names of an ELF file (what the dynamic linker loads with it)."""
    elf = _read_elf(path)
    if elf is None:
        return []
    data, sections = elf
    dynamic = next((s for s in sections if s.type == _SHT_DYNAMIC), None)
    if dynamic is None:
        return []
    strings = sections[dynamic.link]
    names = []
    for offset in range(dynamic.offset, dynamic.offset + dynamic.size, 16):
        tag, value = struct.unpack_from("<qQ", data, offset)
        if tag == 0:
            break
        if tag == _DT_NEEDED:
            names.append(_string(data, strings, value))
    return names


def has_symbol_table(path: Path) -> bool:
    """True when ``path`` still carries a ``.symtab`` (or debug sections) that ``strip`` removes."""
    elf = _read_elf(path)
    return elf is not None and any(s.type == _SHT_SYMTAB or s.name.startswith(".debug_") for s in elf[1])


def _is_repaired_wheel_library(source: str) -> bool:
    """Libraries vendored by auditwheel (``numpy.libs/``, ``psycopg2_binary.libs/``)."""
    return any(part.endswith(".libs") for part in Path(source).parts)


def strip_copy(source: Path, target: Path, strip: str = "strip") -> bool:
    """Write a copy of ``source`` without symbols to ``target``; False if ``strip`` failed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
    result = subprocess.run([strip, "--strip-unneeded", str(target)], capture_output=True, check=False)
    if result.returncode != 0:
        target.unlink(missing_ok=True)
        return False
    return True


def strip_binaries(entries: list[Entry], workdir: Path) -> tuple[list[Entry], int]:
    """Point every strippable binary at a stripped copy in ``workdir``; returns bytes saved.

    Skips auditwheel-repaired libraries (see the module docstring) and files already stripped.
    Without a ``strip`` on PATH the entries come back unchanged.
    """
    strip = shutil.which("strip")
    if strip is None:
        print("bundle_tools: no strip on PATH; binaries keep their symbols")
        return entries, 0
    saved = 0
    result = []
    for dest, source, kind in entries:
        src = Path(source)
        strippable = kind in ("BINARY", "EXTENSION") and not _is_repaired_wheel_library(source)
        if strippable and has_symbol_table(src):
            target = workdir / "stripped" / dest
            if strip_copy(src, target, strip):
                saved += src.stat().st_size - target.stat().st_size
                result.append((dest, str(target), kind))
                continue
        result.append((dest, source, kind))
    return result, saved


def _is_dependency_library(dest: str) -> bool:
    """A plain shared library (``libfoo.so.1``), as opposed to a Python module or a Qt plugin."""
    path = Path(dest)
    if "plugins" in path.parts or ".cpython-" in path.name or ".abi3." in path.name:
        return False
    return path.name.startswith("lib") and ".so" in path.name and not path.name.startswith("libpython")


def orphaned_libraries(kept: list[Entry], collected: list[Entry]) -> set[str]:
    """Bundle names of shared libraries in ``kept`` that nothing kept needs any more.

    ``collected`` is everything the analysis found, before plugins were dropped. A library that
    nothing in ``collected`` links to was collected for ``ctypes`` (loaded by name at run time),
    so it is a root, like Python extension modules, Qt plugins and libpython; everything
    reachable from the roots through ``DT_NEEDED`` stays; the rest was only wanted by what was
    dropped.
    """
    by_name: dict[str, Entry] = {}
    for entry in kept:
        by_name.setdefault(Path(entry[0]).name, entry)
    binaries = ("BINARY", "EXTENSION")
    needs = {entry[0]: needed_libraries(Path(entry[1])) for entry in kept if entry[2] in binaries}
    linked = {
        name for entry in collected if entry[2] in binaries for name in needed_libraries(Path(entry[1]))
    }
    roots = [dest for dest in needs if not _is_dependency_library(dest) or Path(dest).name not in linked]
    reachable: set[str] = set()
    pending = list(roots)
    while pending:
        dest = pending.pop()
        if dest in reachable:
            continue
        reachable.add(dest)
        for name in needs.get(dest, []):
            found = by_name.get(name)
            if found is not None and found[0] not in reachable:
                pending.append(found[0])
    return {dest for dest in needs if _is_dependency_library(dest) and dest not in reachable}


# -- ICU ---------------------------------------------------------------------------------------

# A locale bundle's file name: language, optional script, optional region, optional variant.
# ``de_.res`` and ``de__PHONEBOOK.res`` (collation aliases) have an empty region.
_LOCALE = re.compile(r"^[a-z]{2,3}(_[A-Z][a-z]{3})?(_([A-Z]{2}|\d{3})?)?(_[A-Z0-9]+)*\.res$")
# Single-byte code pages are a few KB each; the tables above this are East Asian multi-byte ones.
_LARGE_CODEPAGE = 64 * 1024
_ALIGN = 16  # ICU wants every item of a common data package 16-byte aligned


def keep_icu_item(name: str, size: int) -> bool:
    """The "small ICU" rule: root and English, locale-independent data, single-byte code pages."""
    path = name.split("/", 1)[1] if "/" in name else name  # drop the "icudt73l/" package prefix
    tree, _, base = path.rpartition("/")
    if tree == "translit" or base.endswith(".dict"):
        return False  # transliterators and Thai/Lao/Khmer/Burmese/CJK word dictionaries
    if base.endswith(".cnv"):
        return size < _LARGE_CODEPAGE
    if base == "confusables.cfu":
        return False  # the spoof checker's data; Qt has no spoof checks
    if _LOCALE.match(base):
        return base == "en.res" or base.startswith("en_")
    return True  # root.res, pool.res, res_index.res, supplemental data, normalisation, properties


def _items(package: bytes) -> tuple[int, list[tuple[str, bytes]]]:
    """Header size and ``(name, data)`` items of an ICU common data package ("CmnD")."""
    header_size = struct.unpack_from("<H", package, 0)[0]
    if package[2:4] != b"\xda\x27" or package[12:16] != b"CmnD":
        raise ValueError("not an ICU common data package")
    if package[8] != 0:
        raise ValueError("big-endian ICU data is not supported")
    toc = header_size
    count = struct.unpack_from("<I", package, toc)[0]
    entries = [struct.unpack_from("<II", package, toc + 4 + 8 * i) for i in range(count)]
    items = []
    for i, (name_offset, data_offset) in enumerate(entries):
        start = toc + name_offset
        name = package[start : package.index(b"\0", start)].decode("ascii")
        end = toc + entries[i + 1][1] if i + 1 < count else len(package)
        items.append((name, package[toc + data_offset : end]))
    return header_size, items


def _without_broken_converters(kept: list[tuple[str, bytes]], dropped: set[str]) -> list[tuple[str, bytes]]:
    """Drop the small "extension-only" code pages whose base table was dropped.

    Such a table (``windows-936-2000.cnv`` on top of ``ibm-1386_P100-2001.cnv``) names its base
    table inside its data, which is how ``icupkg`` finds the dependency; the same test here.
    """
    missing = {Path(name).stem.encode("ascii") for name in dropped if name.endswith(".cnv")}
    while True:
        broken = {
            name for name, data in kept if name.endswith(".cnv") and any(base in data for base in missing)
        }
        if not broken:
            return kept
        kept = [(name, data) for name, data in kept if name not in broken]
        missing |= {Path(name).stem.encode("ascii") for name in broken}


def _pad(length: int) -> int:
    return -length % _ALIGN


def rebuild_package(package: bytes, keep: Callable[[str, int], bool]) -> bytes:
    """The same package with only the items ``keep`` accepts, laid out the way ``icupkg`` does.

    Names stay sorted (ICU finds items by binary search) and every item starts 16-byte aligned.
    """
    header_size, items = _items(package)
    kept = [(name, data) for name, data in items if keep(name, len(data))]
    kept = _without_broken_converters(kept, {name for name, _ in items} - {name for name, _ in kept})
    names = b"".join(name.encode("ascii") + b"\0" for name, _ in kept)
    toc_size = 4 + 8 * len(kept)
    names_offset = toc_size
    first_data = names_offset + len(names)
    first_data += _pad(header_size + first_data)
    toc = bytearray(struct.pack("<I", len(kept)))
    body = bytearray()
    name_at = names_offset
    data_at = first_data
    for name, data in kept:
        toc += struct.pack("<II", name_at, data_at)
        name_at += len(name) + 1
        body += data + b"\0" * _pad(len(data))
        data_at += len(data) + _pad(len(data))
    gap = b"\0" * (first_data - names_offset - len(names))
    return package[:header_size] + bytes(toc) + names + gap + bytes(body)


def _symbol(path: Path, pattern: re.Pattern[str]) -> tuple[str, bytes]:
    """Name and bytes of the first dynamic symbol matching ``pattern`` (the ICU data blob)."""
    elf = _read_elf(path)
    if elf is None:
        raise ValueError(f"{path} is not a 64-bit little-endian ELF file")
    data, sections = elf
    dynsym = next(s for s in sections if s.type == _SHT_DYNSYM)
    strings = sections[dynsym.link]
    for offset in range(dynsym.offset, dynsym.offset + dynsym.size, dynsym.entsize):
        name_index, _info, _other, shndx, value, size = struct.unpack_from("<IBBHQQ", data, offset)
        name = _string(data, strings, name_index)
        if pattern.fullmatch(name) and 0 < shndx < len(sections):
            section = sections[shndx]
            start = section.offset + value - section.addr
            return name, data[start : start + size]
    raise ValueError(f"no symbol matching {pattern.pattern} in {path}")


def small_icu_data(library: Path, workdir: Path, compiler: str | None = None) -> tuple[Path, int, int] | None:
    """Build a smaller ``libicudataNN`` in ``workdir``; returns (path, old size, new size).

    The library is nothing but one exported symbol, ``icudtNN_dat``, holding the data package;
    the new one exports the same symbol with the trimmed package (``.incbin`` in a one-line
    assembly file, linked with the C compiler) under the same soname. None, with a message, when
    there is no C compiler or the library is not laid out as expected: the build then ships the
    full ICU data (and fails the size budget, loudly).
    """
    cc = compiler or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        print("bundle_tools: no C compiler; ICU data kept whole")
        return None
    try:
        symbol, package = _symbol(library, re.compile(r"icudt\d+_dat"))
        small = rebuild_package(package, keep_icu_item)
    except (ValueError, StopIteration, struct.error) as exc:
        print(f"bundle_tools: {library.name} not understood ({exc}); ICU data kept whole")
        return None
    out_dir = workdir / "small-icu"
    out_dir.mkdir(parents=True, exist_ok=True)
    blob = out_dir / f"{symbol}.bin"
    blob.write_bytes(small)
    assembly = out_dir / "icudata.S"
    assembly.write_text(
        "\t.section .rodata\n"
        f"\t.globl {symbol}\n"
        f"\t.type {symbol}, @object\n"
        "\t.balign 16\n"
        f"{symbol}:\n"
        f'\t.incbin "{blob}"\n'
        f"\t.size {symbol}, . - {symbol}\n"
        '\t.section .note.GNU-stack,"",@progbits\n'
    )
    target = out_dir / library.name
    subprocess.run(
        [cc, "-shared", "-nostdlib", f"-Wl,-soname,{library.name}", "-o", str(target), str(assembly)],
        check=True,
    )
    return target, library.stat().st_size, target.stat().st_size


def total_size(entries: Iterable[Entry]) -> int:
    """Bytes the entries' sources take (what COLLECT will copy)."""
    return sum(Path(source).stat().st_size for _, source, _ in entries if Path(source).is_file())


def disk_usage(folder: Path) -> int:
    """Bytes ``folder`` takes on disk, counted like ``du -s`` (blocks, each hard link once).

    On disk rather than the sum of file sizes: that is what the user's disk loses, and it is
    the larger of the two, so a budget checked with it holds either way.
    """
    seen: set[tuple[int, int]] = set()
    total = 0
    for path in [folder, *folder.rglob("*")]:
        info = path.lstat()
        key = (info.st_dev, info.st_ino)
        if key not in seen:
            seen.add(key)
            total += info.st_blocks * 512
    return total
