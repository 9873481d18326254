"""Which shared libraries a native extension needs that the dynamic loader cannot find.

Read from the ELF files, never loaded: an extension's dynamic section names the libraries it
links (`DT_NEEDED`) and where it looks for them (`DT_RPATH` / `DT_RUNPATH`), so a missing CANN
library is found without importing the extension or what it links (torch). Libraries bundled
in the extension's own package are followed to their own needs; system, torch and CANN libraries
are checked for presence only.
"""

from __future__ import annotations

import glob
import os
import struct
from collections.abc import Iterable
from typing import Union

StrPath = Union[str, "os.PathLike[str]"]  # os.path, not pathlib: this runs in every first decision

DT_NEEDED, DT_RPATH, DT_RUNPATH = 1, 15, 29
SHT_DYNAMIC = 6
LD_SO_CONF = "/etc/ld.so.conf"


def missing_libraries(extension: StrPath, package: StrPath) -> list[str]:
    """The libraries `extension` needs, directly or through libraries inside `package`, that are
    in none of the directories the dynamic loader searches; in the order they are first needed."""
    system_dirs = [*_split(os.environ.get("LD_LIBRARY_PATH", "")), *configured_dirs(), *default_dirs()]
    missing: list[str] = []
    seen: set[str] = set()
    inside = os.path.realpath(package) + os.sep
    pending = [os.fspath(extension)]
    while pending:
        current = pending.pop(0)
        needed, search = dynamic_section(current)
        for name in needed:
            if name in seen:
                continue
            seen.add(name)
            found = _find(name, [*search, *system_dirs])
            if found is None:
                missing.append(name)
            elif os.path.realpath(found).startswith(inside):
                pending.append(found)
    return missing


def dynamic_section(path: StrPath) -> tuple[list[str], list[str]]:
    """(`DT_NEEDED` names, `DT_RPATH` + `DT_RUNPATH` directories with `$ORIGIN` expanded) of an ELF file.

    Raises `ValueError` for a file that is not a well-formed ELF file.
    """
    try:
        entries, strings = _dynamic_entries(path)
    except (struct.error, IndexError) as exc:
        raise ValueError(f"{path} is not a well-formed ELF file ({exc})") from exc
    text = {value: strings[value:strings.index(b"\0", value)].decode() for tag, value in entries
            if tag in (DT_NEEDED, DT_RPATH, DT_RUNPATH)}
    origin = os.path.dirname(os.path.realpath(path))
    needed = [text[value] for tag, value in entries if tag == DT_NEEDED]
    search = [directory.replace("$ORIGIN", origin).replace("${ORIGIN}", origin)
              for tag, value in entries if tag in (DT_RPATH, DT_RUNPATH) for directory in _split(text[value])]
    return needed, search


def _dynamic_entries(path: StrPath) -> tuple[list[tuple[int, int]], bytes]:
    """The (tag, value) entries of the dynamic section and the string table they point into."""
    with open(path, "rb") as fh:
        ident = fh.read(16)
        if ident[:4] != b"\x7fELF":
            raise ValueError(f"{path} is not an ELF file")
        wide, order = ident[4] == 2, "<" if ident[5] == 1 else ">"
        fh.seek(0x28 if wide else 0x20)
        (section_offset,) = struct.unpack(order + ("Q" if wide else "I"), fh.read(8 if wide else 4))
        fh.seek(0x3A if wide else 0x2E)
        entry_size, count = struct.unpack(order + "HH", fh.read(4))
        layout = order + ("IIQQQQIIQQ" if wide else "IIIIIIIIII")
        sections = []
        for index in range(count):
            fh.seek(section_offset + index * entry_size)
            sections.append(struct.unpack(layout, fh.read(struct.calcsize(layout))))
        entries: list[tuple[int, int]] = []
        strings = b""
        for _, kind, _, _, offset, size, link, *_ in sections:
            if kind == SHT_DYNAMIC:
                fh.seek(offset)
                raw = fh.read(size)
                step = 16 if wide else 8
                layout = order + ("qQ" if wide else "iI")
                entries = [struct.unpack(layout, raw[i:i + step]) for i in range(0, size, step)]
                fh.seek(sections[link][4])
                strings = fh.read(sections[link][5])
    return entries, strings


def configured_dirs(conf: str = LD_SO_CONF) -> list[str]:
    """The directories of `/etc/ld.so.conf` and the files it includes (what `ld.so.cache` indexes)."""
    directories: list[str] = []
    try:
        with open(conf, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return directories
    for line in (line.split("#", 1)[0].strip() for line in lines):
        if line.startswith("include "):
            pattern = line.split(None, 1)[1]
            for included in sorted(glob.glob(os.path.join(os.path.dirname(conf), pattern))):
                directories += configured_dirs(included)
        elif line:
            directories.append(line)
    return directories


def default_dirs() -> list[str]:
    """The loader's built-in directories, with the multiarch ones of Debian-style systems."""
    triplet = f"{os.uname().machine}-linux-gnu"
    return ["/lib", "/usr/lib", "/lib64", "/usr/lib64", f"/lib/{triplet}", f"/usr/lib/{triplet}"]


def _find(name: str, directories: Iterable[str]) -> str | None:
    for directory in directories:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def _split(paths: str) -> list[str]:
    return [part for part in paths.split(":") if part]
