"""What each tool can be asked: one frozen dataclass per backend, built once by the command.

The command turns its Click options into one of these and hands it down unchanged; the
session records it in meta.json (`to_meta`) and the backend reads its fields to build the
command line. `tool_args()` is the part of the tool's argv that these options decide (the
fixed part, the output files and the workload's argv are the backend's), so a test can
state the exact flags each option gives without running a tool. A combination a tool
cannot take (a massif flag on memcheck) is refused here, in one line, before anything runs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from profiler.errors import BadInput, UsageProblem


@dataclass(frozen=True)
class ToolOptions:
    """Base: no option changes the command line."""

    def tool_args(self) -> list[str]:
        return []

    def check(self) -> None:
        """What can only be checked on this machine (a file named exists): BadInput if not."""

    def to_meta(self) -> dict:
        """The options set away from a neutral value, for meta.json (lists, not tuples)."""
        out = {}
        for k, v in asdict(self).items():
            if v is None or v is False or (isinstance(v, tuple | list) and not v):   # a threshold 0 is set
                continue
            out[k] = [str(x) for x in v] if isinstance(v, tuple) else v
        return out


@dataclass(frozen=True)
class HeaptrackOptions(ToolOptions):
    """heaptrack takes no option from memprof: it records every malloc/free with its stack."""


@dataclass(frozen=True)
class MemrayOptions(ToolOptions):
    native: bool = True                   # C/C++ stacks too: where libllama/libggml allocate
    trace_python_allocators: bool = False
    aggregate: bool = False               # a small file answering peak and at-exit only
    follow_fork: bool = False

    def tool_args(self) -> list[str]:
        flags = [("--native", self.native), ("--follow-fork", self.follow_fork),
                 ("--trace-python-allocators", self.trace_python_allocators), ("--aggregate", self.aggregate)]
        return [flag for flag, on in flags if on]


@dataclass(frozen=True)
class MassifOptions(ToolOptions):
    pages_as_heap: bool = False           # count mmap'd pages (the model files) too
    threshold: float | None = None        # % below which call-tree branches merge (massif: 1.0)

    def __post_init__(self):
        if self.threshold is not None and not 0 <= float(self.threshold) <= 100:
            raise UsageProblem(f"--threshold {self.threshold:g} is outside 0-100")

    def tool_args(self) -> list[str]:
        out = ["--pages-as-heap=yes"] if self.pages_as_heap else []
        if self.threshold is not None:
            out.append(f"--threshold={float(self.threshold):g}")
        return out


@dataclass(frozen=True)
class MemcheckOptions(ToolOptions):
    suppressions: tuple[str, ...] = ()    # the user's files, after the shipped ones
    default_suppressions: bool = True     # the shipped python.supp / ggml-init.supp
    gen_suppressions: bool = False        # a suppression in the XML for every record
    leak_timeline: bool = False           # a leak check through vgdb at every iteration boundary

    def __post_init__(self):
        object.__setattr__(self, "suppressions", tuple(str(s) for s in self.suppressions))

    def suppression_files(self) -> list[Path]:
        from profiler.backends import suppressions_dir

        d = suppressions_dir() if self.default_suppressions else None
        shipped = sorted(d.glob("*.supp")) if d else []
        return [p.resolve() for p in shipped] + [Path(s).resolve() for s in self.suppressions]

    def tool_args(self) -> list[str]:
        out = [f"--suppressions={p}" for p in self.suppression_files()]
        if self.gen_suppressions:
            out.append("--gen-suppressions=all")
        return out

    def check(self) -> None:
        for s in self.suppressions:
            if not Path(s).is_file():
                raise BadInput(f"{s}: no such suppression file")

    def to_meta(self) -> dict:
        out = super().to_meta()
        if self.default_suppressions:
            out.pop("default_suppressions")
        else:
            out["default_suppressions"] = False
        return out


BY_BACKEND = {"heaptrack": HeaptrackOptions, "memray": MemrayOptions, "massif": MassifOptions,
              "memcheck": MemcheckOptions}


def valgrind_options(tool: str, *, pages_as_heap: bool = False, threshold: float | None = None,
                     suppressions=(), no_default_suppressions: bool = False, gen_suppressions: bool = False,
                     leak_timeline: bool = False) -> MassifOptions | MemcheckOptions:
    """`memprof valgrind`'s flags as the options of `tool`; a flag of the other tool is refused."""
    if tool == "massif":
        if suppressions or no_default_suppressions or gen_suppressions:
            raise UsageProblem("--suppressions, --no-default-suppressions and --gen-suppressions are memcheck "
                               "options")
        return MassifOptions(pages_as_heap=pages_as_heap, threshold=threshold)
    if tool == "memcheck":
        if pages_as_heap or threshold is not None:
            raise UsageProblem("--pages-as-heap and --threshold are massif options")
        return MemcheckOptions(suppressions=tuple(suppressions), default_suppressions=not no_default_suppressions,
                               gen_suppressions=gen_suppressions, leak_timeline=leak_timeline)
    raise UsageProblem(f"unknown Valgrind tool {tool!r} (one of: massif, memcheck)")


def for_backend(name: str, options: ToolOptions | None) -> ToolOptions:
    """`options`, or the defaults of backend `name`; options of another tool are a bug in the caller."""
    kind = BY_BACKEND[name]
    if options is None:
        return kind()
    if not isinstance(options, kind):
        raise TypeError(f"{name} takes {kind.__name__}, not {type(options).__name__}")
    return options
