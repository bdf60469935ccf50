"""What a bench run measures: :class:`Settings`, the sections, the tasks and the ESN baselines."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Settings", "SECTIONS", "BENCH_TASKS", "READ_NOISE", "ESN_FSDD", "ESN_SERIES_GRID", "NOT_INSTALLED"]

SECTIONS = ("speed", "accuracy", "hardware")
#: Benchmark task name -> (workflow task, configuration overrides, label).
BENCH_TASKS: dict[str, tuple[str, dict, str]] = {
    "fsdd": ("fsdd", {}, "FSDD spoken digits"),
    "narma10": ("narma10", {}, "NARMA10"),
    "second-order": ("second-order", {}, "second-order system"),
    "henon": ("henon", {}, "Henon map"),
    "henon-noise": ("henon", {"reservoir": {"read_noise": 0.001}}, "Henon map, 0.1 % read noise"),
    "mackey-glass": ("mackey-glass", {}, "Mackey-Glass"),
}
#: Relative read noise of the "henon-noise" task; the ESN's states get the same (multiplicative) noise.
READ_NOISE = 0.001
#: ESN of the speech task (a fixed, common choice: 500 tanh units).
ESN_FSDD = {"units": 500, "sr": 0.9, "lr": 0.3, "input_scaling": 0.5}
#: ESN candidates of the time-series tasks; the one with the best validation NRMSE is used
#: (validated on the same rows, with the same lambda grid, as the reservoir's readout).
ESN_SERIES_GRID = (
    {"units": 200, "sr": 0.9, "lr": 0.3, "input_scaling": 0.5},
    {"units": 200, "sr": 0.95, "lr": 1.0, "input_scaling": 0.5},
    {"units": 500, "sr": 0.9, "lr": 1.0, "input_scaling": 0.2},
)
NOT_INSTALLED = "not installed"


@dataclass
class Settings:
    """What a bench run measures (the defaults are the full run; :meth:`quick` the test's)."""

    tasks: tuple[str, ...] = tuple(BENCH_TASKS)
    loso: bool = True
    fsdd_config: str | None = None        # FSDD configuration (default: the task's built-in one)
    loso_config: str | None = None        # configuration of the LOSO runs (default: fsdd_config)
    data: str | None = None               # FSDD folder
    esn: bool = True
    rtl: bool = True
    rtl_lanes: int = 8                    # capped at the largest power of two <= N
    rtl_sequences: int = 10               # FSDD test utterances simulated
    rtl_steps: int = 200                  # time-series test steps simulated
    boards: tuple[str, ...] = ("icebreaker", "ulx3s")
    lanes: tuple[int, ...] = (1,)
    hardware_source: str | None = None    # model or configuration built (default: fsdd model, else its config)
    speed_devices: int = 40
    speed_virtual: int = 10
    speed_batch: int = 256
    speed_frames: int = 43
    speed_repeats: int = 3
    esn_units_speed: int = 500
    rtl_speed_task: str = "fsdd"          # whose default configuration the RTL clocks/s are measured on
    rtl_speed_lanes: int = 8
    rtl_speed_sequences: int = 8
    rtl_speed_frames: int = 20
    quick: bool = False

    @classmethod
    def quick_settings(cls, **over) -> "Settings":
        """Small and fast: Henon only, no LOSO, no boards, a tiny speed run (the test's settings)."""
        base = dict(tasks=("henon",), loso=False, boards=(), rtl_lanes=1, rtl_steps=20, speed_devices=10,
                    speed_virtual=4, speed_batch=16, speed_frames=20, speed_repeats=1, esn_units_speed=100,
                    rtl_speed_task="henon", rtl_speed_lanes=1, rtl_speed_sequences=4, rtl_speed_frames=10,
                    quick=True)
        base.update(over)
        return cls(**base)

