"""A device described like a datasheet: geometry, NAND timings, FTL policy, and an HDD baseline.

Config files are TOML with the tables ``[geometry]``, ``[timing]``, ``[ftl]`` and ``[hdd]``
(see ``devices/*.toml``); every key is optional and falls back to the defaults here. Units are
in the key names (``_us``, ``_mb_s``, ``_ms``); sizes are bytes or counts.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from bazaar.ftl._errors import FtlConfigError

GcPolicy = Literal["greedy", "cost-benefit", "fifo"]
WearLeveling = Literal["off", "dynamic", "static"]

#: Where the shipped device configs live (``bazaar ftl run tlc-nvme …`` finds them by name).
DEVICES_DIR = Path(__file__).with_name("devices")
_MAX_PAGES = 1 << 31  # far beyond what a simulation can hold in RAM; refuse, don't thrash


@dataclass(frozen=True)
class Geometry:
    """Channels x dies x planes x blocks x pages, and how much of it the host may address.

    The FTL stripes every erase unit across all planes of all dies of all channels (a
    *superblock*, as most controllers do): page ``j`` of a superblock lives on parallel unit
    ``j % units``, so consecutive writes keep every channel and die busy.
    """

    channels: int = 4
    dies_per_channel: int = 2
    planes_per_die: int = 1
    blocks_per_plane: int = 1024
    pages_per_block: int = 128
    page_size: int = 4096
    spare_factor: float = 0.07

    def __post_init__(self) -> None:
        for name in ("channels", "dies_per_channel", "planes_per_die", "blocks_per_plane",
                     "pages_per_block", "page_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise FtlConfigError(f"geometry.{name} must be a positive integer, got {value!r}")
        if not isinstance(self.spare_factor, int | float) or not 0 < self.spare_factor < 1:
            raise FtlConfigError(
                f"geometry.spare_factor must be in (0, 1), got {self.spare_factor!r}")
        if self.physical_pages > _MAX_PAGES:
            raise FtlConfigError(f"{self.physical_pages:,} physical pages is more than this "
                                 f"simulator holds (at most {_MAX_PAGES:,})")

    @property
    def units(self) -> int:
        """Parallel units: planes that can be busy at the same time."""
        return self.channels * self.dies_per_channel * self.planes_per_die

    @property
    def superblock_pages(self) -> int:
        """Pages per erase unit (one block from every plane): Np of the closed forms."""
        return self.units * self.pages_per_block

    @property
    def superblocks(self) -> int:
        return self.blocks_per_plane

    @property
    def physical_pages(self) -> int:
        return self.superblocks * self.superblock_pages

    @property
    def logical_pages(self) -> int:
        """Pages the host may address: physical x (1 - spare factor)."""
        return math.floor(self.physical_pages * (1 - self.spare_factor))

    def locate(self, ppn: int) -> tuple[int, int, int, int, int]:
        """Physical page → (channel, die, plane, block, page in block)."""
        if not 0 <= ppn < self.physical_pages:
            raise FtlConfigError(f"physical page {ppn} is outside the device")
        block, j = divmod(ppn, self.superblock_pages)
        page, unit = divmod(j, self.units)
        channel = unit % self.channels
        die = (unit // self.channels) % self.dies_per_channel
        plane = unit // (self.channels * self.dies_per_channel)
        return channel, die, plane, block, page


@dataclass(frozen=True)
class Timing:
    """NAND and interface timings (a TLC datasheet's order of magnitude by default)."""

    read_us: float = 60.0
    program_us: float = 700.0
    erase_us: float = 3500.0
    channel_mb_s: float = 800.0      # ONFI/Toggle bus per channel
    host_mb_s: float = 3500.0        # PCIe 3.0 x4; SATA is ~550
    controller_us: float = 2.0       # firmware time per host command
    write_buffer_pages: int = 1024   # embedded RAM for writes (0: write-through)
    idle_us: float = 1000.0          # no flash work for this long counts as idle (idle GC)
    map_cache_entries: int = 0       # mapping entries the RAM holds (0: the whole map)

    def __post_init__(self) -> None:
        for name in ("read_us", "program_us", "erase_us", "controller_us", "idle_us"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 <= value < 1e9:
                raise FtlConfigError(f"timing.{name} must be >= 0 microseconds, got {value!r}")
        for name in ("channel_mb_s", "host_mb_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value < 1e9:
                raise FtlConfigError(f"timing.{name} must be > 0 MB/s, got {value!r}")
        wb = self.write_buffer_pages
        if not isinstance(wb, int) or isinstance(wb, bool) or not 0 <= wb <= 1 << 24:
            raise FtlConfigError(f"timing.write_buffer_pages must be 0..2^24, got {wb!r}")
        mc = self.map_cache_entries
        if not isinstance(mc, int) or isinstance(mc, bool) or not 0 <= mc <= 1 << 40:
            raise FtlConfigError(f"timing.map_cache_entries must be 0..2^40, got {mc!r}")


@dataclass(frozen=True)
class FtlOptions:
    """Garbage collection and wear levelling policy."""

    gc_policy: GcPolicy = "greedy"
    gc_reserve: int = 2              # free superblocks kept back; GC runs below this
    wear_leveling: WearLeveling = "off"
    wl_threshold: int = 20           # static WL moves cold data past this erase-count spread
    idle_gc_units: int = 0           # when idle, collect until this many more units are free

    def __post_init__(self) -> None:
        if self.gc_policy not in get_args(GcPolicy):
            raise FtlConfigError(f"ftl.gc_policy must be one of {get_args(GcPolicy)}, "
                                 f"got {self.gc_policy!r}")
        if self.wear_leveling not in get_args(WearLeveling):
            raise FtlConfigError(f"ftl.wear_leveling must be one of {get_args(WearLeveling)}, "
                                 f"got {self.wear_leveling!r}")
        for name, low in (("gc_reserve", 1), ("wl_threshold", 1), ("idle_gc_units", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value < 1 << 20:
                raise FtlConfigError(f"ftl.{name} must be an integer >= {low}, got {value!r}")


@dataclass(frozen=True)
class HddConfig:
    """One head: seek (track-to-track .. full stroke, square-root law) + rotation + transfer."""

    rpm: float = 7200.0
    track_to_track_ms: float = 0.8
    full_stroke_ms: float = 16.0
    media_mb_s: float = 200.0
    track_bytes: int = 1 << 20       # bytes under the head per revolution

    def __post_init__(self) -> None:
        for name in ("rpm", "track_to_track_ms", "full_stroke_ms", "media_mb_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value < 1e9:
                raise FtlConfigError(f"hdd.{name} must be > 0, got {value!r}")
        if not isinstance(self.track_bytes, int) or self.track_bytes < 4096:
            raise FtlConfigError(f"hdd.track_bytes must be an integer >= 4096, "
                                 f"got {self.track_bytes!r}")


@dataclass(frozen=True)
class DeviceConfig:
    """Everything a simulation needs: the SSD, its FTL policy, and the HDD it is compared with."""

    name: str = "default"
    geometry: Geometry = field(default_factory=Geometry)
    timing: Timing = field(default_factory=Timing)
    ftl: FtlOptions = field(default_factory=FtlOptions)
    hdd: HddConfig = field(default_factory=HddConfig)

    def __post_init__(self) -> None:
        check_spare(self.geometry, self.ftl)

    @property
    def effective_spare_factor(self) -> float:
        """The spare factor of the erase units that can hold data: the GC reserve never does,
        so the closed forms are evaluated here (it matters at small spare factors)."""
        g = self.geometry
        return 1 - g.logical_pages / ((g.superblocks - self.ftl.gc_reserve) * g.superblock_pages)

    def replace(self, **sections: Any) -> DeviceConfig:
        """A copy with some fields of some sections changed: ``replace(geometry={...})``."""
        changes: dict[str, Any] = {}
        for section, values in sections.items():
            if section == "name":
                changes["name"] = values
                continue
            current = getattr(self, section, None)
            if current is None or not dataclasses.is_dataclass(current):
                raise FtlConfigError(f"no config section {section!r}")
            changes[section] = _section(type(current), current, values, section)
        return dataclasses.replace(self, **changes)


def check_spare(g: Geometry, options: FtlOptions) -> None:
    """Refuse a device whose spare space cannot keep GC going (it would hang, not run)."""
    reserve = options.gc_reserve
    needed = math.ceil(g.logical_pages / g.superblock_pages) + reserve + 2
    if g.superblocks < needed:
        raise FtlConfigError(
            f"spare factor {g.spare_factor} leaves too few spare erase units: "
            f"{g.superblocks} superblocks hold {g.logical_pages:,} logical pages only with "
            f"at least {needed} (GC reserve {reserve} + open block + 1); raise the spare "
            "factor or blocks_per_plane")


def _section(cls: type[Any], current: Any, values: dict[str, Any], section: str) -> Any:
    if not isinstance(values, dict):
        raise FtlConfigError(f"[{section}] must be a table")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise FtlConfigError(f"unknown key(s) in [{section}]: {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
    return dataclasses.replace(current, **values)


def load_config(source: str | Path) -> DeviceConfig:
    """A device from a TOML file, or a shipped device by name (``tlc-nvme``, ``sata-ssd``…)."""
    path = Path(source)
    if not path.is_file():
        named = DEVICES_DIR / f"{source}.toml"
        if not named.is_file():
            shipped = ", ".join(shipped_devices())
            raise FtlConfigError(f"no config file {str(source)!r} and no shipped device of "
                                 f"that name (shipped: {shipped})")
        path = named
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FtlConfigError(f"{path}: not valid TOML: {exc}") from exc
    name = data.pop("name", path.stem)
    if not isinstance(name, str):
        raise FtlConfigError(f"{path}: name must be a string")
    unknown = sorted(set(data) - {"geometry", "timing", "ftl", "hdd"})
    if unknown:
        raise FtlConfigError(f"{path}: unknown table(s) {', '.join(unknown)}")
    try:
        return DeviceConfig(name=name).replace(**data)
    except TypeError as exc:  # a wrong value type dataclasses could not even store
        raise FtlConfigError(f"{path}: {exc}") from exc


def shipped_devices() -> list[str]:
    """Names of the device configs shipped with the package."""
    return sorted(p.stem for p in DEVICES_DIR.glob("*.toml"))
