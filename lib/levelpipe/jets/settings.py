"""Settings of the Solar Jet Hunter chain (config/jets.yaml): the one definition of its keys,
types, units and limits. Every threshold a scientist may change lives here, with the section
of shared/research/jets.md it comes from in the field description."""
from __future__ import annotations

import datetime as _dt
from typing import Annotated, Any, Literal

import astropy.units as u
from pydantic import Field, field_validator, model_validator

from levelpipe.settings import Settings, Unit

Seconds = Annotated[u.Quantity, Unit("s", gt=0)]
Arcsec = Annotated[u.Quantity, Unit("arcsec")]
IsoTime = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")]


class RetrySettings(Settings):
    timeout_s: Seconds = Field(description="connect and read timeout of one HTTP request")
    retries: int = Field(ge=0, le=20, description="retries after a 5xx answer, a refused connection or a timeout")
    backoff_s: Annotated[u.Quantity, Unit("s", ge=0)] = Field(
        description="wait before the first retry; doubled before each further one")


class HekSettings(Settings):
    """§1.1-1.2: the HEK search and its paging."""

    query: bool = Field(description="true: the workflow asks HEK (network); false: it reads the bundled/given responses")
    base_url: str = Field(description="HEK search endpoint (§1.1: sunpy uses https://www.lmsal.com/hek/her)")
    event_type: str = Field(pattern=r"^[A-Za-z*]{2}(,[A-Za-z*]{2})*$", description="HEK event type, CJ = coronal jet")
    start: IsoTime = Field(description="start of the search window, UTC")
    end: IsoTime = Field(description="end of the search window, UTC")
    event_coordsys: Literal["helioprojective", "stonyhurst", "carrington"] = Field(
        description="coordinate system of the search box")
    box_arcsec: Annotated[u.Quantity, Unit("arcsec", shape=(4,))] = Field(
        description="search box x1, y1, x2, y2 (lower-left, upper-right)")
    result_limit: int = Field(ge=1, le=10000, description="page size sent as result_limit (§10 Q1)")
    max_pages: int = Field(ge=1, description="stop with an error after this many pages (a server that never says overmax=false)")
    max_response_bytes: int = Field(ge=1024, description="largest HEK page or response file read")
    channel_filter: int | None = Field(
        default=None, description="if set, ask only for reports of this AIA channel (param0=OBS_ChannelID, §10 Q3)")
    preferred_channel: int = Field(description="channel whose report gives an event's row when several exist (§10 Q3)")
    http: RetrySettings

    @field_validator("start", "end")
    @classmethod
    def _real_time(cls, value: str) -> str:
        _dt.datetime.fromisoformat(value)
        return value

    @model_validator(mode="after")
    def _ordered(self) -> "HekSettings":
        if self.end <= self.start:
            raise ValueError("hek.end must be after hek.start (a zero-length window asks nothing, §1.3)")
        x1, y1, x2, y2 = self.box_arcsec.value
        if x2 <= x1 or y2 <= y1:
            raise ValueError("hek.box_arcsec must be x1 < x2, y1 < y2")
        return self


class JsocSettings(Settings):
    """§2.2: JSOC export with im_patch."""

    fetch_url: str = Field(description="jsoc_fetch CGI (drms: http://jsoc.stanford.edu/cgi-bin/ajax/jsoc_fetch)")
    download_base_url: str = Field(description="prefix of export dir + filename (drms: http://jsoc.stanford.edu/)")
    series: str = Field(description="DRMS series of AIA EUV level 1")
    segment: str = Field(description="segment exported")
    notify: str = Field(description="e-mail registered at JSOC (required by exp_request)")
    poll_interval_s: Seconds = Field(description="wait between export-status requests when the server gives none")
    export_timeout_s: Seconds = Field(description="give up (one-line error) when an export is still pending after this")
    register_frames: bool = Field(description="im_patch r: register (rotate/rescale) server-side")
    nan_off_limb: bool = Field(description="im_patch c: NaN off-limb pixels")
    tracking: bool = Field(description="im_patch t = int(not tracking)")


class SswSettings(Settings):
    """§2.1: the LMSAL SSW cutout service (legacy)."""

    submit_url: str = Field(description="ssw_service_track_fov.sh")
    data_url: str = Field(description="parent of the job folders (JobID/ appended)")
    poll_interval_s: Seconds = Field(description="wait between job-page polls (the seed: 60 s)")
    job_timeout_s: Seconds = Field(description="give up when the job page lacks 'Per-Wave file lists' after this")


class CutoutSettings(Settings):
    """§2: cutout services (off by default: the default run uses the bundled cutouts)."""

    service: Literal["none", "jsoc", "ssw"] = Field(description="none: never download")
    wavelength_angstrom: Annotated[u.Quantity, Unit("angstrom", gt=0)] = Field(description="AIA channel")
    cadence_s: Seconds = Field(description="frame cadence asked for (§2.1: 24 s since 2021)")
    min_fov_arcsec: Annotated[u.Quantity, Unit("arcsec", gt=0)] = Field(
        description="smallest cutout side (§2.1: max(120 arcsec, bbox side))")
    max_file_bytes: int = Field(ge=2880, description="largest FITS file accepted from a server")
    max_frames: int = Field(ge=1, description="largest number of frames one event may request")
    http: RetrySettings
    jsoc: JsocSettings
    ssw: SswSettings


class FitsSettings(Settings):
    max_file_bytes: int = Field(ge=2880, description="largest cutout FITS file read")
    max_pixels: int = Field(ge=1, description="largest NAXIS1 x NAXIS2 of a cutout read")
    required_keys: list[str] = Field(description="header keys every cutout must have (WCS, time, wavelength)")


class ImageSettings(Settings):
    """§3.2-3.4: one PNG per FITS frame."""

    width_in: Annotated[float, Field(gt=0)] = Field(description="figure width (seed: matplotlib default 6.4)")
    height_in: Annotated[float, Field(gt=0)] = Field(description="figure height (seed: 4.8)")
    dpi: int = Field(ge=10, le=1200, description="dots per inch (seed: 300 -> 1920x1440 px)")
    asinh_a: float = Field(gt=0, description="AsinhStretch parameter (sunpy AIAMap default 0.01)")
    normalisation: Literal["frame", "subject"] = Field(
        description="frame: each frame its own min/max (the originals); subject: one range per subject (§10 Q7)")
    colormap: str = Field(description="'auto': sunpy's sdoaia<wavelength>; otherwise a registered colour map name")
    title_format: str = Field(description="strftime format of the title (seed: 'SDO-AIA   %Y-%b-%d %H:%M:%S')")
    legacy_half_pixel: bool = Field(
        description="true: the originals' PNG->FITS mapping (no -0.5, §3.4); false: pixel centres at integers")
    max_png_bytes: int = Field(ge=1024, description="panoptes-cli refuses files above 1 MiB (§3.2)")
    movie_fps: int = Field(ge=1, description="frames per second of the event movie (§3.3: 10)")
    movie_dpi: int = Field(ge=10, description="dpi of movie frames (§3.3: video subjects at 150)")
    movie_max_bytes: int = Field(ge=1024, description="largest MP4 (§3.3: 1,024,000 bytes)")
    movie_crf: int = Field(ge=0, le=51, description="first x264 CRF tried; raised by 1 until the movie fits (§3.3: 25)")


class SubjectSettings(Settings):
    """§4: Zooniverse subjects and manifests."""

    frames_per_subject: int = Field(ge=1, description="frames in one subject (Box the Jets: 15)")
    overlap: int = Field(ge=0, description="frames shared by adjacent subjects (paper: 2)")
    manifest_max_bytes: int = Field(ge=1024, description="largest manifest CSV (panoptes-cli reads files <= 1 MiB)")
    indexed: list[str] = Field(description="metadata keys written with '%' (indexed subject-set fields)")

    @model_validator(mode="after")
    def _overlap(self) -> "SubjectSettings":
        if self.overlap >= self.frames_per_subject:
            raise ValueError("subjects.overlap must be smaller than frames_per_subject")
        return self


class ClassificationSettings(Settings):
    """§5: the classification export."""

    max_file_bytes: int = Field(ge=1024, description="largest export CSV read")
    max_field_bytes: int = Field(ge=1024, description="largest single CSV cell (annotations, subject_data)")
    min_rows: int = Field(ge=0, description="fewer readable rows than this fails the import (a run that read nothing)")


class ReducerSettings(Settings):
    """One panoptes_aggregation reducer and its keywords."""

    reducer: str
    keywords: dict[str, Any] = Field(default_factory=dict)


class WorkflowSettings(Settings):
    """One Zooniverse workflow: its extractor config (as `panoptes_aggregation config` writes it)
    and the reducers of each extractor."""

    workflow_id: int
    version_min: str = Field(pattern=r"^\d+\.\d+$")
    version_max: str | None = Field(default=None, pattern=r"^\d+\.\d+$")
    extractor_config: dict[str, list[dict[str, Any]]]
    reducers: dict[str, ReducerSettings] = Field(description="extractor name -> reducer")
    question_task: str = Field(description="task whose answers give the subject's jet / no-jet vote (Tc)")
    yes_answers: list[str] = Field(description="slugs of the 'a jet is there' answers")
    start_point: list[str] = Field(description="point columns of start base points, <task>_tool<T>")
    end_point: list[str] = Field(description="point columns of end base points")
    box: list[str] = Field(description="rotateRectangle columns of jet boxes, <task>_tool<T>")


class AggregationSettings(Settings):
    """§6.1-6.2."""

    per_user: Literal["first", "last", "all"] = Field(
        description="which classifications of one user on one subject count (§6.2: 5.x -F is a no-op)")
    squash: Literal["last", "concatenate"] = Field(description="frame squashing (§10 Q10)")
    workflows: list[WorkflowSettings]


class CatalogueSettings(Settings):
    """§6.4-6.6: jets per subject, clusters across subjects, properties."""

    subject_step_s: Seconds = Field(description="time between subject starts used as time unit (§6.5: 312 s)")
    frame_cadence_s: Seconds = Field(description="cadence of the frames in a subject (§4.1: 24 s)")
    eps: float = Field(gt=0, description="cluster distance threshold (published 3.0)")
    time_eps: float = Field(gt=0, description="time threshold in subject steps (published 2.0)")
    box_weight: float = Field(ge=0, description="weight of 1-IoU in the distance (published 2)")
    min_box_iou: float = Field(ge=0, le=1, description="boxes of one subject merge above this IoU (§6.4: 0.1)")
    point_merge_factor: float = Field(gt=0, description="points merge within this x mean member distance (§6.4: 1.5)")
    min_box_confidence: float = Field(ge=0, lt=1, description="box clusters with a mean member IoU at or below this are not jets (§6.4: 1e-6)")
    min_start_spread_arcsec: Annotated[u.Quantity, Unit("arcsec", gt=0)] = Field(
        description="floor of a start point's spread in the cluster distance (a single-member cluster has 0)")
    majority: float = Field(gt=0, lt=1, description="subject answer 'yes' when its share of votes exceeds this (§8: 0.5)")
    short_duration_min: Annotated[u.Quantity, Unit("min", gt=0)] = Field(description="flag 1: shorter clusters (§6.6: 6 min)")
    far_side_lon_deg: Annotated[u.Quantity, Unit("deg", gt=0)] = Field(description="flag 3: |lon| above this (§6.6: 90)")
    km_per_arcsec: Annotated[u.Quantity, Unit("km", gt=0)] = Field(description="velocity conversion (§6.6: 725 km)")


class QuicklookSettings(Settings):
    width_in: Annotated[float, Field(gt=0)]
    height_in: Annotated[float, Field(gt=0)]
    dpi: int = Field(ge=10, le=600)
    box_color: str
    start_color: str
    end_color: str


class JetsSettings(Settings):
    """config/jets.yaml"""

    hek: HekSettings
    cutouts: CutoutSettings
    fits: FitsSettings
    images: ImageSettings
    subjects: SubjectSettings
    classifications: ClassificationSettings
    aggregation: AggregationSettings
    catalogue: CatalogueSettings
    quicklook: QuicklookSettings
