"""FOXSI formatter and WSMR telemetry frame layouts, kept as data.

A formatter frame is 256 16-bit words. It starts with the sync word 0xF628 and ends with
0xEB90; between them are the frame counter, a multiplexed housekeeping word, the status word
(HV), the SPARCS pitch/yaw words, one livetime word per detector and seven 33-word detector
blocks. The GSE (`.dat`) file is the stream of these frames as the ground-support PC wrote them;
the White Sands (WSMR, `.log`) file prefixes each frame with a 3-word (48-bit) time tag, so its
records are 259 words.

Every index below is a *word* index inside the 256-word formatter frame; the decoder and the
simulator both read them from here so the layout lives in exactly one place.
"""
from __future__ import annotations

from dataclasses import dataclass

WORD_BYTES = 2
FRAME_WORDS = 256
FRAME_BYTES = FRAME_WORDS * WORD_BYTES

SYNC_START = 0xF628  # word 0
SYNC_END = 0xEB90  # word 255

# Frame header words.
W_SYNC_START = 0
W_COUNTER_HI = 1  # frame counter, 32 bits, high word first
W_COUNTER_LO = 2
W_HK = 3  # one housekeeping channel per frame, channel = frame counter mod N_HK_CHANNELS
W_STATUS = 4  # bits 0-11: HV monitor (raw counts); bit 15: HV enabled
# Decision: the SPARCS fine pitch/yaw reach the formatter frame as two signed words sampled every
# frame (the flight recordings got them from the SPARCS/WSMR stream; carrying them in the frame
# keeps one file per flight). Scale (arcsec per count) is per flight config.
W_SPARCS_PITCH = 5  # int16, SPARCS fine-sensor pitch (raw counts; scale in the flight config)
W_SPARCS_YAW = 6  # int16, SPARCS fine-sensor yaw
W_LIVETIME0 = 7  # words 7..13: livetime counter of D0..D6 (live clock ticks during the frame)
W_DET0 = 14  # words 14..244: the seven detector blocks
N_DETECTORS = 7
# Words 245..253 are reserved (zero in flight; the checksum covers them).
W_RESERVED = (245, 254)
W_CHECKSUM = 254
W_SYNC_END = 255
# Decision: the checksum word is the sum of words 1..253 (frame counter to the last reserved
# word, i.e. everything between the sync words except the checksum itself) modulo 2**16, taken on
# the word values after byte-order correction. A sum (rather than an XOR) catches every single
# bit error and most bursts, and vectorises as one numpy reduction.
CHECKSUM_WORDS = slice(1, W_CHECKSUM)

STATUS_HV_MASK = 0x0FFF
STATUS_HV_ENABLED = 0x8000
# Decision: housekeeping is multiplexed over 8 channels by frame counter (channel = counter mod 8);
# the meaning and conversion of each channel is config (l1.housekeeping), not code.
N_HK_CHANNELS = 8

# Detector block: trigger time then four ASIC blocks. ASICs 0,1 are the n side, 2,3 the p side.
# Decision: one event per detector per frame (the formatter reads each detector's latest trigger
# once per frame); a detector with no trigger has an all-zero block. The FOXSI-2 CdTe detectors
# (D2, D3) are decoded with the same block layout as the Si detectors.
# Decision: side strip number = 64 * (ASIC - first ASIC of the side) + channel, so ASIC 0/2
# hold strips 0-63 and ASIC 1/3 strips 64-127 of their side; the p-side strip gives detector x,
# the n-side strip detector y (centre of strip 63.5 = detector centre).
DET_BLOCK_WORDS = 33
D_TRIGGER_TIME = 0
D_ASIC0 = 1
N_ASICS = 4
ASIC_WORDS = 8
A_MASK0 = 0  # 4 mask words: bit b of mask word k = channel 16k + b was read out
N_MASK_WORDS = 4
A_ADC0 = 4  # 3 ADC words: the read-out channels in ascending channel order, 10-bit ADC
N_READOUT = 3
A_COMMON_MODE = 7  # common-mode level of the ASIC for this event, 10-bit ADC
CHANNELS_PER_ASIC = 64
ADC_MAX = 1023
N_SIDE_STRIPS = 2 * CHANNELS_PER_ASIC
N_SIDE = (0, 1)  # ASICs on the n side
P_SIDE = (2, 3)  # ASICs on the p side


def det_word(det: int, offset: int) -> int:
    """Frame word index of `offset` inside detector block `det`."""
    return W_DET0 + det * DET_BLOCK_WORDS + offset


def asic_word(det: int, asic: int, offset: int) -> int:
    """Frame word index of `offset` inside ASIC `asic` of detector `det`."""
    return det_word(det, D_ASIC0 + asic * ASIC_WORDS + offset)


@dataclass(frozen=True)
class FileType:
    """How frames sit in one kind of telemetry file."""

    name: str
    suffix: str
    prefix_words: int  # words before the formatter frame in each record (WSMR time tag)
    default_byteorder: str  # what the recorder wrote; the decoder detects it anyway

    @property
    def record_words(self) -> int:
        return self.prefix_words + FRAME_WORDS

    @property
    def record_bytes(self) -> int:
        return self.record_words * WORD_BYTES


# Decision: the GSE PC wrote native little-endian words; the WSMR recorder wrote network
# (big-endian) order. Both are only defaults for the simulator: the decoder detects the order of
# every file from its sync words, so either file type in either order decodes.
GSE = FileType("gse", ".dat", prefix_words=0, default_byteorder="little")
# Decision: the WSMR time tag is three words *before* the formatter frame: microseconds since
# 00:00 UTC of the launch day, 48 bits, high word first. It is outside the formatter checksum.
WSMR = FileType("wsmr", ".log", prefix_words=3, default_byteorder="big")
FILE_TYPES = {".dat": GSE, ".log": WSMR}

# Kinds of bad frames the decoder counts (one variable and attribute each in every L0 product).
FAULT_KINDS = ("checksum", "bad_length", "sync_loss", "missing", "truncated")
FAULT_MEANINGS = {
    "checksum": "both sync words in place but the checksum word disagrees (bit errors)",
    "bad_length": "start sync found but the end sync is not 255 words later (bytes dropped or inserted)",
    "sync_loss": "bytes of a frame present between good frames but no start sync found",
    "missing": "frame counter skips with no bytes in between (frame never recorded)",
    "truncated": "the file ends inside a frame",
}


def file_type_for(path) -> FileType:
    from pathlib import Path

    from levelpipe.errors import FoxsiError

    suffix = Path(path).suffix.lower()
    if suffix not in FILE_TYPES:
        raise FoxsiError(f"unknown telemetry file type {suffix!r} (expected .dat GSE or .log WSMR)", path)
    return FILE_TYPES[suffix]
