"""Settings of the VZLUSAT-1 Timepix chain (config/vzlusat1.yaml): the one definition of its
keys, types, units and limits. The schema config/schemas/vzlusat1.schema.yaml is generated
from it."""
from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

import astropy.units as u
from pydantic import Field, field_validator, model_validator

from levelpipe.settings import Settings, Unit
from levelpipe.timepix.classes import CLASS_NAMES

TrackClass = Literal[tuple(CLASS_NAMES.values())]  # type: ignore[valid-type]


def _colormap(name: str) -> str:
    from matplotlib import colormaps  # only when a config is validated, not at import
    if name not in colormaps:
        raise ValueError(f"unknown matplotlib colormap {name!r}")
    return name


def _colour(value: str) -> str:
    from matplotlib.colors import to_rgb
    try:
        to_rgb(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a colour") from None
    return value


class L0Settings(Settings):
    assume_energy_mode_when_unknown: bool = Field(
        description="treat frames of unknown measurement mode (no metadata) as energy frames (flagged no_metadata)")


class ClassifierSettings(Settings):
    training_dir: str = Field(description="labelled layout the forest is trained on (workflow-relative)")
    seed: int = Field(description="random state of the forest")
    n_estimators: int = Field(ge=1)
    min_samples_leaf: int = Field(default=1, ge=1)
    max_features: Union[Literal["sqrt", "log2"], Annotated[float, Field(gt=0)]] = Field(
        default="sqrt", description="sklearn max_features ('sqrt', 'log2', an int or a fraction)")
    class_weight: Optional[Literal["balanced", "balanced_subsample"]] = Field(default=None)


class DoseSettings(Settings):
    pixel_pitch_um: Annotated[u.Quantity, Unit("um", gt=0)]
    pixels: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]] = Field(
        description="pixel rows, columns of the sensor")
    thickness_um: Annotated[u.Quantity, Unit("um", gt=0)]
    density_kg_m3: Annotated[u.Quantity, Unit("kg m-3", gt=0)] = Field(
        description="sensor density; 2329 is Si, 5850 reproduces the published maps")


class InterpolationSettings(Settings):
    method: Literal["gaussian_kernel", "none"] = Field(
        description="Gaussian-kernel (Nadaraya-Watson) field by great-circle distance; none = points only")
    length_scale_km: Annotated[u.Quantity, Unit("km", gt=0)] = Field(description="Gaussian sigma")
    max_distance_km: Annotated[u.Quantity, Unit("km", gt=0)] = Field(
        description="no field farther than this from any frame")
    grid_step_deg: Annotated[u.Quantity, Unit("deg", gt=0, le=90)] = Field(description="lat/lon grid step")


class ColourScale(Settings):
    log_scale: bool = Field(description="log scale (zero drawn at the lower end)")
    colormap: str = Field(description="matplotlib colormap name")
    vmin: Optional[float] = Field(default=None, description="lower limit (null: data range)")
    vmax: Optional[float] = Field(default=None, description="upper limit (null: data range)")

    @field_validator("colormap")
    @classmethod
    def _known_colormap(cls, v: str) -> str:
        return _colormap(v)


class CoastlineSettings(Settings):
    resolution: Literal["c", "l", "i"] = Field(description="GSHHS detail: crude, low, intermediate")
    min_area_km2: float = Field(ge=0, description="leave out smaller polygons (km2)")
    linewidth: float = Field(gt=0)
    color: str

    @field_validator("color")
    @classmethod
    def _known_colour(cls, v: str) -> str:
        return _colour(v)


class FigureSettings(Settings):
    width_in: float = Field(gt=0)
    height_in: float = Field(gt=0)
    dpi: int = Field(ge=10)


class MapsSettings(Settings):
    """World maps of L2 dose rate and per-class-set flux (levelpipe.timepix.maps)."""

    filter_sets: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+$")],
                      Annotated[list[TrackClass], Field(min_length=1)]] = Field(
        min_length=1, description="named sets of track classes; one flux map per set, summed over its classes")
    interpolation: InterpolationSettings
    dose_rate: ColourScale
    flux: ColourScale
    coastlines: CoastlineSettings
    figure: FigureSettings
    point_size: float = Field(gt=0, description="marker area of a frame (points**2)")
    field_alpha: float = Field(ge=0, le=1, description="opacity of the field under the points")

    @field_validator("filter_sets")
    @classmethod
    def _distinct(cls, sets):
        for name, classes in sets.items():
            if len(set(classes)) != len(classes):
                raise ValueError(f"filter set {name!r} lists a class twice")
        return sets


class BrowserSettings(Settings):
    """HTML frame browser per folder, frames loaded on demand (levelpipe.timepix.browser)."""

    batch_sizes: list[Annotated[int, Field(ge=1)]] = Field(
        min_length=1, description='choices of N for "sum N consecutive frames"')
    default_batch_size: int = Field(ge=1, description="initial N (one of batch_sizes)")
    colour_scale: Literal["log", "linear"] = Field(description="initial colour scale")
    colormap: str = Field(description="matplotlib colormap name")
    pixel_scale: int = Field(ge=1, le=8, description="screen pixels per detector pixel")
    background: str = Field(description="colour of empty pixels")
    frames_per_file: int = Field(ge=1, description="frames per batch file beside the page (loaded when viewed)")

    @field_validator("colormap")
    @classmethod
    def _known_colormap(cls, v: str) -> str:
        return _colormap(v)

    @field_validator("background")
    @classmethod
    def _known_colour(cls, v: str) -> str:
        return _colour(v)

    @model_validator(mode="after")
    def _default_is_a_choice(self):
        if len(set(self.batch_sizes)) != len(self.batch_sizes):
            raise ValueError("batch_sizes must be distinct")
        if self.default_batch_size not in self.batch_sizes:
            raise ValueError(f"default_batch_size {self.default_batch_size} is not one of batch_sizes "
                             f"{self.batch_sizes}")
        return self


class Vzlusat1Settings(Settings):
    """config/vzlusat1.yaml"""

    l0: L0Settings
    classifier: ClassifierSettings
    dose: DoseSettings
    maps: MapsSettings
    browser: BrowserSettings
