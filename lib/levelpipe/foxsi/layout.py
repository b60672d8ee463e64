"""The FOXSI formatter frame and WSMR record, as the decoder reads them.

Every position and packing rule here comes from ``../shared/research/foxsi.md`` (cited by
section); the notes in turn cite the FOXSI team's frame definition (FOXSITelemFrameD.xls), GSE
and IDL code. Positions are *formatter* word indices ``f`` (0..255); in a WSMR ``.log`` record the
formatter word ``f >= 1`` sits at record word ``f + 3`` (§1a.3).

The test simulator (``levelpipe.testing.foxsi_simulator``) does not import this module: it is a
second description of the same frame, written separately from the notes, so that a slip in
either one shows up as a disagreement.
"""
from __future__ import annotations

# §1a.1: 256 16-bit words, sync 2 at word 0, checksum at 254, sync 1 at 255.
FRAME_WORDS = 256
WORD_BYTES = 2
FRAME_BYTES = FRAME_WORDS * WORD_BYTES
SYNC_START = 0xF628
SYNC_END = 0xEB90
W_CHECKSUM = 254
W_SYNC_END = 255

# §1a.3: a WSMR record is F628, three ground-station (NSROC) words, then formatter words 1..255.
WSMR_RECORD_WORDS = FRAME_WORDS + 3
WSMR_PREFIX_WORDS = 3  # record words 1..3; formatter word f >= 1 is at record word f + 3

# §1a.6: 500 frames per second; the frame clock counts at 10 MHz.
FRAME_PERIOD_US = 2000.0
CLOCK_TICK_US = 0.1
CLOCK_HZ = 10_000_000

# §1b word map.
W_CLOCK = (1, 2, 3)  # 48 bits, most significant word first
W_COUNTER = (4, 5)  # 32 bits, high word first
W_HOUSEKEEPING = (6, 10, 14, 18)  # multiplexed by frame_counter & 3 (§1d.1)
W_COMMAND_COUNT = 7
W_COMMAND = (8, 9)  # the last command, 32 bits
W_FORMATTER_STATUS = 11  # bit 2: attenuator actuating
W_HV = 13  # bits 15..4 = 8 x volts, bits 3..0 = status (§1d.4)
W_DETECTOR_STATUS = (15, 16, 17, 19, 20, 21, 22)  # detector status 0..6
HEADER_WORDS = 23  # words 0..22 precede the detector blocks

FORMATTER_STATUS_ATTENUATOR = 1 << 2

# §1d.4: HV word.
HV_VALUE_SHIFT = 4
HV_COUNTS_PER_VOLT = 8
HV_STATUS_MASK = 0x000F
HV_STATUS_RAMP_UP = 1
HV_STATUS_RAMP_DOWN = 2
HV_STATUS_STABLE = 4

# §1c: detector d = 0..6 occupies words 23 + 33 d ... 55 + 33 d.
N_DETECTORS = 7
DET_BLOCK0 = 23
DET_BLOCK_WORDS = 33
D_TRIGGER_TIME = 0  # 16 LSBs of the 10 MHz clock at the trigger; 0 = no trigger
N_ASICS = 4
ASIC_WORDS = 8
A_MASK = 1  # + 8a: four channel-mask words (word k bit p = channel 16k + p)
N_MASK_WORDS = 4
A_STRIP = 5  # + 8a: strip words A, B, C
N_STRIP_WORDS = 3
A_COMMON_MODE = 8  # + 8a: strip word D = the ASIC's common mode, the whole word
STRIP_CHANNEL_SHIFT = 10  # strip word bits 15..10: ASIC channel 0..63
STRIP_ADC_MASK = 0x03FF  # strip word bits 9..0: ADC
CHANNELS_PER_ASIC = 64
MIDDLE_STRIP_WORD = 1  # strip word B: its channel is the L0 hit strip (§2a.2)
N_SIDE_ASICS = (0, 1)  # §1c: ASICs 0, 1 are the n side, 2, 3 the p side
P_SIDE_ASICS = (2, 3)
SIDES = ("n", "p")  # hit index [0] = n side, [1] = p side (§1c)
# §2a.4: a detector has an event in a frame when any of its first 32 block words is non-zero
# (all but ASIC 3's common mode).
EVENT_TEST_WORDS = 32

# §1d.1: housekeeping channel of word W_HOUSEKEEPING[k] in phase (frame_counter & 3) p.
# Unverified: the notes list the four channels of each phase without naming their words; they
# are taken in word order (f6, f10, f14, f18).
HOUSEKEEPING_PHASES = 4
HOUSEKEEPING_CHANNELS = (
    ("t_ref", "plus_5v", "minus_5v", "v3p3"),
    ("v1p5", "therm1", "therm2", "therm3"),
    ("therm4", "therm5", "therm6", "therm7"),
    ("therm8", "therm9", "therm10", "therm11"),
)
# §1d.2: raw values are 12-bit. Decision: the channel value is the word's 12 low bits (the raw
# word stays in L0); the notes do not say what, if anything, the upper 4 bits carry.
HOUSEKEEPING_RAW_MASK = 0x0FFF

# §1e: WSMR time words A, B, C (record words 1..3).
WSMR_SECONDS_HIGH_SHIFT = 15  # seconds = A + 65536 (B >> 15)
WSMR_MS_MASK = 0x03FF  # milliseconds = B & 0x3FF
WSMR_US_MASK = 0x03FF  # microseconds = C & 0x3FF


def det_word(det: int, offset: int) -> int:
    """Formatter word of `offset` inside the block of detector `det` (§1c)."""
    return DET_BLOCK0 + DET_BLOCK_WORDS * det + offset


def asic_offset(asic: int, what: int) -> int:
    """Block offset of field `what` (A_MASK, A_STRIP, A_COMMON_MODE) of ASIC `asic` (§1c)."""
    return what + ASIC_WORDS * asic


def record_word(kind: str, f: int) -> int:
    """Record word holding formatter word `f` in a file of `kind` ("gse" or "wsmr")."""
    return f + WSMR_PREFIX_WORDS if kind == "wsmr" and f >= 1 else f


# Record kinds by file suffix (§1a.2-3); the decoder takes the kind from the suffix.
SUFFIX_KIND = {".dat": "gse", ".log": "wsmr"}
RECORD_WORDS = {"gse": FRAME_WORDS, "wsmr": WSMR_RECORD_WORDS}

# Kinds of bad frames the decoder counts (bad_frames_<kind> in every product).
FAULT_KINDS = ("checksum", "bad_length", "sync_loss", "missing", "truncated", "duplicate")
FAULT_MEANINGS = {
    "checksum": "both sync words in place, XOR of the formatter words not 0 (bit errors)",
    "bad_length": "start sync in its place but the end sync not where the record length puts it "
                  "(bytes dropped or inserted)",
    "sync_loss": "a record's worth of bytes between good frames with no start sync",
    "missing": "frame-counter steps not accounted for by bytes in the file (frames never recorded)",
    "truncated": "a frame cut by the start or the end of the file",
    "duplicate": "an intact frame with the clock and counter of an earlier one (not kept twice)",
}
