"""The engine's input: volunteers and tasks as parallel arrays, validated on construction.

An :class:`Instance` is what the database adapter produces and what the benchmark writes to
``instance.npz``. Index ``i`` of every ``volunteer_*`` array describes the same volunteer, index
``j`` of every ``task_*`` array the same task. Malformed input is refused with an
:class:`InstanceError` (a ``ValueError``) whose message starts with the offending field's name,
so a caller can point at the bad column instead of at the engine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .objective import MASK_BITS, NUM_SLOTS

#: The arrays the benchmark's ``instance.npz`` must hold (see docs/matching.md).
NPZ_FIELDS = (
    "volunteer_xy_km",
    "volunteer_skills",
    "volunteer_slots",
    "volunteer_cap",
    "volunteer_rating",
    "task_xy_km",
    "task_skills",
    "task_slot",
    "task_need",
    "task_urgency",
    "max_km",
)


class InstanceError(ValueError):
    """An input array is malformed; ``field`` names it and the message says what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


def _real(name: str, value: ArrayLike, shape: tuple[int, ...]) -> NDArray[np.float64]:
    arr = np.asarray(value)
    if arr.size == 0 and len(shape) == 2:
        # An empty list has shape (0,); accept it as "no rows" for (n, 2) coordinates.
        arr = arr.reshape(0, shape[1])
    if arr.dtype.kind not in "iuf":
        raise InstanceError(name, f"must hold real numbers, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise InstanceError(name, f"must have shape {shape}, got {arr.shape}")
    out = np.ascontiguousarray(arr, dtype=np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        first = np.argwhere(bad)[0]
        where = first[0] if out.ndim == 1 else tuple(int(x) for x in first)
        raise InstanceError(name, f"holds a non-finite value (NaN or infinity) at index {where}")
    return out


def _integer(
    name: str,
    value: ArrayLike,
    shape: tuple[int, ...],
    *,
    low: int,
    high: int | None = None,
    dtype: type[np.generic] = np.int64,
) -> NDArray[Any]:
    arr = np.asarray(value)
    if arr.size == 0:
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise InstanceError(name, f"must hold integers, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise InstanceError(name, f"must have shape {shape}, got {arr.shape}")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < low:
            raise InstanceError(name, f"must be >= {low}, found {lo}")
        if high is not None and hi > high:
            raise InstanceError(name, f"must be <= {high}, found {hi}")
    return np.ascontiguousarray(arr, dtype=dtype)


@dataclass(frozen=True, slots=True, eq=False)
class Instance:
    """One matching problem: n volunteers, m tasks, one travel limit.

    Required (the canonical benchmark format):
      volunteer_xy_km   (n, 2) float  position in projected kilometres
      volunteer_skills  (n,) uint32   bit k set = holds a *valid* qualification for skill k
      volunteer_slots   (n,) uint32   bit s set = free in weekly slot s (0 <= s < 21)
      volunteer_cap     (n,) int      most tasks per week
      volunteer_rating  (n,) float    average rating (3-5 in the benchmark)
      task_xy_km        (m, 2) float  where the task happens
      task_skills       (m,) uint32   skills every sent volunteer must hold
      task_slot         (m,) int      the weekly slot the task takes place in
      task_need         (m,) int      people needed
      task_urgency      (m,) float    urgency weight (1-3 in the benchmark)
      max_km            float         travel limit, Euclidean

    A volunteer's ``volunteer_slots`` must leave out the slots of tasks they already hold: the
    adapter that builds an instance from the database clears those bits (one task per slot).

    Optional (dispatch only; defaults leave the canonical problem unchanged):
      volunteer_load            (n,) int   tasks already held this week, counted against the cap
      volunteer_sanctioned      (n,) bool  barred from new tasks (e.g. a complaint under review)
      volunteer_expired_skills  (n,) uint32 skills whose qualification has lapsed; used only to
                                           explain an exclusion (eligibility reads
                                           ``volunteer_skills``, which must hold valid ones)
      task_preferred_volunteer  (m,) int   the volunteer who served this resident before, or -1
    """

    volunteer_xy_km: NDArray[np.float64]
    volunteer_skills: NDArray[np.uint32]
    volunteer_slots: NDArray[np.uint32]
    volunteer_cap: NDArray[np.int64]
    volunteer_rating: NDArray[np.float64]
    task_xy_km: NDArray[np.float64]
    task_skills: NDArray[np.uint32]
    task_slot: NDArray[np.int64]
    task_need: NDArray[np.int64]
    task_urgency: NDArray[np.float64]
    max_km: float
    volunteer_load: NDArray[np.int64] | None = None
    volunteer_sanctioned: NDArray[np.bool_] | None = None
    volunteer_expired_skills: NDArray[np.uint32] | None = None
    task_preferred_volunteer: NDArray[np.int64] | None = None

    def __post_init__(self) -> None:
        # Validate and coerce every array once, here, so the rest of the engine can trust
        # shapes, dtypes and ranges without re-checking.
        set_ = object.__setattr__
        xy = np.asarray(self.volunteer_xy_km)
        n = 0 if xy.size == 0 else (xy.shape[0] if xy.ndim >= 1 else -1)
        if n < 0:
            raise InstanceError("volunteer_xy_km", f"must have shape (n, 2), got {xy.shape}")
        txy = np.asarray(self.task_xy_km)
        m = 0 if txy.size == 0 else (txy.shape[0] if txy.ndim >= 1 else -1)
        if m < 0:
            raise InstanceError("task_xy_km", f"must have shape (m, 2), got {txy.shape}")
        mask_max = (1 << MASK_BITS) - 1
        set_(self, "volunteer_xy_km", _real("volunteer_xy_km", xy, (n, 2)))
        set_(
            self,
            "volunteer_skills",
            _integer(
                "volunteer_skills",
                self.volunteer_skills,
                (n,),
                low=0,
                high=mask_max,
                dtype=np.uint32,
            ),
        )
        set_(
            self,
            "volunteer_slots",
            _integer(
                "volunteer_slots",
                self.volunteer_slots,
                (n,),
                low=0,
                high=(1 << NUM_SLOTS) - 1,
                dtype=np.uint32,
            ),
        )
        set_(self, "volunteer_cap", _integer("volunteer_cap", self.volunteer_cap, (n,), low=0))
        rating = _real("volunteer_rating", self.volunteer_rating, (n,))
        set_(self, "volunteer_rating", rating)
        set_(self, "task_xy_km", _real("task_xy_km", txy, (m, 2)))
        set_(
            self,
            "task_skills",
            _integer("task_skills", self.task_skills, (m,), low=0, high=mask_max, dtype=np.uint32),
        )
        set_(
            self,
            "task_slot",
            _integer("task_slot", self.task_slot, (m,), low=0, high=NUM_SLOTS - 1),
        )
        set_(self, "task_need", _integer("task_need", self.task_need, (m,), low=0))
        urgency = _real("task_urgency", self.task_urgency, (m,))
        if urgency.size and urgency.min() < 0:
            raise InstanceError("task_urgency", f"must be >= 0, found {urgency.min()}")
        set_(self, "task_urgency", urgency)

        max_km = np.asarray(self.max_km)
        if max_km.size != 1 or max_km.dtype.kind not in "iuf":
            raise InstanceError("max_km", f"must be one real number, got {self.max_km!r}")
        max_km_f = float(max_km.reshape(()))
        if not np.isfinite(max_km_f) or max_km_f < 0:
            raise InstanceError("max_km", f"must be a finite number >= 0, got {max_km_f}")
        set_(self, "max_km", max_km_f)

        load = np.zeros(n, np.int64) if self.volunteer_load is None else self.volunteer_load
        set_(self, "volunteer_load", _integer("volunteer_load", load, (n,), low=0))
        sanctioned = (
            np.zeros(n, np.bool_)
            if self.volunteer_sanctioned is None
            else np.asarray(self.volunteer_sanctioned)
        )
        if sanctioned.size == 0:
            sanctioned = sanctioned.astype(np.bool_)
        if sanctioned.dtype.kind in "iu" and np.isin(sanctioned, (0, 1)).all():
            sanctioned = sanctioned.astype(np.bool_)
        if sanctioned.dtype.kind != "b":
            raise InstanceError(
                "volunteer_sanctioned", f"must be booleans (or 0/1), got dtype {sanctioned.dtype}"
            )
        if sanctioned.shape != (n,):
            raise InstanceError(
                "volunteer_sanctioned", f"must have shape {(n,)}, got {sanctioned.shape}"
            )
        set_(self, "volunteer_sanctioned", np.ascontiguousarray(sanctioned, dtype=np.bool_))
        expired = (
            np.zeros(n, np.uint32)
            if self.volunteer_expired_skills is None
            else self.volunteer_expired_skills
        )
        set_(
            self,
            "volunteer_expired_skills",
            _integer(
                "volunteer_expired_skills", expired, (n,), low=0, high=mask_max, dtype=np.uint32
            ),
        )
        preferred = (
            np.full(m, -1, np.int64)
            if self.task_preferred_volunteer is None
            else self.task_preferred_volunteer
        )
        set_(
            self,
            "task_preferred_volunteer",
            _integer("task_preferred_volunteer", preferred, (m,), low=-1, high=n - 1),
        )

    # The optional arrays are never None after __post_init__; these accessors say so to the
    # type checker without an assert at every use.
    @property
    def load(self) -> NDArray[np.int64]:
        """Tasks each volunteer already holds this week."""
        assert self.volunteer_load is not None
        return self.volunteer_load

    @property
    def sanctioned(self) -> NDArray[np.bool_]:
        """Volunteers barred from new tasks."""
        assert self.volunteer_sanctioned is not None
        return self.volunteer_sanctioned

    @property
    def expired_skills(self) -> NDArray[np.uint32]:
        """Skills each volunteer held but whose qualification has lapsed."""
        assert self.volunteer_expired_skills is not None
        return self.volunteer_expired_skills

    @property
    def preferred(self) -> NDArray[np.int64]:
        """Each task's preferred volunteer (continuity of care), or -1."""
        assert self.task_preferred_volunteer is not None
        return self.task_preferred_volunteer

    @property
    def n_volunteers(self) -> int:
        return int(self.volunteer_cap.shape[0])

    @property
    def n_tasks(self) -> int:
        return int(self.task_need.shape[0])

    @property
    def remaining_cap(self) -> NDArray[np.int64]:
        """How many more tasks each volunteer may take this week (cap minus load, at least 0)."""
        room: NDArray[np.int64] = np.maximum(self.volunteer_cap - self.load, 0)
        return room

    def subset(self, volunteers: NDArray[np.int64], tasks: NDArray[np.int64]) -> Instance:
        """The sub-problem on the given volunteers and tasks (indices into this instance).

        A preferred volunteer outside the subset becomes -1: that continuity cannot be served
        from this part of the map anyway.
        """
        remap = np.full(self.n_volunteers + 1, -1, np.int64)
        remap[volunteers] = np.arange(volunteers.size)
        preferred = remap[self.preferred[tasks]]  # -1 indexes the trailing -1 sentinel
        return Instance(
            volunteer_xy_km=self.volunteer_xy_km[volunteers],
            volunteer_skills=self.volunteer_skills[volunteers],
            volunteer_slots=self.volunteer_slots[volunteers],
            volunteer_cap=self.volunteer_cap[volunteers],
            volunteer_rating=self.volunteer_rating[volunteers],
            task_xy_km=self.task_xy_km[tasks],
            task_skills=self.task_skills[tasks],
            task_slot=self.task_slot[tasks],
            task_need=self.task_need[tasks],
            task_urgency=self.task_urgency[tasks],
            max_km=self.max_km,
            volunteer_load=self.load[volunteers],
            volunteer_sanctioned=self.sanctioned[volunteers],
            volunteer_expired_skills=self.expired_skills[volunteers],
            task_preferred_volunteer=preferred,
        )

    def with_load(self, load: NDArray[np.int64]) -> Instance:
        """The same instance with another current load (e.g. after a batch was dispatched)."""
        return replace(self, volunteer_load=load)

    def arrays(self) -> dict[str, NDArray[Any]]:
        """Every field as an array (``max_km`` as a 0-d float), for saving."""
        out: dict[str, NDArray[Any]] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = np.asarray(value)
        return out

    def save_npz(self, path: str | os.PathLike[str], *, canonical_only: bool = False) -> None:
        """Write the instance; with ``canonical_only`` just the benchmark's named arrays.

        Canonical types on disk: coordinates and ratings float64, masks uint32, counts int64,
        urgency int64 when every urgency is a whole number (as in the benchmark), max_km a
        0-d float64.
        """
        arrays = self.arrays()
        urgency = arrays["task_urgency"]
        if urgency.size == 0 or np.all(urgency == np.round(urgency)):
            arrays["task_urgency"] = urgency.astype(np.int64)
        if canonical_only:
            arrays = {k: arrays[k] for k in NPZ_FIELDS}
        np.savez(path, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load_npz(cls, path: str | os.PathLike[str]) -> Instance:
        """Read an instance written by :meth:`save_npz` (or by anyone following the format)."""
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in NPZ_FIELDS if k not in data.files]
            if missing:
                raise InstanceError(missing[0], "missing from the file")
            kwargs: dict[str, Any] = {k: data[k] for k in data.files if k in _FIELD_NAMES}
        return cls(**kwargs)


_FIELD_NAMES = frozenset(f.name for f in fields(Instance))
