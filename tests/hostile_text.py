"""Hostile text for the tests of student material: strings and byte strings a
student can put in a file name, a zip member's name, an exception message or
printed output, and zips built byte by byte (zipfile's writer cannot write a
name that is not what it says, nor two members with one name quietly).

    strings(200)                 # str: surrogates, controls, bidi, formulas, reserved names ...
    names(200)                   # bytes usable as one file name (no '/', no NUL)
    raw_zip([(name, data, flags)])   # the bytes of a zip holding exactly these members
"""
import random
import struct
import zipfile
import zlib

UTF8_FLAG = 0x800          # general purpose bit 11: the name is UTF-8
REGULAR_FILE = 0o100644 << 16

# Pieces that broke, or could break, something on the trusted side.
PIECES = ['\ud800', '\udcff', '\udfff\ud800', '\x1b[2J', '\x1b]0;owned\x07', '\x1b[31m', '\r', '\n',
          '\t', '\x00', '\x7f', '\x85', '\u202e', '\u2066', '\u200b', '\u2028', '\ufeff', '\ufffe',
          '\U000e0041', '\U0010ffff', '=', '+', '-', '@', '=HYPERLINK("http://evil")',
          "=cmd|' /C calc'!A0", 'scores.csv', 'SCORES.CSV', 'gradebook.db', 'feedback.html',
          'error.txt', '..', '.', '/', '\\', '%', '%25', '<script>alert(1)</script>', '&amp;',
          '"', "'", ',', ';', 'é', 'e\u0301', '中文', '\U0001f600', ' ', '\xa0', 'ada', 'A' * 300]
# Code points from the ranges where trouble lives: C0/C1 controls, surrogates,
# format and separator characters, private use, the last plane.
RANGES = [(0, 0x20), (0x7f, 0xa0), (0xd800, 0xdfff), (0x2000, 0x206f), (0xe000, 0xe0ff),
          (0xfff0, 0xffff), (0x10fff0, 0x10ffff), (0x20, 0x7e)]


def strings(n, seed=20):
    """The pieces one by one, then n random strings of pieces and odd code points."""
    rng = random.Random(seed)
    out = list(PIECES)
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 5)):
            if rng.random() < 0.5:
                parts.append(rng.choice(PIECES))
            else:
                low, high = rng.choice(RANGES)
                parts.append(''.join(chr(rng.randint(low, high)) for _ in range(rng.randint(1, 8))))
        out.append(''.join(parts))
    return out


def encoded(s):
    """s as bytes, lone surrogates and all (surrogatepass): what a hostile tool writes."""
    return s.encode('utf-8', 'surrogatepass')


def names(n, seed=20):
    """n distinct byte strings that can each name one file: hostile text encoded,
    and random bytes (mostly not UTF-8). No '/', no NUL, not '.' or '..', at most 200 bytes."""
    rng = random.Random(seed)
    pool = [encoded(s) for s in strings(n, seed)] + [rng.randbytes(rng.randint(1, 24)) for _ in range(n)]
    found = []
    for name in pool:
        name = name.replace(b'/', b'_').replace(b'\0', b'_')[:200]
        if name and name not in (b'.', b'..') and name not in found:
            found.append(name)
    rng.shuffle(found)
    return found[:n]


def raw_zip(members, comment=b''):
    """The bytes of a zip of members [(name: bytes, data: bytes, flag bits)],
    stored uncompressed, names exactly as given."""
    body, directory, offset = [], [], 0
    for name, data, flags in members:
        crc = zlib.crc32(data)
        directory += [struct.pack(zipfile.structCentralDir, zipfile.stringCentralDir, 20, 3, 20, 0,
                                  flags, 0, 0, 0x21, crc, len(data), len(data), len(name), 0, 0, 0,
                                  0, REGULAR_FILE, offset), name]
        body += [struct.pack(zipfile.structFileHeader, zipfile.stringFileHeader, 20, 0, flags, 0, 0,
                             0x21, crc, len(data), len(data), len(name), 0), name, data]
        offset += zipfile.sizeFileHeader + len(name) + len(data)
    body, directory = b''.join(body), b''.join(directory)
    count, zip64 = len(members), b''
    if count > 0xFFFF:              # more than a plain end record counts: zip64 end records
        zip64 = struct.pack(zipfile.structEndArchive64, zipfile.stringEndArchive64, 44, 45, 45,
                            0, 0, count, count, len(directory), len(body))
        zip64 += struct.pack(zipfile.structEndArchive64Locator, zipfile.stringEndArchive64Locator,
                             0, len(body) + len(directory), 1)
        count = 0xFFFF
    end = struct.pack(zipfile.structEndArchive, zipfile.stringEndArchive, 0, 0, count, count,
                      len(directory), len(body), len(comment))
    return body + directory + zip64 + end + comment


def zip64_claiming(members, directory_bytes):
    """A tiny zip whose zip64 end records announce `members` members in a
    central directory of `directory_bytes` bytes (its plain end record says
    0xFFFF: look in the zip64 one)."""
    record = struct.pack(zipfile.structEndArchive64, zipfile.stringEndArchive64, 44, 45, 45, 0, 0,
                         members, members, directory_bytes, 0)
    locator = struct.pack(zipfile.structEndArchive64Locator, zipfile.stringEndArchive64Locator,
                          0, 0, 1)
    end = struct.pack(zipfile.structEndArchive, zipfile.stringEndArchive, 0, 0, 0xFFFF, 0xFFFF,
                      0xFFFFFFFF, 0xFFFFFFFF, 0)
    return record + locator + end
