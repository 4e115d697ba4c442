"""The Zarr store a reader hands to Zarr: only checked arrays, every chunk read checked."""

# See :mod:`animlib.arraymeta` for why. Imported only when arrays are opened (it imports Zarr).

from __future__ import annotations

from typing import Any

from zarr.abc.store import RangeByteRequest
from zarr.storage import WrapperStore

from .arraymeta import (
    STEPS_CODEC,
    ChunkRule,
    MissingChunk,
    check_array_meta,
    parse_array_meta,
    zstd_content_size,
)
from .errors import Code, RunFormatError
from .run_reads import RunReads

META = "zarr.json"
STEPS_MAGIC = b"AST1"  # animlib.stepcodec.MAGIC (not imported: that module imports numcodecs)


class CheckedStore(WrapperStore):
    """A read-only Zarr store over a run folder that serves only arrays opened with
    :meth:`open_array` (their zarr.json exactly as checked) and refuses chunks that are missing,
    too large, or whose zstd frame does not decode to exactly one chunk."""

    def __init__(
        self, store: Any, *, run: str = "", steps: int = 0, reads: RunReads | None = None
    ) -> None:
        super().__init__(store)
        self.run = run
        self.steps = steps
        self.reads = reads  # the run's chunks read before (object storage: one GET each)
        self.rules: dict[str, tuple[ChunkRule, bytes]] = {}

    def _with_store(self, store: Any) -> CheckedStore:
        other = type(self)(store, run=self.run, steps=self.steps, reads=self.reads)
        other.rules = self.rules
        return other

    def open_array(self, name: str, raw: bytes) -> Any:
        """The Zarr array ``name`` described by ``raw`` (its zarr.json, already read), after
        :func:`~animlib.arraymeta.check_array_meta`; RunFormatError if the check fails."""
        import zarr

        rule = check_array_meta(parse_array_meta(raw, self.run, name), self.run, name)
        self.rules[name] = (rule, raw)
        return zarr.open_array(store=self, path=name, mode="r", zarr_format=3)

    def _rule(self, key: str) -> tuple[ChunkRule, bytes, str] | None:
        for name, (rule, raw) in self.rules.items():
            if key.startswith(name + "/"):
                return rule, raw, key[len(name) + 1 :]
        return None

    def _refuse(self, rule: ChunkRule, key: str, message: str, code: Code) -> RunFormatError:
        return RunFormatError(message, run=self.run, field=rule.array, code=code)

    async def get(self, key: str, prototype: Any = None, byte_range: Any = None) -> Any:
        found = self._rule(key)
        if found is None:  # nothing else is served (no group metadata, no unchecked array)
            return None
        rule, raw, rel = found
        if rel == META:
            if prototype is None:
                from zarr.core.buffer import default_buffer_prototype

                prototype = default_buffer_prototype()
            return prototype.buffer.from_bytes(raw)
        if byte_range is not None:
            raise self._refuse(
                rule, rel, f"chunk {rel}: partial reads are not supported", Code.UNSUPPORTED
            )
        kept = self.reads.chunk(key) if self.reads is not None else None
        if kept is not None:
            buf = prototype.buffer.from_bytes(kept)
        else:
            buf = await self._store.get(key, prototype, RangeByteRequest(0, rule.max_stored + 1))
        if buf is None:
            gap = MissingChunk(rule.array, rel, rule.steps_of(rel, self.steps))
            raise self._refuse(rule, rel, gap.describe(), Code.MISSING)
        data = buf.to_bytes()
        if rule.codec == STEPS_CODEC:  # the codec decodes each frame into one step's bytes
            self._check_steps_chunk(rule, rel, data)
        else:
            declared = zstd_content_size(data[:32])
            if len(data) > rule.max_stored or declared != rule.nbytes:
                raise self._refuse(
                    rule, rel, self._wrong_size(rule, rel, len(data), declared), Code.CORRUPT
                )
        if kept is None and self.reads is not None:
            self.reads.keep_chunk(key, data)
        return buf

    def _check_steps_chunk(self, rule: ChunkRule, rel: str, data: bytes) -> None:
        """Refuse an ``animlib.steps`` chunk that is larger than its bound, does not start with
        the codec's magic, or holds fewer frames than run.json counts steps in it."""
        if len(data) > rule.max_stored:
            why = f"is larger than {rule.max_stored:,} bytes: too large for a chunk of this shape"
        elif len(data) < 8 or data[:4] != STEPS_MAGIC:
            why = f"is truncated or corrupt: not an {STEPS_CODEC} chunk"
        else:
            steps = rule.steps_of(rel, self.steps)
            held = int.from_bytes(data[4:8], "little")
            if steps is not None and steps[1] < self.steps and held < steps[1] - steps[0] + 1:
                gap = MissingChunk(rule.array, rel, (steps[0] + held, steps[1]))
                text = gap.describe().replace(" is missing", " is cut short")
                raise self._refuse(rule, rel, text, Code.MISSING)
            return
        text = f"{self._unreadable(rule, rel)} (chunk {rel} {why})"
        raise self._refuse(rule, rel, text, Code.CORRUPT)

    def _unreadable(self, rule: ChunkRule, rel: str) -> str:
        """``steps 4..7 cannot be read`` for the chunk ``rel`` (``cannot be read`` for
        ``original``)."""
        steps = rule.steps_of(rel, self.steps)
        if steps is None:
            return "cannot be read"
        if steps[0] == steps[1]:
            return f"step {steps[0]} cannot be read"
        return f"steps {steps[0]}..{steps[1]} cannot be read"

    def _wrong_size(self, rule: ChunkRule, rel: str, stored: int, declared: int | None) -> str:
        if declared is None:
            why = "is truncated or corrupt: not a zstd frame stating its size"
        elif declared == rule.nbytes:
            why = f"is larger than {rule.max_stored:,} bytes: too large for a chunk of this shape"
        else:
            what = "image" if rel.startswith("images/") else "array's"
            why = (
                f"decodes to {declared:,} bytes where the chunk shape needs {rule.nbytes:,}: the "
                f"{what} shape changed between steps, or the chunk comes from another run"
            )
        return f"{self._unreadable(rule, rel)} (chunk {rel} {why})"

    async def get_partial_values(self, prototype: Any, key_ranges: Any) -> list[Any]:
        return [await self.get(key, prototype, byte_range) for key, byte_range in key_ranges]

    async def exists(self, key: str) -> bool:
        found = self._rule(key)
        return found is not None and (found[2] == META or await self._store.exists(key))
